"""Customer regexes that cannot hang the gateway: compiled by the ``regex`` engine, probed, time-limited.

A guardrail's ``regexesConfig`` patterns come from tenants and run on every checked text. Python's
``re`` has no time limit, and a pattern like ``(a+)+$`` backtracks exponentially. So patterns
are compiled with the ``regex`` package (which also understands Java-style ``\\p{…}`` classes,
as AWS's patterns do), refused at configuration time when they nest unbounded quantifiers or
take too long on adversarial probes, and every match at run time carries a ``timeout``
(:data:`MATCH_TIMEOUT_S`): a match that runs out of time is reported, never waited out.
"""

from __future__ import annotations

import functools

import regex

MATCH_TIMEOUT_S = 0.05  # per pattern and text: a 1 KB text takes microseconds for a sane pattern
_PROBE_TIMEOUT_S = 0.05
# Inputs that make backtracking patterns explode: long runs of one character with a mismatch at the end.
_PROBES = tuple(c * 4096 + tail for c in ("a", "0", " ", "x", "-", ".") for tail in ("!", "\n", "\x00"))
# A quantified group whose body is itself quantified: the classic (a+)+ / (a|aa)* shape.
_NESTED_QUANTIFIER = regex.compile(
    r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)[+*]|\((?:[^()\\]|\\.)*\|[^()]*\)[+*]{1}\$?"
)


class RegexError(ValueError):
    """A pattern that does not compile or is unsafe to run; the message says which."""


class RegexTimeout(RuntimeError):
    """A match ran past its time limit."""


@functools.lru_cache(maxsize=4096)
def compile_guarded(pattern: str) -> regex.Pattern[str]:
    """Compile ``pattern`` or raise :class:`RegexError` (bad syntax, catastrophic backtracking)."""
    try:
        compiled = regex.compile(pattern, regex.VERSION1 | regex.MULTILINE)
    except (regex.error, OverflowError, RecursionError) as exc:
        raise RegexError(f"the regular expression does not compile ({exc})") from None
    if _NESTED_QUANTIFIER.search(pattern):
        _probe(compiled)
    else:
        _probe(compiled, _PROBES[:3])
    return compiled


def _probe(compiled: regex.Pattern[str], probes: tuple[str, ...] = _PROBES) -> None:
    for probe in probes:
        try:
            compiled.search(probe, timeout=_PROBE_TIMEOUT_S)
        except TimeoutError:
            raise RegexError(
                "the regular expression backtracks catastrophically (nested quantifiers); rewrite it "
                "without a repeated group whose body repeats"
            ) from None


def finditer(compiled: regex.Pattern[str], text: str):
    """Matches of ``compiled`` in ``text``; raises :class:`RegexTimeout` past :data:`MATCH_TIMEOUT_S`."""
    try:
        return list(compiled.finditer(text, timeout=MATCH_TIMEOUT_S))
    except TimeoutError:
        raise RegexTimeout(compiled.pattern) from None
