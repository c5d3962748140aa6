"""The coding companion's bench task set (hand-written for strata; no external source).

- FIXES: 10 bugs of different classes, each a module + its tests + the known patch (SEARCH/REPLACE).
- MIGRATIONS: 8 workspaces using removed or deprecated APIs, with tests that pass before and after
  (``DeprecationWarning`` is not an error here, so "before" measures behaviour, not warnings); the
  last two have no exact rewrite, so the model gets what the rewriters leave (with a known patch).
- GENERATION: 10 stubs (signature + docstring) with a visible example test, hidden tests used only
  to score, and the known implementation patch.
- HOSTILE: 12 test snippets and what the sandbox must report for each.
- QUESTIONS: 12 questions over ``docs/`` (9 answerable, with the file that answers them and words
  the answer must contain; 3 the docs do not answer).
"""

# ruff: noqa: E501 — task data: one snippet a line reads better than wrapped strings
from __future__ import annotations


def block(path: str, search: str, replace: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


def _fix(fid: str, kind: str, code: str, tests: str, search: str, replace: str) -> dict:
    return {
        "id": fid,
        "class": kind,
        "files": {"mod.py": code, "test_mod.py": "from mod import *\n\n" + tests},
        "patch": block("mod.py", search, replace),
    }


FIXES = [
    _fix(
        "off-by-one", "off-by-one",
        "def last_n(items, n):\n    return items[len(items) - n - 1:]\n",
        "def test_last_two():\n    assert last_n([1, 2, 3], 2) == [2, 3]\n",
        "    return items[len(items) - n - 1:]\n", "    return items[len(items) - n:]\n",
    ),
    _fix(
        "wrong-operator", "wrong operator",
        "def area(w, h):\n    return w + h\n",
        "def test_area():\n    assert area(3, 4) == 12\n",
        "    return w + h\n", "    return w * h\n",
    ),
    _fix(
        "comparison", "boundary comparison",
        "def is_adult(age):\n    return age > 18\n",
        "def test_eighteen():\n    assert is_adult(18)\n\ndef test_child():\n    assert not is_adult(17)\n",
        "    return age > 18\n", "    return age >= 18\n",
    ),
    _fix(
        "missing-return", "missing return",
        "def double(x):\n    result = x * 2\n",
        "def test_double():\n    assert double(4) == 8\n",
        "    result = x * 2\n", "    result = x * 2\n    return result\n",
    ),
    _fix(
        "mutable-default", "mutable default argument",
        "def collect(item, bag=[]):\n    bag.append(item)\n    return bag\n",
        "def test_fresh_bags():\n    assert collect(1) == [1]\n    assert collect(2) == [2]\n",
        "def collect(item, bag=[]):\n    bag.append(item)\n",
        "def collect(item, bag=None):\n    bag = [] if bag is None else bag\n    bag.append(item)\n",
    ),
    _fix(
        "exception-type", "wrong exception",
        "def parse_port(text):\n    value = int(text)\n    if not 0 < value < 65536:\n"
        "        raise TypeError('port out of range')\n    return value\n",
        "import pytest\n\ndef test_range():\n    with pytest.raises(ValueError):\n        parse_port('70000')\n",
        "        raise TypeError('port out of range')\n", "        raise ValueError('port out of range')\n",
    ),
    _fix(
        "formatting", "string formatting",
        "def greet(name):\n    return 'Hello, {name}!'\n",
        "def test_greet():\n    assert greet('Ada') == 'Hello, Ada!'\n",
        "    return 'Hello, {name}!'\n", "    return f'Hello, {name}!'\n",
    ),
    _fix(
        "integer-division", "integer division",
        "def mean(values):\n    return sum(values) // len(values)\n",
        "def test_mean():\n    assert mean([1, 2]) == 1.5\n",
        "    return sum(values) // len(values)\n", "    return sum(values) / len(values)\n",
    ),
    _fix(
        "inverted-logic", "inverted condition",
        "def visible(items):\n    return [i for i in items if i.startswith('_')]\n",
        "def test_visible():\n    assert visible(['a', '_b']) == ['a']\n",
        "    return [i for i in items if i.startswith('_')]\n",
        "    return [i for i in items if not i.startswith('_')]\n",
    ),
    _fix(
        "dict-key", "wrong key / None handling",
        "def port(config):\n    return config['port']\n",
        "def test_default():\n    assert port({}) == 8080\n\ndef test_set():\n    assert port({'port': 1}) == 1\n",
        "    return config['port']\n", "    return config.get('port', 8080)\n",
    ),
]  # fmt: skip

MIGRATIONS = [
    {
        "id": "imp-reload",
        "files": {
            "mod.py": "import imp\nimport json\n\n\ndef fresh():\n    return imp.reload(json)\n",
            "test_mod.py": "from mod import fresh\n\ndef test():\n    assert fresh().__name__ == 'json'\n",
        },
    },
    {
        "id": "imp-load-source",
        "files": {
            "plugin.py": "VALUE = 7\n",
            "mod.py": "import imp\nimport os\n\n\ndef load():\n"
            "    return imp.load_source('plugin_x', os.path.join(os.path.dirname(__file__), 'plugin.py'))\n",
            "test_mod.py": "from mod import load\n\ndef test():\n    assert load().VALUE == 7\n",
        },
    },
    {
        "id": "distutils",
        "files": {
            "mod.py": "from distutils.spawn import find_executable\nfrom distutils.util import strtobool\n\n\n"
            "def has_sh():\n    return find_executable('sh') is not None\n\n\n"
            "def flag(v):\n    return bool(strtobool(v))\n",
            "test_mod.py": "from mod import flag, has_sh\n\ndef test():\n    assert has_sh() and flag('yes') and not flag('off')\n",
        },
    },
    {
        "id": "utcnow",
        "files": {
            "mod.py": "import datetime\n\n\ndef stamp():\n    return datetime.datetime.utcnow()\n\n\n"
            "def from_epoch(ts):\n    return datetime.datetime.utcfromtimestamp(ts)\n",
            "test_mod.py": "import datetime\nfrom mod import from_epoch, stamp\n\n"
            "def test():\n    assert stamp().tzinfo is None\n"
            "    assert from_epoch(0) == datetime.datetime(1970, 1, 1)\n",
        },
    },
    {
        "id": "get-event-loop",
        "files": {
            "mod.py": "import asyncio\n\n\nasync def loop_is_running():\n"
            "    return asyncio.get_event_loop().is_running()\n\n\n"
            "def main():\n    return asyncio.get_event_loop().run_until_complete(loop_is_running())\n",
            "test_mod.py": "from mod import main\n\ndef test():\n    assert main() is True\n",
        },
    },
    {
        "id": "typing-syntax",
        "files": {
            "mod.py": "from typing import Dict, List, Optional, Union\n\n\n"
            "def index(words: List[str]) -> Dict[str, int]:\n    return {w: i for i, w in enumerate(words)}\n\n\n"
            "def first(xs: List[int]) -> Optional[Union[int, str]]:\n    return xs[0] if xs else None\n",
            "test_mod.py": "from mod import first, index\n\n"
            "def test():\n    assert index(['a', 'b']) == {'a': 0, 'b': 1} and first([]) is None\n",
        },
    },
    # No exact rewrite exists for these: the rewriters list them and the model is asked ("patch":
    # the scripted oracle's answer). The tests pass before; done = they pass after, none left.
    {
        "id": "loose-version",
        "files": {
            "mod.py": "from distutils.version import LooseVersion\n\n\n"
            "def newer(a, b):\n    return LooseVersion(a) > LooseVersion(b)\n",
            "test_mod.py": "from mod import newer\n\ndef test():\n"
            "    assert newer('1.10', '1.9') and not newer('2.0', '2.0') and not newer('0.9', '1.0')\n",
        },
        "patch": block("mod.py", "from distutils.version import LooseVersion\n", "")
        + block(
            "mod.py", "    return LooseVersion(a) > LooseVersion(b)\n",
            "    return tuple(map(int, a.split('.'))) > tuple(map(int, b.split('.')))\n",
        ),
    },
    {
        "id": "imp-find-module",
        "files": {
            "mod.py": "import imp\n\n\ndef where(name):\n    return imp.find_module(name)[1]\n",
            "test_mod.py": "import os\nfrom mod import where\n\ndef test():\n"
            "    assert os.path.basename(where('json')) == 'json'\n",
        },
        "patch": block("mod.py", "import imp\n", "import importlib.util\nimport os\n")
        + block(
            "mod.py", "    return imp.find_module(name)[1]\n",
            "    return os.path.dirname(importlib.util.find_spec(name).origin)\n",
        ),
    },
]  # fmt: skip


def _gen(gid: str, stub: str, example: str, hidden: str, search: str, replace: str) -> dict:
    return {
        "id": gid,
        "files": {"mod.py": stub, "test_example.py": "from mod import *\n\n" + example},
        "hidden": "from mod import *\n\n" + hidden,
        "patch": block("mod.py", search, replace),
    }


NI = "    raise NotImplementedError\n"
GENERATION = [
    _gen(
        "slugify", 'def slugify(text):\n    """Lower-case words of text joined by single dashes."""\n' + NI,
        "def test_ex():\n    assert slugify('Hello World') == 'hello-world'\n",
        "def test_h():\n    assert slugify('  A  b ') == 'a-b'\n    assert slugify('') == ''\n",
        NI, "    return '-'.join(text.lower().split())\n",
    ),
    _gen(
        "is-palindrome", 'def is_palindrome(s):\n    """True if s reads the same backwards, ignoring case and spaces."""\n' + NI,
        "def test_ex():\n    assert is_palindrome('Abba')\n",
        "def test_h():\n    assert is_palindrome('Never odd or even')\n    assert not is_palindrome('abc')\n",
        NI, "    t = ''.join(s.lower().split())\n    return t == t[::-1]\n",
    ),
    _gen(
        "fizzbuzz", 'def fizzbuzz(n):\n    """"Fizz" for multiples of 3, "Buzz" of 5, "FizzBuzz" of both, else str(n)."""\n' + NI,
        "def test_ex():\n    assert fizzbuzz(3) == 'Fizz'\n",
        "def test_h():\n    assert [fizzbuzz(i) for i in (5, 15, 7)] == ['Buzz', 'FizzBuzz', '7']\n",
        NI, "    return 'Fizz' * (n % 3 == 0) + 'Buzz' * (n % 5 == 0) or str(n)\n",
    ),
    _gen(
        "chunks", 'def chunks(items, size):\n    """Split a list into lists of at most size items, in order."""\n' + NI,
        "def test_ex():\n    assert chunks([1, 2, 3], 2) == [[1, 2], [3]]\n",
        "def test_h():\n    assert chunks([], 3) == []\n    assert chunks([1, 2], 5) == [[1, 2]]\n",
        NI, "    return [items[i:i + size] for i in range(0, len(items), size)]\n",
    ),
    _gen(
        "word-count", 'def word_count(text):\n    """A dict: each lower-cased word of text -> how often it occurs."""\n' + NI,
        "def test_ex():\n    assert word_count('a b a') == {'a': 2, 'b': 1}\n",
        "def test_h():\n    assert word_count('A a') == {'a': 2}\n    assert word_count('') == {}\n",
        NI, "    counts = {}\n    for w in text.lower().split():\n        counts[w] = counts.get(w, 0) + 1\n"
        "    return counts\n",
    ),
    _gen(
        "clamp", 'def clamp(x, low, high):\n    """x limited to the range [low, high]."""\n' + NI,
        "def test_ex():\n    assert clamp(5, 0, 3) == 3\n",
        "def test_h():\n    assert clamp(-1, 0, 3) == 0\n    assert clamp(2, 0, 3) == 2\n",
        NI, "    return max(low, min(x, high))\n",
    ),
    _gen(
        "flatten", 'def flatten(nested):\n    """One flat list from arbitrarily nested lists."""\n' + NI,
        "def test_ex():\n    assert flatten([1, [2, 3]]) == [1, 2, 3]\n",
        "def test_h():\n    assert flatten([[[]], [1, [2, [3]]]]) == [1, 2, 3]\n",
        NI, "    out = []\n    for x in nested:\n        out.extend(flatten(x) if isinstance(x, list) else [x])\n"
        "    return out\n",
    ),
    _gen(
        "roman", 'def to_roman(n):\n    """n (1..3999) as a Roman numeral."""\n' + NI,
        "def test_ex():\n    assert to_roman(4) == 'IV'\n",
        "def test_h():\n    assert to_roman(1994) == 'MCMXCIV'\n    assert to_roman(3) == 'III'\n",
        NI, "    out = ''\n    for v, s in ((1000, 'M'), (900, 'CM'), (500, 'D'), (400, 'CD'), (100, 'C'), (90, 'XC'),"
        " (50, 'L'), (40, 'XL'), (10, 'X'), (9, 'IX'), (5, 'V'), (4, 'IV'), (1, 'I')):\n"
        "        while n >= v:\n            out, n = out + s, n - v\n    return out\n",
    ),
    _gen(
        "dedupe", 'def dedupe(items):\n    """items without repeats, keeping the first occurrence\'s order."""\n' + NI,
        "def test_ex():\n    assert dedupe([1, 2, 1]) == [1, 2]\n",
        "def test_h():\n    assert dedupe(['b', 'a', 'b', 'c', 'a']) == ['b', 'a', 'c']\n",
        NI, "    return list(dict.fromkeys(items))\n",
    ),
    _gen(
        "median", 'def median(values):\n    """The median of a non-empty list of numbers."""\n' + NI,
        "def test_ex():\n    assert median([3, 1, 2]) == 2\n",
        "def test_h():\n    assert median([4, 1, 2, 3]) == 2.5\n",
        NI, "    s = sorted(values)\n    m = len(s) // 2\n    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2\n",
    ),
]  # fmt: skip

# Each snippet is the body of a test file; "expect" is what the report must say.
HOSTILE = [
    {"id": "fork-bomb", "expect": {"limits": ["process_limit"]},
     "test": "import os, time\ndef test():\n    while True:\n        if os.fork() == 0:\n            time.sleep(600)\n            os._exit(0)\n"},
    {"id": "read-aws-credentials", "expect": {"limits": ["hidden_path"], "secret_absent": True},
     "test": "import os\ndef test():\n    print(open(os.path.expanduser('~/.aws/credentials')).read())\n"
             "def test_root():\n    print(open('/root/.aws/credentials').read())\n"},
    {"id": "read-etc-shadow", "expect": {"limits": ["permission_denied"]},
     "test": "def test():\n    print(open('/etc/shadow').read())\n"},
    {"id": "env-secrets", "expect": {"outcome": "passed", "secret_absent": True},
     "test": "import os\ndef test():\n    print(dict(os.environ))\n"
             "    assert not [k for k in os.environ if k.startswith('AWS_') or 'TOKEN' in k]\n"},
    {"id": "socket-loopback", "expect": {"limits": ["network_blocked"]},
     "test": "import socket\ndef test():\n    socket.create_connection(('127.0.0.1', 8000), timeout=2)\n"},
    {"id": "socket-internet", "expect": {"limits": ["network_blocked"]},
     "test": "import socket\ndef test():\n    socket.create_connection(('1.1.1.1', 443), timeout=2)\n"},
    {"id": "dns", "expect": {"limits": ["network_blocked"]},
     "test": "import socket\ndef test():\n    socket.getaddrinfo('pypi.org', 443)\n"},
    {"id": "fill-disk-one-file", "expect": {"limits": ["file_size_limit"]},
     "test": "def test():\n    with open('big.bin', 'wb') as f:\n        for _ in range(4096):\n            f.write(b'x' * (1 << 20))\n"},
    {"id": "fill-disk-many-files", "expect": {"limits": ["disk_limit"]},
     "test": "def test():\n    for i in range(4096):\n        open(f'part{i}.bin', 'wb').write(b'x' * (8 << 20))\n"},
    {"id": "write-outside", "expect": {"limits": ["write_outside_workspace"]},
     "test": "def test():\n    open('/usr/strata-bench-escape.txt', 'w').write('x')\n"},
    {"id": "sleep-forever", "expect": {"outcome": "timeout"},
     "test": "import time\ndef test():\n    time.sleep(10 ** 6)\n"},
    {"id": "cpu-spin", "expect": {"outcome": "timeout"},
     "test": "def test():\n    while True:\n        pass\n"},
    {"id": "memory-hog", "expect": {"outcome": "memory_limit"},
     "test": "def test():\n    bytearray(16 << 30)\n"},
]  # fmt: skip

QUESTIONS = [
    {"q": "How do I install quill?", "file": "docs/install.md", "words": ["pip install quill"]},
    {"q": "Which Python versions does quill support?", "file": "docs/install.md", "words": ["3.11"]},
    {
        "q": "How do I start the development server and on which port?",
        "file": "docs/usage.md",
        "words": ["8400"],
    },
    {"q": "How do I release a new version?", "file": "docs/releasing.md", "words": ["make release"]},
    {
        "q": "Where is the configuration file read from?",
        "file": "docs/configuration.md",
        "words": ["quill.toml"],
    },
    {
        "q": "Which environment variable sets the log level?",
        "file": "docs/configuration.md",
        "words": ["QUILL_LOG_LEVEL"],
    },
    {"q": "How do I run the tests?", "file": "CONTRIBUTING.md", "words": ["make test"]},
    {"q": "What is the code style and line length?", "file": "CONTRIBUTING.md", "words": ["100"]},
    {"q": "What does the export command produce?", "file": "docs/usage.md", "words": ["PDF"]},
    {"q": "What licence is quill released under?", "file": None, "words": []},
    {"q": "Does quill support Windows?", "file": None, "words": []},
    {"q": "Who founded the company behind quill?", "file": None, "words": []},
]
