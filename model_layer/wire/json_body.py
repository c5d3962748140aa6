"""Strict JSON for request bodies: the one parser every route uses, with the rules JSON itself sets.

Python's ``json`` is lenient where Bedrock's and OpenAI's parsers are not, and each leniency
used to end as a 5xx further in (an encoder, a tokenizer, an engine). :func:`parse_json` refuses

- bytes that are not UTF-8 (``json.loads(bytes)`` would also guess UTF-16/32);
- ``NaN``, ``Infinity`` and numbers that overflow a double (``1e400`` parses to ``inf``);
- integers longer than :data:`MAX_INTEGER_DIGITS` (Python would raise its own internal message
  past 4,300 digits);
- nesting deeper than :data:`MAX_DEPTH` (the C scanner raises ``RecursionError`` near 1,000, and
  anything close to that would overflow the encoder or a schema walk later);
- strings (values or keys) holding a lone UTF-16 surrogate (``"\\ud800"``): they parse into a
  ``str`` that can never be encoded to UTF-8 again.

Failures are :class:`MalformedJSON` with a short reason in the client's terms; each API family
wraps it in its own error wording. No exception text from the parser reaches a client.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 100  # nested arrays/objects; deeper than any real tool schema or conversation
MAX_INTEGER_DIGITS = 100  # far beyond int64 (19 digits) yet far below Python's 4,300-digit limit
# Only a \uD800-\uDFFF escape can produce a surrogate (UTF-8 bytes cannot encode one), so bodies
# without such an escape skip the per-string check.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


class MalformedJSON(ValueError):
    """A body that is not acceptable JSON; ``reason`` is safe to show to the client."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _no_constants(name: str) -> Any:
    raise MalformedJSON(f"{name} is not a valid JSON value")


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise MalformedJSON(f"a number has more than {MAX_INTEGER_DIGITS} digits")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise MalformedJSON(f"the number {text[:20]}{'...' if len(text) > 20 else ''} is out of range")
    return value


_DECODER = json.JSONDecoder(parse_int=_integer, parse_float=_float, parse_constant=_no_constants)


def parse_json(raw: bytes | str) -> Any:
    """Parse ``raw`` under the rules above; raise :class:`MalformedJSON` otherwise."""
    if isinstance(raw, bytes):
        check_surrogates = _SURROGATE_ESCAPE.search(raw) is not None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedJSON(f"the body is not valid UTF-8 (byte {exc.start})") from None
    else:
        text, check_surrogates = raw, True  # small strings (schemas, tool arguments): always check
    try:
        value = _DECODER.decode(text)
    except MalformedJSON:
        raise
    except RecursionError:
        raise MalformedJSON(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise MalformedJSON(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except ValueError:  # a hook's int()/float() refusing its input
        raise MalformedJSON("not valid JSON (a number could not be read)") from None
    _check_tree(value, check_surrogates)
    return value


def _check_tree(value: Any, check_surrogates: bool) -> None:
    """Depth and (when needed) surrogates, iteratively: the tree may be as deep as the parser allows."""
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(value, 1, ())]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict):
            items: Any = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            if check_surrogates and isinstance(node, str):
                _check_string(node, path, "the string")
            continue
        if depth > MAX_DEPTH:
            raise MalformedJSON(f"JSON nested deeper than {MAX_DEPTH} levels")
        for key, item in items:
            if check_surrogates and isinstance(key, str):
                _check_string(key, path, "a key in the object")
            if isinstance(item, (dict, list, str)):
                stack.append((item, depth + 1, (*path, key)))


def _check_string(text: str, path: tuple[Any, ...], what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        where = ".".join(str(p) for p in path)
        at = f" at '{where[:200]}'" if where else ""
        raise MalformedJSON(
            f"{what}{at} contains a lone UTF-16 surrogate (\\ud800-\\udfff), which is not valid Unicode"
        ) from None
