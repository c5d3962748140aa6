"""``strata kb create | ingest | query | list | delete``: knowledge bases from the command line.

Thin over :class:`~model_layer.knowledge.KnowledgeService`, run in-process on the same state and
vector store a gateway in the same ``STRATA_HOME`` (or on the same ``STRATA_STATE_URL`` and
``STRATA_KB_CHROMA_URL``) serves, as tenant ``--tenant`` (default ``demo``). Embeddings and answers
use the configured models (``strata.toml``; default: the local MiniLM and SmolLM2) and are metered
like any call. The CLI runs as the local user, so any folder that user can read may be indexed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from strata.errors import StrataError

kb_app = typer.Typer(help="Knowledge bases: index folders or S3 prefixes, ask questions with citations.")
TenantOption = Annotated[str, typer.Option("--tenant", help="The tenant that owns the knowledge base.")]
DEFAULT_EMBEDDING = "amazon.minilm-l6-v2:0"
DEFAULT_CHAT = "meta.smollm2-135m-instruct-v1:0"


@contextlib.asynccontextmanager
async def _knowledge() -> AsyncIterator[Any]:
    from model_layer.knowledge.service import KnowledgeService
    from model_layer.knowledge.settings import KnowledgeSettings
    from model_layer.providers.registry import build_router
    from model_layer.service import ModelService
    from model_layer.settings import GatewaySettings
    from model_layer.state import open_state
    from model_layer.tenancy import build_budgets, build_meter

    settings = GatewaySettings()
    state = open_state(settings)
    budgets = build_budgets(state)
    service = ModelService(build_router(settings), meter=build_meter(settings, state, budgets=budgets))
    knowledge = KnowledgeService(
        state.db, service, KnowledgeSettings(), settings.state_dir(), any_folder=True
    )
    await knowledge.start()
    try:
        yield knowledge
    finally:
        await knowledge.aclose()
        await service.aclose()
        state.close()


def _tenant(knowledge: Any, tenant_id: str) -> Any:
    from model_layer.auth.keystore import policy_of
    from model_layer.state.tenants import TenantStore
    from model_layer.types import Tenant

    return Tenant(tenant_id, "cli", policy_of(TenantStore(knowledge.store.db).get_tenant(tenant_id)))


async def _by_name(knowledge: Any, tenant: Any, name: str) -> Any:
    kbs, _ = await knowledge.list_knowledge_bases(tenant, 0, 10_000)
    for kb in kbs:
        if kb.name == name or kb.knowledge_base_id == name:
            return kb
    raise StrataError(
        f"no knowledge base named {name!r} for tenant {tenant.tenant_id}", hint="strata kb list"
    )


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


@kb_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Name of the knowledge base.")],
    folder: Annotated[Path | None, typer.Option("--folder", help="Index this local folder.")] = None,
    s3: Annotated[str | None, typer.Option("--s3", help="Index this S3 prefix: s3://bucket/prefix/.")] = None,
    embedding_model: Annotated[
        str, typer.Option("--embedding-model", help="An EMBEDDING model id.")
    ] = DEFAULT_EMBEDDING,
    chunk_tokens: Annotated[
        int, typer.Option("--chunk-tokens", min=20, max=8192, help="FIXED_SIZE maxTokens.")
    ] = 300,
    tenant: TenantOption = "demo",
) -> None:
    """Create a knowledge base with one data source (a folder or an S3 prefix); then `strata kb ingest`."""
    if (folder is None) == (s3 is None):
        raise StrataError("give one of --folder or --s3")
    if folder is not None and not folder.is_dir():
        raise StrataError(f"{folder} is not a folder")
    if s3 is not None and not s3.startswith("s3://"):
        raise StrataError("--s3 takes s3://bucket/prefix")
    _run(_create(name, folder, s3, embedding_model, chunk_tokens, tenant))


async def _create(
    name: str, folder: Path | None, s3: str | None, model: str, tokens: int, tenant_id: str
) -> None:
    async with _knowledge() as knowledge:
        tenant = _tenant(knowledge, tenant_id)
        kb = await knowledge.create_knowledge_base(
            tenant,
            {
                "name": name,
                "roleArn": "arn:aws:iam::000000000000:role/strata-cli",
                "knowledgeBaseConfiguration": {
                    "type": "VECTOR",
                    "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": model},
                },
            },
        )
        if folder is not None:
            url = folder.resolve().as_uri()
            config: dict[str, Any] = {
                "type": "WEB",
                "webConfiguration": {
                    "sourceConfiguration": {"urlConfiguration": {"seedUrls": [{"url": url}]}}
                },
            }
        else:
            bucket, _, prefix = (s3 or "")[5:].partition("/")
            config = {"type": "S3", "s3Configuration": {"bucketArn": f"arn:aws:s3:::{bucket}"}}
            if prefix:
                config["s3Configuration"]["inclusionPrefixes"] = [prefix]
        chunking = {
            "chunkingStrategy": "FIXED_SIZE",
            "fixedSizeChunkingConfiguration": {"maxTokens": tokens, "overlapPercentage": 20},
        }
        await knowledge.create_data_source(
            tenant,
            kb.knowledge_base_id,
            {"name": f"{name}-source", "dataSourceConfiguration": config,
             "vectorIngestionConfiguration": {"chunkingConfiguration": chunking}},
        )  # fmt: skip
    Console(highlight=False).print(
        f"Created knowledge base {name} ({kb.knowledge_base_id}). Next: strata kb ingest {name}"
    )


@kb_app.command("ingest")
def ingest_command(
    name: Annotated[str, typer.Argument(help="Knowledge base name or id.")], tenant: TenantOption = "demo"
) -> None:
    """Ingest (or re-ingest: only what changed) every data source of a knowledge base, with progress."""
    _run(_ingest(name, tenant))


async def _ingest(name: str, tenant_id: str) -> None:
    console = Console(highlight=False)
    async with _knowledge() as knowledge:
        tenant = _tenant(knowledge, tenant_id)
        kb = await _by_name(knowledge, tenant, name)
        sources, _ = await knowledge.list_data_sources(tenant, kb.knowledge_base_id, 0, 100)
        for ds in [s for s in sources if s.source_type != "CUSTOM"]:
            job = await knowledge.start_ingestion_job(
                tenant, kb.knowledge_base_id, ds.data_source_id, "strata kb ingest"
            )
            job = await _follow(knowledge, tenant, job, ds.name, console)
            s = job.statistics
            console.print(
                f"{ds.name}: {job.status} — scanned {s['numberOfDocumentsScanned']}, "
                f"new {s['numberOfNewDocumentsIndexed']}, "
                f"modified {s['numberOfModifiedDocumentsIndexed'] + s['numberOfMetadataDocumentsModified']}, "
                f"deleted {s['numberOfDocumentsDeleted']}, failed {s['numberOfDocumentsFailed']}"
            )
            for reason in job.failure_reasons[:20]:
                console.print(f"  failed: {reason}", markup=False)


async def _follow(knowledge: Any, tenant: Any, job: Any, label: str, console: Console) -> Any:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"{label}: scanning", total=None)
        while True:
            job = await knowledge.get_ingestion_job(
                tenant, job.knowledge_base_id, job.data_source_id, job.ingestion_job_id
            )
            counts = await asyncio.to_thread(knowledge.store.item_counts, job.ingestion_job_id)
            if job.planned:
                total = sum(counts.values())
                done = sum(n for (_, state), n in counts.items() if state != "pending")
                progress.update(task, description=f"{label}: indexing", total=total, completed=done)
            if job.status in ("COMPLETE", "FAILED", "STOPPED"):
                return job
            await asyncio.sleep(0.2)


@kb_app.command("query")
def query(
    name: Annotated[str, typer.Argument(help="Knowledge base name or id.")],
    question: Annotated[str, typer.Argument(help="What to ask.")],
    results: Annotated[int, typer.Option("--results", "-k", min=1, max=100, help="Chunks to retrieve.")] = 5,
    hybrid: Annotated[
        bool, typer.Option("--hybrid/--semantic", help="HYBRID (BM25 + vectors) or SEMANTIC.")
    ] = True,
    generate: Annotated[
        bool, typer.Option("--generate/--retrieve-only", help="Answer with citations.")
    ] = True,
    model: Annotated[str, typer.Option("--model", help="The chat model that answers.")] = DEFAULT_CHAT,
    tenant: TenantOption = "demo",
) -> None:
    """Ask a knowledge base: an answer with numbered citations, or the retrieved chunks."""
    _run(_query(name, question, results, hybrid, generate, model, tenant))


async def _query(
    name: str, question: str, k: int, hybrid: bool, generate: bool, model: str, tenant_id: str
) -> None:
    from model_layer.knowledge import rag

    console = Console(highlight=False)
    async with _knowledge() as knowledge:
        tenant = _tenant(knowledge, tenant_id)
        kb = await _by_name(knowledge, tenant, name)
        search = {"numberOfResults": k, "overrideSearchType": "HYBRID" if hybrid else "SEMANTIC"}
        if not generate:
            found = await knowledge.retrieve(
                tenant,
                kb.knowledge_base_id,
                question,
                number_of_results=k,
                search_type=search["overrideSearchType"],
            )
            for i, r in enumerate(found, 1):
                console.print(f"[{i}] {r.score:.3f} {r.document_id}", markup=False)
                console.print(f"    {r.content['text'][:300]}", markup=False)
            return
        body = {
            "input": {"text": question},
            "retrieveAndGenerateConfiguration": {
                "type": "KNOWLEDGE_BASE",
                "knowledgeBaseConfiguration": {
                    "knowledgeBaseId": kb.knowledge_base_id,
                    "modelArn": model,
                    "retrievalConfiguration": {"vectorSearchConfiguration": search},
                },
            },
        }
        answer = await rag.retrieve_and_generate(knowledge, tenant, body, None)
    _print_answer(console, answer)


def _print_answer(console: Console, answer: dict[str, Any]) -> None:
    sources: list[str] = []
    text = answer["output"]["text"]
    marks: list[tuple[int, str]] = []
    for citation in answer["citations"]:
        span = citation["generatedResponsePart"]["textResponsePart"]["span"]
        numbers = []
        for ref in citation["retrievedReferences"]:
            uri = ref.get("metadata", {}).get("x-amz-bedrock-kb-source-uri", "?")
            if uri not in sources:
                sources.append(uri)
            numbers.append(sources.index(uri) + 1)
        marks.append((span["end"] + 1, "".join(f"[{n}]" for n in dict.fromkeys(numbers))))
    for end, mark in sorted(marks, reverse=True):
        text = text[:end] + mark + text[end:]
    console.print(text, markup=False)
    for n, uri in enumerate(sources, 1):
        console.print(f"  [{n}] {uri}", markup=False)


@kb_app.command("list")
def list_command(tenant: TenantOption = "demo") -> None:
    """The tenant's knowledge bases, their data sources and indexed documents."""
    _run(_list(tenant))


