"""Citation attribution (model_layer/knowledge/generation.py): sentences split where sentences end
(not inside version numbers), spans that index the answer, and which retrieved result a sentence
draws on — decided by the real MiniLM embeddings, where counting shared words let generic words
outvote the one naming the subject."""

from __future__ import annotations

import pytest

from model_layer.knowledge.generation import attribute, cosines, split_sentences
from model_layer.knowledge.records import RetrievalResult

BATTERY = (
    "The e-bike battery charges fully in five hours. Do not store it below freezing: keep it at room "
    "temperature over the winter."
)
DAYPACK = "The City Daypack holds 22 litres and has a padded sleeve that takes a 15-inch notebook."
ANSWER = "The daypack does not have room for a laptop."


def _result(text: str, name: str) -> RetrievalResult:
    return RetrievalResult(
        {"type": "TEXT", "text": text},
        {"type": "WEB", "webLocation": {"url": f"file:///docs/{name}"}},
        0.5,
        {"x-amz-bedrock-kb-source-uri": f"file:///docs/{name}"},
    )


def _cited(citations: list[dict]) -> list[list[str]]:
    return [
        [r["location"]["webLocation"]["url"].rsplit("/", 1)[-1] for r in c["retrievedReferences"]]
        for c in citations
    ]


def test_sentences_end_at_sentence_ends_not_inside_versions():
    answer = "Install firmware 4.2.1 on the GX-5. It fixes fault E11!\n\nDone"
    sentences = split_sentences(answer)
    assert [text for _, text in sentences] == [
        "Install firmware 4.2.1 on the GX-5.",
        "It fixes fault E11!",
        "Done",
    ]
    for start, text in sentences:
        assert answer[start : start + len(text)] == text


def test_a_sentence_cites_the_result_it_is_about_not_the_one_sharing_generic_words():
    results = [_result(BATTERY, "battery.txt"), _result(DAYPACK, "daypack.txt")]
    assert _cited(attribute(ANSWER, results)) == [["battery.txt"]]  # word overlap alone: wrong sheet

    from infrastructure.runtime.embeddings import EmbeddingEngine

    vectors = EmbeddingEngine().embed([ANSWER, BATTERY, DAYPACK])
    similarity = cosines(vectors[:1], vectors[1:])
    citations = attribute(ANSWER, results, similarity)
    assert _cited(citations) == [["daypack.txt"]]
    span = citations[0]["generatedResponsePart"]["textResponsePart"]["span"]
    assert (span["start"], span["end"]) == (0, len(ANSWER) - 1)


def test_explicit_markers_win_and_filler_cites_nothing():
    results = [_result(BATTERY, "battery.txt"), _result(DAYPACK, "daypack.txt")]
    answer = "Keep it warm [1]. Hope this helps."
    assert _cited(attribute(answer, results, [[0.1, 0.9], [0.9, 0.9]])) == [["battery.txt"]]


def test_cosines_are_scale_free():
    assert cosines([[2.0, 0.0]], [[1.0, 0.0], [0.0, 3.0]])[0] == pytest.approx([1.0, 0.0])
