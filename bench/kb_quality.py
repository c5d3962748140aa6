"""Retrieval quality for bench/kb.py: each pipeline's ranking of documents for the labelled
questions (strata SEMANTIC and HYBRID through the knowledge service; the plain LangChain + Chroma
baselines with the same MiniLM, over strata's chunks and over LangChain's usual splitter), the
metrics per split, and the grid of HYBRID's fusion constants scored on the tune split only."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from kb_data import dedupe, load, metrics

from model_layer.knowledge.parsing import parse
from model_layer.knowledge.service import KnowledgeService
from model_layer.types import Tenant

TENANT = Tenant("bench", "bench")
SOURCE_URI = "x-amz-bedrock-kb-source-uri"
BASELINE = "LangChain + Chroma, same chunks"
BASELINE_OWN = "LangChain + Chroma, own splitter"
SETS_OF = {"original": ("original",), "extended": ("original", "extension")}

PIPELINES = ("strata SEMANTIC", "strata HYBRID", BASELINE, BASELINE_OWN)


async def rankings(
    k: KnowledgeService, kb_id: str, names: dict[str, str], docs_dir: Path, sets: tuple[str, ...]
) -> dict[str, list[list[str]]]:
    """Each pipeline's ranking of document ids for every question of ``sets`` (in load order)."""
    by_uri = {(docs_dir / n).resolve().as_uri(): doc_id for n, doc_id in names.items()}
    kb = await k.get_knowledge_base(TENANT, kb_id)
    _, texts, metas = k.vectors.all_chunks(k.collection(kb))
    same_chunks = langchain_baseline(texts, [by_uri[m[SOURCE_URI]] for m in metas], "same")
    own_splitter = langchain_own_splitter(docs_dir, names)
    out: dict[str, list[list[str]]] = {p: [] for p in PIPELINES}
    for item in load(sets)["questions"]:
        for label, search in (("strata SEMANTIC", "SEMANTIC"), ("strata HYBRID", "HYBRID")):
            found = await k.retrieve(TENANT, kb_id, item["q"], number_of_results=30, search_type=search)
            out[label].append(dedupe([by_uri[r.metadata[SOURCE_URI]] for r in found]))
        for label, store in ((BASELINE, same_chunks), (BASELINE_OWN, own_splitter)):
            hits = store.similarity_search(item["q"], k=30)
            out[label].append(dedupe([h.metadata["doc"] for h in hits]))
    return out


def scores(
    ranked: dict[str, list[list[str]]], questions: list[dict[str, Any]], keep: Any
) -> dict[str, dict[str, float]]:
    """Mean recall@5, MRR, nDCG@10 per pipeline over the questions ``keep`` selects."""
    chosen = [i for i, q in enumerate(questions) if keep(q)]
    out = {}
    for label, rows in ranked.items():
        per = [metrics(rows[i], set(questions[i]["rel"])) for i in chosen]
        out[label] = {m: statistics.fmean(r[m] for r in per) for m in per[0]} | {"questions": len(per)}
    return out


def quality_tables(ranked: dict[str, list[list[str]]], sets: tuple[str, ...]) -> dict[str, Any]:
    questions = load(sets)["questions"]
    tables = {
        split: scores(ranked, questions, lambda q, s=split: s == "all" or q["split"] == s)
        for split in ("held-out", "tune", "all")
    }
    if "extension" in sets:  # where the lexical side should matter, and where it should not
        for kind in ("lexical", "paraphrase"):
            tables[f"held-out, {kind} questions"] = scores(
                ranked,
                questions,
                lambda q, kd=kind: q["split"] == "held-out" and q.get("kind", "paraphrase") == kd,
            )
    return tables


def _minilm() -> Any:
    from langchain_core.embeddings import Embeddings

    from infrastructure.runtime.embeddings import EmbeddingEngine

    engine = EmbeddingEngine()

    class MiniLM(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return engine.embed(texts)

        def embed_query(self, text: str) -> list[float]:
            return engine.embed([text])[0]

    return MiniLM()


def langchain_baseline(texts: list[str], doc_ids: list[str], name: str) -> Any:
    """The plain pipeline: langchain-chroma's Chroma with its defaults and the same MiniLM, over
    the given chunks (strata's own, so only the search differs)."""
    import chromadb
    from langchain_chroma import Chroma

    client = chromadb.EphemeralClient(settings=chromadb.config.Settings(anonymized_telemetry=False))
    return Chroma.from_texts(
        texts, _minilm(), metadatas=[{"doc": d} for d in doc_ids], client=client, collection_name=name
    )


def langchain_own_splitter(docs_dir: Path, names: dict[str, str]) -> Any:
    """The same pipeline with LangChain's usual splitter (1000 / 200 characters) on the same text."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    texts, doc_ids = [], []
    for name, doc_id in names.items():
        for piece in splitter.split_text(parse(name, (docs_dir / name).read_bytes())):
            texts.append(piece)
            doc_ids.append(doc_id)
    return langchain_baseline(texts, doc_ids, "own-splitter")


async def tune(k: KnowledgeService, kbs: dict[str, tuple[str, dict[str, str], Path]]) -> list[dict[str, Any]]:
    """HYBRID's fusion constants over a grid, scored on the tune split only (never the held-out)."""
    from model_layer.knowledge import lexical

    rows = []
    saved = lexical.DENSE_WEIGHT, lexical.CONFIDENT_MARGIN
    try:
        for weight in (0.5, 0.6, 0.7, 0.8, 0.9):
            for margin in (1.0, 1.1, 1.2, 1.3, 1.5):
                lexical.DENSE_WEIGHT, lexical.CONFIDENT_MARGIN = weight, margin
                row: dict[str, Any] = {"dense_weight": weight, "confident_margin": margin}
                for label, (kb_id, names, docs_dir) in kbs.items():
                    sets = SETS_OF[label]
                    by_uri = {(docs_dir / n).resolve().as_uri(): d for n, d in names.items()}
                    per = []
                    for item in load(sets)["questions"]:
                        if item["split"] != "tune":
                            continue
                        found = await k.retrieve(
                            TENANT, kb_id, item["q"], number_of_results=30, search_type="HYBRID"
                        )
                        per.append(
                            metrics(dedupe([by_uri[r.metadata[SOURCE_URI]] for r in found]), set(item["rel"]))
                        )
                    row[label] = {m: statistics.fmean(r[m] for r in per) for m in per[0]}
                rows.append(row)
                print(row, flush=True)
    finally:
        lexical.DENSE_WEIGHT, lexical.CONFIDENT_MARGIN = saved
    return rows