async def _list(tenant_id: str) -> None:
    table = Table("name", "id", "embedding model", "sources", "documents", "status")
    async with _knowledge() as knowledge:
        tenant = _tenant(knowledge, tenant_id)
        kbs, _ = await knowledge.list_knowledge_bases(tenant, 0, 10_000)
        for kb in kbs:
            sources, _ = await knowledge.list_data_sources(tenant, kb.knowledge_base_id, 0, 100)
            docs = 0
            for ds in sources:
                docs += len(await asyncio.to_thread(knowledge.store.documents, ds.data_source_id))
            table.add_row(
                kb.name, kb.knowledge_base_id, kb.embedding_model_id, str(len(sources)), str(docs), kb.status
            )
    Console(highlight=False).print(table)


@kb_app.command("delete")
def delete(
    name: Annotated[str, typer.Argument(help="Knowledge base name or id.")], tenant: TenantOption = "demo"
) -> None:
    """Delete a knowledge base, its data sources and its index."""
    _run(_delete(name, tenant))


async def _delete(name: str, tenant_id: str) -> None:
    async with _knowledge() as knowledge:
        tenant = _tenant(knowledge, tenant_id)
        kb = await _by_name(knowledge, tenant, name)
        await knowledge.delete_knowledge_base(tenant, kb.knowledge_base_id)
    Console(highlight=False).print(f"Deleted knowledge base {name} ({kb.knowledge_base_id}).")


def register(app: typer.Typer) -> None:
    app.add_typer(kb_app, name="kb")
