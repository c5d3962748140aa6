"""The output guard on long answers: chunks of one text unit, cut at word boundaries, sync and async.

A real compiled guardrail (word filter + PII) checks a model stream longer than one chunk, so the
mid-stream paths run: a chunk that passes goes out whole (sync) or was already out (async), a
masked chunk goes out masked, a blocked chunk ends the answer and stops the model.
"""

from __future__ import annotations

import asyncio

from model_layer.guardrails.converse import CHUNK_CHARS, GuardedCall, GuardrailConfig, guard_output
from model_layer.guardrails.engine import compile_guardrail
from model_layer.guardrails.resources import GuardrailResources
from model_layer.types import BlockDelta, BlockStop, MessageStart, MessageStop, Metadata, Usage

DEFINITION = {
    "name": "g",
    "wordPolicyConfig": {"wordsConfig": [{"text": "forbidden"}]},
    "sensitiveInformationPolicyConfig": {"piiEntitiesConfig": [{"type": "EMAIL", "action": "ANONYMIZE"}]},
    "blockedInputMessaging": "in",
    "blockedOutputsMessaging": "Withheld.",
}


def _model(words: list[str], stopped: list[bool]):
    async def events():
        try:
            yield MessageStart()
            for w in words:
                yield BlockDelta(0, text=w + " ")
            yield BlockStop(0)
            yield MessageStop("end_turn")
            yield Metadata(Usage(10, len(words)))
        finally:
            stopped.append(True)

    return events()


def _run(words: list[str], mode: str = "sync"):
    compiled = compile_guardrail("g", "DRAFT", "arn", DEFINITION, GuardrailResources())
    call = GuardedCall(GuardrailConfig("g", "DRAFT", "enabled", mode), compiled)

    async def check(blocks):
        return compiled.evaluate("OUTPUT", blocks)

    stopped: list[bool] = []

    async def collect():
        stream = guard_output(_model(words, stopped), check, call, "Withheld.", lambda n: Usage(10, n))
        return [e async for e in stream]

    return asyncio.run(collect()), call, stopped


def _text(events):
    return "".join(e.text for e in events if isinstance(e, BlockDelta))


def test_a_long_clean_answer_goes_out_whole_in_chunks_of_one_unit():
    words = [f"word{i}" for i in range(400)]  # ~3,500 characters
    events, call, _ = _run(words)
    assert _text(events) == " ".join(words) + " "
    assert len(call.outputs) == 4  # checked in four chunks of at most one text unit
    deltas = [e.text for e in events if isinstance(e, BlockDelta)]
    assert all(len(d) <= CHUNK_CHARS for d in deltas) and all(d.endswith(" ") for d in deltas[:-1])
    assert isinstance(events[-1], Metadata) and events[-2].stop_reason == "end_turn"


def test_masking_in_a_later_chunk():
    words = [f"word{i}" for i in range(200)] + ["mail", "ann@example.com"] + [f"w{i}" for i in range(20)]
    events, _, _ = _run(words)
    text = _text(events)
    assert "{EMAIL}" in text and "ann@example.com" not in text
    assert [e.stop_reason for e in events if isinstance(e, MessageStop)] == ["guardrail_intervened"]


def test_a_blocked_chunk_ends_the_answer_and_stops_the_model():
    words = [f"word{i}" for i in range(200)] + ["forbidden"] + [f"late{i}" for i in range(300)]
    events, call, stopped = _run(words)
    text = _text(events)
    assert text.endswith("Withheld.") and "forbidden" not in text and "late299" not in text
    assert stopped == [True]  # the model's stream was closed
    assert isinstance(events[-1], Metadata) and events[-1].trace["guardrail"]["modelOutput"]
    assert call.intervened


def test_async_sends_first_then_stops():
    words = [f"word{i}" for i in range(200)] + ["forbidden"] + [f"late{i}" for i in range(300)]
    events, _, _ = _run(words, mode="async")
    text = _text(events)
    assert "forbidden" in text  # already sent before its chunk was checked
    assert text.endswith("Withheld.") and "late299" not in text
