"""``ask``: answer a question from the workspace's own docs, with citations to files that exist.

The docs (Markdown, reStructuredText and text files) are indexed in a knowledge base through the
SDK (one per workspace, named after its path; re-running replaces changed files and drops deleted
ones), the best chunks are retrieved, and the model answers from them only, citing ``[n]``. The
answer is ``not_in_docs`` when nothing relevant is retrieved or the model says the docs do not
answer; citations name only retrieved files that exist in the workspace.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from applications.coding.report import CodeReport, ModelCall
from applications.coding.workspace import OutsideWorkspace, Workspace
from model_layer.sdk import KnowledgeBasesClient, RetrievedChunk, StrataAPIError, text_document

DOC_SUFFIXES = (".md", ".rst", ".txt")
NOT_ANSWERED = "The docs do not answer this."
SYSTEM = (
    "Answer the question using only the numbered excerpts from the project's docs. Cite the "
    "excerpts you used as [1], [2]. If the excerpts do not contain the answer, reply exactly: " + NOT_ANSWERED
)
MAX_DOC_CHARS = 200_000


def kb_name(workspace: Path) -> str:
    digest = hashlib.sha256(str(workspace.resolve()).encode()).hexdigest()[:16]
    return f"code-docs-{digest}"


def doc_files(ws: Workspace) -> list[str]:
    return [rel for rel in ws.files() if rel.endswith(DOC_SUFFIXES)]


def _find_or_create(kbs: KnowledgeBasesClient, name: str, embedding_model: str) -> tuple[str, str]:
    for summary in kbs.list_knowledge_bases():
        if summary.get("name") == name:
            kb_id = str(summary["knowledgeBaseId"])
            sources = kbs.list_data_sources(kb_id)
            if sources:
                return kb_id, str(sources[0]["dataSourceId"])
            return kb_id, kbs.create_data_source(kb_id, "docs")
    kb_id = kbs.create_knowledge_base(name, embedding_model=embedding_model, description="workspace docs")
    return kb_id, kbs.create_data_source(kb_id, "docs")


def index_docs(kbs: KnowledgeBasesClient, ws: Workspace, embedding_model: str) -> tuple[str, int]:
    """(Re)index the workspace's docs; returns the knowledge base id and how many files."""
    kb_id, ds_id = _find_or_create(kbs, kb_name(ws.root), embedding_model)
    files = doc_files(ws)
    stale = [
        d["identifier"]["custom"]["id"]
        for d in kbs.list_documents(kb_id, ds_id)
        if d.get("identifier", {}).get("custom", {}).get("id") not in files
    ]
    if stale:
        kbs.delete_documents(kb_id, ds_id, stale)
    documents = [text_document(rel, ws.read(rel)[:MAX_DOC_CHARS], path=rel) for rel in files]
    if documents:
        kbs.ingest_documents(kb_id, ds_id, documents)
    return kb_id, len(files)


def _existing(ws: Workspace, chunk: RetrievedChunk) -> str | None:
    try:
        rel = ws.resolve(chunk.document_id)
    except OutsideWorkspace:
        return None
    return rel if (ws.root / rel).is_file() else None


def _citations(answer: str, chunks: list[tuple[str, RetrievedChunk]]) -> list[dict[str, Any]]:
    """``[n]`` markers, and retrieved files the answer names by path (small models cite that way)."""
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer)}
    named = {path for path, _ in chunks if re.search(rf"(?<![\w/.-]){re.escape(path)}(?![\w/-])", answer)}
    cited |= {next(i for i, (p, _) in enumerate(chunks, 1) if p == path) for path in named}
    cited = sorted(cited)
    out = []
    for n in cited:
        if 1 <= n <= len(chunks):
            path, chunk = chunks[n - 1]
            out.append({"n": n, "path": path, "excerpt": chunk.text[:300], "score": round(chunk.score, 4)})
    return out


def run_ask(settings: Any, workspace: Path, question: str) -> CodeReport:
    report = CodeReport("ask", str(workspace))
    with Workspace(workspace, settings.limits) as ws:
        if not doc_files(ws):
            report.status, report.message = (
                "no_docs",
                "the workspace has no .md, .rst or .txt files to answer from",
            )
            return report
        try:
            with KnowledgeBasesClient(settings.url, **settings.client_options()) as kbs:
                kb_id, count = index_docs(kbs, ws, settings.embedding_model)
                report.notes.append(f"indexed {count} doc file(s) in knowledge base {kb_id}")
                retrieved = kbs.retrieve(kb_id, question, number_of_results=4)
        except StrataAPIError as exc:
            report.status, report.message = "gateway_error", f"the knowledge base call failed: {exc}"
            return report
        chunks = [(path, c) for c in retrieved if (path := _existing(ws, c))]
    if not chunks:
        report.status, report.message = "not_in_docs", "nothing in the docs matched the question"
        return report
    excerpts = "\n\n".join(f"[{i}] ({path})\n{c.text}" for i, (path, c) in enumerate(chunks, 1))
    answer_once(
        settings, report, f"Excerpts:\n\n{excerpts}\n\nQuestion: {question}", SYSTEM, "answered from the docs"
    )
    answer = report.answer or ""
    if report.status != "answered":
        return report
    if NOT_ANSWERED.lower().rstrip(".") in answer.lower():
        report.status, report.message = "not_in_docs", "the docs do not answer this question"
        return report
    report.citations = _citations(answer, chunks)
    if not report.citations:  # an answer without a citation is not grounded in a file we can show
        report.status, report.message = "uncited", "the model answered without citing the docs"
    return report


def answer_once(settings: Any, report: CodeReport, prompt: str, system: str | None, message: str) -> None:
    """One Converse call; the answer, its accounting and status ``answered`` go into ``report``."""
    with settings.client() as client:
        try:
            answer = client.converse(
                settings.model_id,
                prompt,
                system=system,
                inference_config={"maxTokens": settings.max_tokens, "temperature": 0.0},
            )
        except StrataAPIError as exc:
            report.status, report.message = "model_error", f"the model call failed: {exc}"
            return
    usage = answer.usage
    report.model_calls.append(
        ModelCall(1, settings.model_id, usage.input_tokens, usage.output_tokens, answer.latency_ms, "answer")
    )
    report.answer = answer.text
    report.status, report.message = "answered", message
