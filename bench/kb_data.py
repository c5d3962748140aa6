"""The labelled retrieval sets of bench/kb.py written out as files in their formats, with
.metadata.json sidecars, the tune / held-out split of the questions, and the retrieval metrics.

Two sets (bench/data/kb/PROVENANCE): ``original`` (corpus.json: 40 short documents, 65 paraphrased
questions) and ``extension`` (extension.json: 40 more documents, some several chunks long, with
near-neighbour products told apart by codes, names and rare terms, and 90 questions). The
``extended`` evaluation searches all 80 documents with all 155 questions.

The split: a question is in the *tune* split when the first 8 hex digits of the SHA-256 of its
text are divisible by 3 (about a third), else *held-out*. Fusion constants are chosen on the tune
split only (``bench/kb.py --tune``); the results file reports the held-out split.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

# The PDF and docx writers the knowledge tests use (the repository root is on sys.path: bench/kb.py)
from tests.model_layer.knowledge.docs import docx_bytes, pdf_bytes

DATA = Path(__file__).resolve().parent / "data" / "kb"
SETS = {"original": DATA / "corpus.json", "extension": DATA / "extension.json"}


def load(sets: tuple[str, ...] = ("original",)) -> dict[str, Any]:
    """Documents and questions of the given sets; each question carries its ``set`` and ``split``."""
    documents: list[dict[str, Any]] = []
    questions: list[dict[str, Any]] = []
    for name in sets:
        data = json.loads(SETS[name].read_text(encoding="utf-8"))
        documents += data["documents"]
        questions += [{**q, "set": name, "split": split_of(q["q"])} for q in data["questions"]]
    return {"documents": documents, "questions": questions}


def split_of(question: str) -> str:
    digest = hashlib.sha256(question.encode("utf-8")).hexdigest()
    return "tune" if int(digest[:8], 16) % 3 == 0 else "held-out"


def write_corpus(folder: Path, sets: tuple[str, ...] = ("original",)) -> dict[str, str]:
    """Write every document of ``sets``; returns {file name: document id}."""
    folder.mkdir(parents=True, exist_ok=True)
    names = {}
    for doc in load(sets)["documents"]:
        name = f"{doc['id']}.{doc['format']}"
        text, path = doc["text"], folder / name
        if doc["format"] == "pdf":
            path.write_bytes(pdf_bytes(text))
        elif doc["format"] == "docx":
            path.write_bytes(docx_bytes(text))
        elif doc["format"] == "html":
            body = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
            path.write_text(f"<html><head><title>{doc['id']}</title></head><body>{body}</body></html>")
        else:
            path.write_text(text, encoding="utf-8")
        (folder / f"{name}.metadata.json").write_text(json.dumps({"metadataAttributes": doc["meta"]}))
        names[name] = doc["id"]
    return names


def metrics(ranked_docs: list[str], relevant: set[str]) -> dict[str, float]:
    """recall@5, reciprocal rank and nDCG@10 (binary relevance) of one ranking of document ids."""
    top5 = ranked_docs[:5]
    recall = len(relevant & set(top5)) / len(relevant)
    rr = next((1 / i for i, d in enumerate(ranked_docs, 1) if d in relevant), 0.0)
    dcg = sum(1 / math.log2(i + 1) for i, d in enumerate(ranked_docs[:10], 1) if d in relevant)
    ideal = sum(1 / math.log2(i + 1) for i in range(1, min(len(relevant), 10) + 1))
    return {"recall@5": recall, "mrr": rr, "ndcg@10": dcg / ideal}


def dedupe(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))
