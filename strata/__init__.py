"""strata's shared kernel: the root CLI, the user-facing error base and STRATA_HOME.

Nothing here imports a layer; layers import this and plug their commands in through the
``strata.commands`` entry-point group (see :mod:`strata.cli`).
"""

__version__ = "0.1.0"
