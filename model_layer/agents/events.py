"""What an agent invocation produces, before the API turns it into ``completion`` stream events.

- :class:`Chunk`: (part of) the answer, with citations of retrieved passages (``chunk``);
- :class:`TraceEvent`: one ``Trace`` union value (``trace``; sent only when tracing is on);
- :class:`ReturnControl`: the calls the client must make itself (``returnControl``);
- :class:`Files`: files produced for the client (``files``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Chunk:
    text: str
    citations: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TraceEvent:
    trace: dict[str, Any]


@dataclass
class ReturnControl:
    invocation_id: str
    inputs: list[dict[str, Any]]


@dataclass
class Files:
    files: list[dict[str, Any]]


AgentEvent = Chunk | TraceEvent | ReturnControl | Files
