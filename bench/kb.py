"""Knowledge bases, measured against baselines in the same run (issue 10).

1. Retrieval quality on the labelled set (bench/data/kb: 40 documents in 6 formats, 65
   paraphrased questions): recall@5, MRR, nDCG@10 for strata SEMANTIC and HYBRID, and for a plain
   LangChain + Chroma pipeline (RecursiveCharacterTextSplitter 1000/200 characters, langchain-chroma,
   similarity_search) over the same parsed text with the same embedding model (MiniLM int8).
2. Ingestion throughput: strata's whole job (scan, parse, chunk, embed through the model service,
   store) vs the raw embedding engine embedding the same chunks in the same batches.
3. Retrieve p50 / p95 at 10k and 100k synthetic chunks, SEMANTIC and HYBRID, with and without a
   filter (the query embedding through the model service included).
4. RetrieveAndGenerate with the local SmolLM2: share of answers whose citations point at a
   relevant document.

    .venv/bin/python bench/kb.py [--quick]   # --quick: 10k chunks only, 10 RAG questions

Writes bench/results/kb.md and .json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kb_data import dedupe, load, metrics, write_corpus

from model_layer.config import DEFAULTS, parse_config
from model_layer.knowledge.indexing import chunk_id
from model_layer.knowledge.parsing import parse
from model_layer.knowledge.service import KnowledgeService
from model_layer.knowledge.settings import KnowledgeSettings
from model_layer.knowledge.stores import Chunk
from model_layer.providers.registry import ModelRouter
from model_layer.service import ModelService
from model_layer.state import open_database, sqlite_url
from model_layer.types import Tenant

RESULTS = Path(__file__).resolve().parent / "results"
EMBED = "amazon.minilm-l6-v2:0"
CHAT = "meta.smollm2-135m-instruct-v1:0"
TENANT = Tenant("bench", "bench")
ROLE = "arn:aws:iam::000000000000:role/bench"


async def make_kb(k: KnowledgeService, name: str, folder: Path | None) -> tuple[str, str | None]:
    kb = await k.create_knowledge_base(
        TENANT,
        {
            "name": name,
            "roleArn": ROLE,
            "knowledgeBaseConfiguration": {
                "type": "VECTOR",
                "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": EMBED},
            },
        },
    )
    if folder is None:
        return kb.knowledge_base_id, None
    url = folder.resolve().as_uri()
    ds = await k.create_data_source(
        TENANT,
        kb.knowledge_base_id,
        {
            "name": "docs",
            "dataSourceConfiguration": {
                "type": "WEB",
                "webConfiguration": {
                    "sourceConfiguration": {"urlConfiguration": {"seedUrls": [{"url": url}]}}
                },
            },
        },
    )
    return kb.knowledge_base_id, ds.data_source_id


async def ingest(k: KnowledgeService, kb_id: str, ds_id: str) -> tuple[float, Any]:
    started = time.perf_counter()
    job = await k.start_ingestion_job(TENANT, kb_id, ds_id, None)
    while job.status not in ("COMPLETE", "FAILED", "STOPPED"):
        await asyncio.sleep(0.02)
        job = await k.get_ingestion_job(TENANT, kb_id, ds_id, job.ingestion_job_id)
    return time.perf_counter() - started, job


async def quality(
    k: KnowledgeService, kb_id: str, names: dict[str, str], docs_dir: Path
) -> dict[str, dict[str, float]]:
    data = load()
    by_uri = {(docs_dir / n).resolve().as_uri(): doc_id for n, doc_id in names.items()}
    rows: dict[str, list[dict[str, float]]] = {
        "strata SEMANTIC": [],
        "strata HYBRID": [],
        "LangChain + Chroma": [],
    }
    baseline = langchain_baseline(docs_dir, names)
    for item in data["questions"]:
        relevant = set(item["rel"])
        for label, search in (("strata SEMANTIC", "SEMANTIC"), ("strata HYBRID", "HYBRID")):
            found = await k.retrieve(TENANT, kb_id, item["q"], number_of_results=30, search_type=search)
            ranked = dedupe([by_uri[r.metadata["x-amz-bedrock-kb-source-uri"]] for r in found])
            rows[label].append(metrics(ranked, relevant))
        hits = baseline.similarity_search(item["q"], k=30)
        rows["LangChain + Chroma"].append(metrics(dedupe([h.metadata["doc"] for h in hits]), relevant))
    return {label: {m: statistics.fmean(r[m] for r in rs) for m in rs[0]} for label, rs in rows.items()}


def langchain_baseline(docs_dir: Path, names: dict[str, str]) -> Any:
    """The plain pipeline: same parsed text, LangChain's usual splitter, Chroma via langchain-chroma."""
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from infrastructure.runtime.embeddings import EmbeddingEngine

    engine = EmbeddingEngine()

    class MiniLM(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return engine.embed(texts)

        def embed_query(self, text: str) -> list[float]:
            return engine.embed([text])[0]

    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    docs = [
        Document(parse(name, (docs_dir / name).read_bytes()), metadata={"doc": doc_id})
        for name, doc_id in names.items()
    ]
    import chromadb

    client = chromadb.EphemeralClient(settings=chromadb.config.Settings(anonymized_telemetry=False))
    return Chroma.from_documents(
        splitter.split_documents(docs), MiniLM(), client=client, collection_name="baseline"
    )


def raw_engine_seconds(texts: list[str], batch: int) -> float:
    from infrastructure.runtime.embeddings import EmbeddingEngine

    engine = EmbeddingEngine()
    engine.embed(texts[:8])  # warm
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        engine.embed(texts[i : i + batch])
    return time.perf_counter() - started


async def latency(k: KnowledgeService, size: int, queries: int) -> list[dict[str, Any]]:
    kb_id, _ = await make_kb(k, f"synthetic-{size}", None)
    kb = await k.get_knowledge_base(TENANT, kb_id)
    rng = random.Random(size)
    vocab = [f"w{i}" for i in range(5000)]
    started = time.perf_counter()
    for base in range(0, size, 5000):
        chunks = []
        for i in range(base, min(size, base + 5000)):
            vec = [rng.gauss(0, 1) for _ in range(384)]
            norm = sum(v * v for v in vec) ** 0.5
            meta = {
                "group": f"g{i % 10}",
                "year": 2000 + i % 25,
                "x-amz-bedrock-kb-source-uri": f"s3://b/{i}",
            }
            text = " ".join(rng.choice(vocab) for _ in range(40))
            chunks.append(Chunk(chunk_id("syn", str(i), 0), text, [v / norm for v in vec], meta))
        await asyncio.to_thread(k.vectors.upsert, k.collection(kb), chunks)
    await asyncio.to_thread(k.store.bump_index_version, kb_id)
    load_s = time.perf_counter() - started
    flt = {"equals": {"key": "group", "value": "g3"}}
    out = []
    for search in ("SEMANTIC", "HYBRID"):
        for label, f in (("no filter", None), ("filter", flt)):
            await k.retrieve(TENANT, kb_id, "w1 w2 w3", search_type=search, filter=f)  # warm (BM25 build)
            times = []
            for q in range(queries):
                text = " ".join(rng.choice(vocab) for _ in range(6)) + f" question {q}"
                t0 = time.perf_counter()
                await k.retrieve(TENANT, kb_id, text, number_of_results=5, search_type=search, filter=f)
                times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            out.append(
                {
                    "chunks": size,
                    "search": search,
                    "filter": label,
                    "p50_ms": statistics.median(times),
                    "p95_ms": times[int(0.95 * (len(times) - 1))],
                    "load_s": load_s,
                }
            )
    await k.delete_knowledge_base(TENANT, kb_id)
    return out


async def citations(
    k: KnowledgeService, kb_id: str, names: dict[str, str], docs_dir: Path, n: int
) -> dict[str, Any]:
    from model_layer.knowledge import rag

    by_uri = {(docs_dir / name).resolve().as_uri(): doc_id for name, doc_id in names.items()}
    questions = load()["questions"][:: max(1, len(load()["questions"]) // n)][:n]
    relevant_cited = any_cited = 0
    started = time.perf_counter()
    for item in questions:
        body = {
            "input": {"text": item["q"]},
            "retrieveAndGenerateConfiguration": {
                "type": "KNOWLEDGE_BASE",
                "knowledgeBaseConfiguration": {
                    "knowledgeBaseId": kb_id,
                    "modelArn": CHAT,
                    "retrievalConfiguration": {
                        "vectorSearchConfiguration": {"numberOfResults": 3, "overrideSearchType": "HYBRID"}
                    },
                    "generationConfiguration": {
                        "inferenceConfig": {"textInferenceConfig": {"maxTokens": 80, "temperature": 0}}
                    },
                },
            },
        }
        answer = await rag.retrieve_and_generate(k, TENANT, body, None)
        cited = {
            by_uri.get(r.get("metadata", {}).get("x-amz-bedrock-kb-source-uri", ""))
            for c in answer["citations"]
            for r in c["retrievedReferences"]
        }
        any_cited += bool(cited)
        relevant_cited += bool(cited & set(item["rel"]))
    return {
        "questions": len(questions),
        "answers_with_citations": any_cited,
        "answers_citing_a_relevant_document": relevant_cited,
        "seconds": time.perf_counter() - started,
    }


async def main(quick: bool) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="strata-kb-bench-"))
    docs_dir = work / "docs"
    names = write_corpus(docs_dir)
    service = ModelService(ModelRouter(parse_config(DEFAULTS)))
    db = open_database(sqlite_url(work / "strata.db"))
    k = KnowledgeService(db, service, KnowledgeSettings(chroma_path=work / "chroma"), work, any_folder=True)
    await k.start()
    try:
        await service.embed(TENANT, EMBED, ["warm up the embedding engine"])
        kb_id, ds_id = await make_kb(k, "bench", docs_dir)
        seconds, job = await ingest(k, kb_id, ds_id)
        kb = await k.get_knowledge_base(TENANT, kb_id)
        _, texts, _ = k.vectors.all_chunks(k.collection(kb))
        raw = raw_engine_seconds(texts, k.settings.embed_batch)
        result: dict[str, Any] = {
            "ingestion": {
                "documents": job.statistics["numberOfNewDocumentsIndexed"],
                "chunks": len(texts),
                "strata_s": seconds,
                "raw_engine_s": raw,
                "ratio": raw / seconds,
            },
        }
        result["quality"] = await quality(k, kb_id, names, docs_dir)
        result["latency"] = []
        for size in (10_000,) if quick else (10_000, 100_000):
            result["latency"] += await latency(k, size, 30 if quick else 60)
        result["rag"] = await citations(k, kb_id, names, docs_dir, 10 if quick else 20)
        return result
    finally:
        await k.aclose()
        await service.aclose()


def write(result: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    result["meta"] = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadavg": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    (RESULTS / "kb.json").write_text(json.dumps(result, indent=2))
    q, ing, rag = result["quality"], result["ingestion"], result["rag"]
    base = q["LangChain + Chroma"]
    lines = [
        "# Knowledge bases (bench/kb.py)",
        "",
        f"Run {result['meta']['at']} on {result['meta']['cpus']} CPUs, load average "
        f"{', '.join(f'{x:.2f}' for x in result['meta']['loadavg'])}. Data: bench/data/kb (PROVENANCE).",
        "",
        "## Retrieval quality (40 documents, 65 paraphrased questions, document-level relevance)",
        "",
        "| pipeline | recall@5 | MRR | nDCG@10 | vs baseline (recall / MRR / nDCG) |",
        "|---|---|---|---|---|",
    ]
    for label, m in q.items():
        ratio = " / ".join(f"{m[x] / base[x]:.3f}×" for x in ("recall@5", "mrr", "ndcg@10"))
        lines.append(f"| {label} | {m['recall@5']:.3f} | {m['mrr']:.3f} | {m['ndcg@10']:.3f} | {ratio} |")
    lines += [
        "",
        "## Ingestion throughput (same chunks, same batch size)",
        "",
        "| documents | chunks | strata job (s) | raw engine (s) | strata / raw throughput |",
        "|---|---|---|---|---|",
        f"| {ing['documents']} | {ing['chunks']} | {ing['strata_s']:.2f} | {ing['raw_engine_s']:.2f} "
        f"| {ing['ratio']:.2f} |",
        "",
        "## Retrieve latency (synthetic chunks, query embedding included)",
        "",
        "| chunks | search | filter | p50 ms | p95 ms |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['chunks']:,} | {r['search']} | {r['filter']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} |"
        for r in result["latency"]
    ]
    lines += [
        "",
        "## RetrieveAndGenerate citations (local SmolLM2-135M, HYBRID, 3 results)",
        "",
        f"{rag['answers_citing_a_relevant_document']} of {rag['questions']} answers cite a relevant document "
        f"({rag['answers_citing_a_relevant_document'] / rag['questions']:.0%}); "
        f"{rag['answers_with_citations']} have any citation; {rag['seconds']:.0f} s in all.",
        "",
    ]
    (RESULTS / "kb.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    write(asyncio.run(main(args.quick)))
