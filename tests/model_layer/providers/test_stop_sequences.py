"""Stop sequences matched by the gateway, and the StreamTranslator's end of an answer.

The translator is what every OpenAI-shaped provider (local llama.cpp, OpenAI-compatible servers,
SageMaker containers) streams through, so these tables are the contract: a matched stop sequence
ends the answer as ``stop_sequence`` and names it, and usage survives a stream the gateway ended
early. (Tool inputs that are not JSON objects are refused for every provider: test_model_router.)
"""

from __future__ import annotations

import pytest

from model_layer.providers.openai_format import StreamTranslator, usage_from_openai
from model_layer.providers.stop_sequences import StopMatcher
from model_layer.types import BlockDelta, BlockStart, BlockStop, MessageStop, ToolUseStart, Usage, fold


@pytest.mark.parametrize(
    ("stops", "pieces", "sent", "matched"),
    [
        (["5"], ["1, 2, ", "3, 4, ", "5, 6"], ["1, 2, ", "3, 4, ", ""], "5"),
        (["STOP"], ["hello S", "T", "OP and more"], ["hello ", "", ""], "STOP"),
        (["STOP"], ["hello S", "T", "x"], ["hello ", "", "STx"], None),  # a false start is released
        (["aab"], ["a", "a", "a", "b"], ["", "", "a", ""], "aab"),
        (["END", "ND"], ["xEND"], ["x"], "END"),  # the earliest match wins
        (["\n\n"], ["para\n", "\nnext"], ["para", ""], "\n\n"),
        ([], ["anything"], ["anything"], None),
        ([""], ["empty stops are ignored"], ["empty stops are ignored"], None),
    ],
)
def test_stop_matcher(stops, pieces, sent, matched):
    matcher = StopMatcher(stops)
    assert [matcher.feed(p) for p in pieces] == sent
    assert matcher.matched == matched


def test_stop_matcher_releases_held_text_when_the_engine_ends():
    matcher = StopMatcher(["STOP"])
    assert matcher.feed("the end ST") == "the end "
    assert matcher.flush() == "ST"


def chunk(content=None, finish=None, timings=None, **delta):
    if content is not None:
        delta["content"] = content
    out = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if timings:
        out["timings"] = timings
    return out


def run(translator: StreamTranslator, chunks: list[dict]) -> list:
    events = []
    for c in chunks:
        events += translator.feed(c)
        if translator.stopped:
            break
    return events + translator.finish()


def test_a_matched_stop_sequence_ends_the_answer_and_is_named():
    translator = StreamTranslator(["5"])
    timings = {"prompt_n": 30, "cache_n": 12, "predicted_n": 13}
    chunks = [chunk("1, 2, "), chunk("3, 4, "), chunk("5", timings=timings), chunk(", 6")]
    events = run(translator, chunks)
    response = fold(events)
    assert response.text == "1, 2, 3, 4, "
    assert response.stop_reason == "stop_sequence"
    assert response.additional_fields == {"stop_sequence": "5"}
    # no usage chunk (the gateway stopped reading): llama.cpp's per-token timings stand in
    assert usage_from_openai(translator.usage) == Usage(42, 13, engine_cached_tokens=12)


def test_end_of_sequence_is_still_end_turn_and_held_text_is_kept():
    events = run(StreamTranslator(["STOP"]), [chunk("all done S"), chunk(finish="stop")])
    assert fold(events).text == "all done S"
    assert events[-1] == MessageStop("end_turn")


def test_an_upstream_that_names_its_stop_sequence_is_believed():
    translator = StreamTranslator()  # the upstream got the sequences; vLLM says which matched
    events = run(
        translator, [chunk("abc"), {"choices": [{"delta": {}, "finish_reason": "stop", "stop_reason": "##"}]}]
    )
    assert events[-1] == MessageStop("stop_sequence", {"stop_sequence": "##"})


def tool_chunks(arguments: list[str]) -> list[dict]:
    start = {"index": 0, "id": "call_1", "function": {"name": "lookup", "arguments": ""}}
    parts = [chunk(tool_calls=[start])]
    parts += [chunk(tool_calls=[{"index": 0, "function": {"arguments": a}}]) for a in arguments]
    return [*parts, chunk(finish="tool_calls")]


def test_tool_arguments_that_form_an_object_pass():
    events = run(StreamTranslator(), tool_chunks(['{"q": ', '"tent"}']))
    assert events[0] == BlockStart(0, ToolUseStart("call_1", "lookup"))
    assert events[-2:] == [BlockStop(0), MessageStop("tool_use")]
    assert fold(events).content == [
        {"toolUse": {"toolUseId": "call_1", "name": "lookup", "input": {"q": "tent"}}}
    ]


def test_text_held_for_a_possible_stop_goes_before_a_tool_call():
    chunks = [chunk("see S"), *tool_chunks(["{}"])]
    events = run(StreamTranslator(["STOP"]), chunks)
    assert events[0] == BlockDelta(0, text="see ")
    assert events[1] == BlockDelta(0, text="S")
    assert fold(events).content[0] == {"text": "see S"}
