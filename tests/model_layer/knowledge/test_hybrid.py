"""HYBRID retrieval: the code-aware BM25 tokenizer, the confidence gate and the convex fusion
(unit level), the fusion over a real Chroma store and bm25s index (a chunk only BM25 finds is
scored on its own vector too), and end to end through boto3 with the real MiniLM: a product code
that SEMANTIC ranks second HYBRID ranks first, and a question without one keeps SEMANTIC's order."""

from __future__ import annotations

import math

import pytest

from model_layer.knowledge import lexical
from model_layer.knowledge.lexical import LexicalIndexes, confident, fuse, tokenize
from model_layer.knowledge.retrieval import SOURCE_URI, search
from model_layer.knowledge.settings import KnowledgeSettings
from model_layer.knowledge.stores import Chunk, open_vector_store
from tests.model_layer.knowledge.conftest import create_kb, folder_source, ingest


def test_tokenize_keeps_codes_whole_and_drops_stopwords():
    assert tokenize("How much does the WS-1 weigh?") == ["much", "ws1", "ws", "1", "weigh"]
    assert "421" in tokenize("What changed in release 4.2.1?")  # single digits alone would be noise
    assert tokenize("Lot L23-0917") == ["lot", "l230917", "l23", "0917"]
    assert tokenize("e-bike") == ["bike"]  # no digit: not a code, and single letters go
    assert tokenize("Ｗｓ－１") == tokenize("ws-1")  # NFKC: full-width forms match
    assert tokenize("what is it") == []


def test_confident_needs_a_clear_best():
    assert not confident([])
    assert confident([3.0])
    assert confident([3.0, 2.0])  # 1.5x the runner-up
    assert not confident([3.0, 2.9])  # many chunks match a little: nothing to add


def test_fuse_is_a_convex_combination_favouring_the_vectors():
    fused = dict(fuse({"a": 0.70, "b": 0.74, "c": 0.60}, {"a": 8.0, "b": 2.0}))
    w = lexical.DENSE_WEIGHT
    assert fused["a"] == pytest.approx(w * 0.70 + (1 - w) * 1.0)
    assert fused["b"] == pytest.approx(w * 0.74 + (1 - w) * 0.25)
    assert fused["c"] == pytest.approx(w * 0.60)
    assert [cid for cid, _ in fuse({"a": 0.70, "b": 0.74, "c": 0.60}, {"a": 8.0, "b": 2.0})] == [
        "a",
        "b",
        "c",
    ]
    assert w > 0.5  # the dense side leads


def _unit(*xs: float) -> list[float]:
    vec = [*xs, *([0.0] * (384 - len(xs)))]
    norm = math.sqrt(sum(x * x for x in vec))
    return [x / norm for x in vec]


def test_a_chunk_only_bm25_finds_is_fused_on_its_own_vector_score(tmp_path):
    """Over real Chroma and bm25s: the target is far down the vectors' list (beyond the 10 they
    return for numberOfResults=1), BM25 finds it by its code, and it wins on both scores."""
    store = open_vector_store(KnowledgeSettings(chroma_path=tmp_path / "chroma"), tmp_path)
    chunks = [
        Chunk(
            f"c{i}",
            f"a sturdy cooking stove number {i} for camping",
            _unit(1.0, 0.05 * i),
            {SOURCE_URI: f"s3://b/{i}"},
        )
        for i in range(12)
    ]
    chunks.append(
        Chunk("code", "the ST-210 burner runs on spirit", _unit(1.0, 1.2), {SOURCE_URI: "s3://b/code"})
    )
    store.upsert("kb-test", chunks)
    query = _unit(1.0, 0.0)
    semantic = search(store, LexicalIndexes(), "kb-test", 1, "fuel for the ST-210", query, 1, False, None)
    assert semantic[0].document_id == "s3://b/0"
    hybrid = search(store, LexicalIndexes(), "kb-test", 1, "fuel for the ST-210", query, 3, True, None)
    assert hybrid[0].document_id == "s3://b/code"
    cosine = _unit(1.0, 1.2)[0]  # the query is the first axis
    expected = lexical.DENSE_WEIGHT * (1 + cosine) / 2 + (1 - lexical.DENSE_WEIGHT) * 1.0
    assert hybrid[0].score == pytest.approx(expected, abs=1e-4)  # not 0 for the vector side
    assert [r.document_id for r in hybrid[1:]] == ["s3://b/0", "s3://b/1"]
    # a filter that excludes the coded chunk keeps BM25 from bringing it back
    flt = {"notEquals": {"key": SOURCE_URI, "value": "s3://b/code"}}
    filtered = search(store, LexicalIndexes(), "kb-test", 1, "fuel for the ST-210", query, 3, True, flt)
    assert "s3://b/code" not in {r.document_id for r in filtered}


SHEETS = {
    "ws-1.txt": "Cirrus WS-1 wind shirt. A windproof shirt of tightly woven nylon for runners; it weighs "
    "95 grams and packs into its own pocket.",
    "ws-4.txt": "Cirrus WS-4 wind vest. A sleeveless windproof vest of woven nylon for cyclists; it weighs "
    "70 grams and has a zipped chest pocket.",
    "tp-2.txt": "Stride TP-2 trekking poles. Carbon fibre poles that weigh 420 grams a pair and adjust from "
    "105 to 135 centimetres.",
    "bv-1.txt": "Solo BV-1 bivy shelter. A one-person shelter with a single hooped pole; the whole shelter "
    "weighs 780 grams.",
    "dj-75.txt": "Cumulus DJ-75 down jacket. A hooded jacket filled with 180 grams of goose down that stuffs "
    "into its own chest pocket.",
    "rt-3.txt": "Fell RT-3 rain trousers. Waterproof trousers with side zips that weigh 240 grams for a pair "
    "in size M.",
}


def test_hybrid_finds_a_product_by_its_code_where_semantic_does_not(kb_gateway, docs_root):
    for name, text in SHEETS.items():
        (docs_root / name).write_text(text)
    agent, runtime = kb_gateway.agent, kb_gateway.runtime
    kb_id = create_kb(agent)
    ds_id = agent.create_data_source(
        knowledgeBaseId=kb_id, name="d", dataSourceConfiguration=folder_source(docs_root)
    )["dataSource"]["dataSourceId"]
    assert ingest(agent, kb_id, ds_id)["status"] == "COMPLETE"

    def top(question: str, search_type: str) -> list[str]:
        results = runtime.retrieve(
            knowledgeBaseId=kb_id,
            retrievalQuery={"text": question},
            retrievalConfiguration={
                "vectorSearchConfiguration": {"numberOfResults": 3, "overrideSearchType": search_type}
            },
        )["retrievalResults"]
        return [r["location"]["webLocation"]["url"].rsplit("/", 1)[-1] for r in results]

    assert top("How much does the WS-1 weigh?", "SEMANTIC")[0] == "ws-4.txt"  # MiniLM blurs the codes
    assert top("How much does the WS-1 weigh?", "HYBRID")[0] == "ws-1.txt"
    # no rare term: BM25 is not confident, so HYBRID keeps the vectors' order
    question = "Which garment keeps the wind off a cyclist?"
    assert top(question, "HYBRID") == top(question, "SEMANTIC")
