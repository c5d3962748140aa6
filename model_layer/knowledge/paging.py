"""Retrieve's ``nextToken`` paging (botocore's Retrieve paginator: input and output token
``nextToken``, results in ``retrievalResults``).

Retrieve answers ``numberOfResults`` results, split into pages when they do not fit one response:
a page holds results while their JSON stays within ``STRATA_KB_RETRIEVE_PAGE_BYTES`` (at least one
result per page). The token is opaque: the offset of the next result and a fingerprint of the
request it belongs to (knowledge base, query and retrieval configuration), so a token replayed
with another request is a ValidationException rather than a page of someone else's results. A
next page runs the search again; if the knowledge base was re-ingested in between, it pages the
new ranking.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from model_layer.errors import ValidationException


def fingerprint(knowledge_base_id: str, body: dict[str, Any]) -> str:
    request = {k: v for k, v in body.items() if k != "nextToken"}
    canonical = json.dumps([knowledge_base_id, request], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:24]


def encode(offset: int, request: str) -> str:
    raw = json.dumps({"o": offset, "r": request}, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode(token: str, request: str) -> int:
    """The offset ``token`` resumes at; ValidationException if it is not one of ours for ``request``."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        offset, owner = data["o"], data["r"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise ValidationException("Invalid nextToken") from None
    if owner != request or not isinstance(offset, int) or offset < 1:
        raise ValidationException("Invalid nextToken: it belongs to another request")
    return offset


def page(
    results: list[dict[str, Any]], start: int, max_bytes: int
) -> tuple[list[dict[str, Any]], int | None]:
    """The results from ``start`` that fit ``max_bytes`` (at least one), and the next offset or None."""
    if start >= len(results) and results:
        raise ValidationException("Invalid nextToken: no results left")
    out: list[dict[str, Any]] = []
    used = 0
    for result in results[start:]:
        size = len(json.dumps(result, separators=(",", ":")).encode("utf-8"))
        if out and used + size > max_bytes:
            return out, start + len(out)
        out.append(result)
        used += size
    return out, None
