"""The deterministic rewriters: each rewrite is exact, runs, and what it cannot do is listed."""

from __future__ import annotations

import warnings

import pytest

from applications.coding.codemods import rewrite_source


def run(source: str) -> dict:
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        exec(compile(source, "<rewritten>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            "from datetime import datetime\nx = datetime.utcnow()\n",
            "from datetime import datetime\nfrom datetime import timezone\n"
            "x = datetime.now(timezone.utc).replace(tzinfo=None)\n",
        ),
        (
            "import datetime as dt\nx = dt.datetime.utcfromtimestamp(0)\n",
            "import datetime as dt\nx = dt.datetime.fromtimestamp(0, dt.timezone.utc).replace(tzinfo=None)\n",
        ),
        (
            "import asyncio\nasync def f():\n    return asyncio.get_event_loop()  # why\n",
            "import asyncio\nasync def f():\n    return asyncio.get_running_loop()  # why\n",
        ),
        (
            "import asyncio\nasync def g(): return 1\nx = asyncio.get_event_loop().run_until_complete(g())\n",
            "import asyncio\nasync def g(): return 1\nx = asyncio.run(g())\n",
        ),
        (
            "import imp\nimport json\nj = imp.reload(json)\n",
            "import json\nimport importlib\nj = importlib.reload(json)\n",
        ),
        (
            "from distutils.spawn import find_executable\np = find_executable('sh')\n",
            "import shutil\np = shutil.which('sh')\n",
        ),
    ],
)
def test_rewrites_are_exact(before, after):
    result = rewrite_source(before)
    assert result.source == after
    assert result.applied
    run(result.source)


def test_rewritten_code_behaves_as_before(tmp_path):
    module = tmp_path / "plugin.py"
    module.write_text("VALUE = 42\n")
    source = (
        "import imp\nfrom distutils.util import strtobool\nfrom datetime import datetime\n"
        f"plugin = imp.load_source('plugin', {str(module)!r})\n"
        "flags = [strtobool(v) for v in ('Yes', 'off', '1')]\n"
        "now = datetime.utcnow()\n"
    )
    result = rewrite_source(source)
    assert result.left == []
    assert "import imp\n" not in result.source and "from distutils" not in result.source
    namespace = run(result.source)  # DeprecationWarning is an error here: none is left
    assert namespace["plugin"].VALUE == 42
    assert namespace["flags"] == [1, 0, 1]
    assert namespace["now"].tzinfo is None
    with pytest.raises(ValueError, match="invalid truth value"):
        namespace["_strtobool"]("maybe")


def test_what_has_no_exact_rewrite_is_left_and_listed():
    result = rewrite_source(
        "import imp\nimport asyncio\nloop = asyncio.get_event_loop()\nimp.find_module('x')\n"
    )
    assert result.source.startswith("import imp\n")
    assert result.left == [
        "line 1: import of imp",
        "line 3: asyncio.get_event_loop()",
        "line 4: imp.find_module()",
    ]


def test_code_that_does_not_parse_is_left_alone():
    result = rewrite_source("def f(:\n    imp.reload(x)\n")
    assert result.source == "def f(:\n    imp.reload(x)\n"
    assert result.left == ["line 1: does not parse (invalid syntax)"]
