"""The knowledge-base service: the control plane (KBs, data sources, ingestion jobs) and Retrieve,
for one gateway replica. The routers (``model_layer.api.knowledge_bases`` / ``retrieval``), the
CLI and agents call it; it calls the state store, the vector store and the model service.

Semantic checks beyond botocore's model live here: the embedding model must be an EMBEDDING model
the tenant may use; a data source is S3, CUSTOM, or a ``file://`` folder under the configured
roots; one ingestion job at a time per data source.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

from model_layer.errors import ResourceNotFoundException, ValidationException
from model_layer.knowledge.filters import check_filter
from model_layer.knowledge.ingestion import JobRunner
from model_layer.knowledge.lexical import LexicalIndexes
from model_layer.knowledge.records import (
    DS_AVAILABLE,
    JOB_STARTING,
    KB_ACTIVE,
    DataSource,
    IngestionJob,
    KnowledgeBase,
    RetrievalResult,
    foundation_model_id,
    new_id,
    now,
)
from model_layer.knowledge.retrieval import search
from model_layer.knowledge.settings import KnowledgeSettings
from model_layer.knowledge.sources import FolderSource, S3Source, Source, check_folder, folder_of, s3_client
from model_layer.knowledge.store import KnowledgeStore, empty_statistics
from model_layer.knowledge.stores import VectorStore, collection_name, open_vector_store
from model_layer.state.database import Database
from model_layer.types import Tenant

SEARCH_TYPES = ("HYBRID", "SEMANTIC")


class KnowledgeService:
    def __init__(
        self,
        db: Database,
        models: Any,  # model_layer.service.ModelService
        settings: KnowledgeSettings,
        home: Path,
        region: str = "us-east-1",
        vectors: VectorStore | None = None,
        extra_folder_roots: list[Path] | None = None,
        any_folder: bool = False,  # the CLI, as the local user, may index any folder it can read
    ):
        self.store = KnowledgeStore(db)
        self.models = models
        self.settings = settings
        self.region = region
        self.vectors = vectors or open_vector_store(settings, home)
        self.lexical = LexicalIndexes()
        self.folder_roots = settings.allowed_folders() + [p.resolve() for p in extra_folder_roots or []]
        if any_folder:
            self.folder_roots.append(Path("/"))
        self.runner = JobRunner(self)

    async def start(self) -> None:
        self.runner.start()

    async def aclose(self) -> None:
        await self.runner.aclose()

    # --- helpers --------------------------------------------------------------------------------

    def collection(self, kb: KnowledgeBase) -> str:
        return collection_name(kb.tenant_id, kb.knowledge_base_id)

    def drop_collection(self, tenant_id: str, kb_id: str) -> None:
        name = collection_name(tenant_id, kb_id)
        self.vectors.drop(name)
        self.lexical.forget(name)

    @functools.cached_property
    def _s3(self) -> Any:
        return s3_client(self.settings)

    def source_for(self, ds: DataSource) -> Source:
        folder = folder_of(ds.configuration)
        if folder is not None:
            check_folder(folder, self.folder_roots)  # the roots may have changed since creation
            return FolderSource(folder)
        if ds.source_type == "S3":
            return S3Source(ds.configuration, self._s3)
        raise ValidationException(
            f"Data sources of type {ds.source_type} are ingested with IngestKnowledgeBaseDocuments"
        )

    def tenant_for(self, job: IngestionJob) -> Tenant:
        from model_layer.auth.keystore import policy_of
        from model_layer.state.tenants import TenantStore

        record = TenantStore(self.store.db).get_tenant(job.tenant_id)
        return Tenant(job.tenant_id, job.key_id, policy_of(record))

    # --- knowledge bases ------------------------------------------------------------------------

    async def get_knowledge_base(self, tenant: Tenant, knowledge_base_id: str) -> KnowledgeBase:
        """The tenant's KB, or ResourceNotFoundException (also for another tenant's KB)."""
        kb_id = knowledge_base_id.rsplit("/", 1)[-1]  # an ARN names the same KB
        kb = await asyncio.to_thread(self.store.get_kb, tenant.tenant_id, kb_id)
        if kb is None:
            raise ResourceNotFoundException(f"Knowledge base {knowledge_base_id} does not exist")
        return kb

    def _embedding_model(self, tenant: Tenant, configuration: dict[str, Any]) -> str:
        if configuration.get("type") != "VECTOR":
            raise ValidationException(
                f"Knowledge bases of type {configuration.get('type')} are not supported: use VECTOR"
            )
        vector = configuration.get("vectorKnowledgeBaseConfiguration") or {}
        arn = vector.get("embeddingModelArn")
        if not arn:
            raise ValidationException(
                "knowledgeBaseConfiguration.vectorKnowledgeBaseConfiguration is required"
            )
        try:
            model = self.models.get_model(foundation_model_id(arn), tenant)
        except ResourceNotFoundException:
            raise ValidationException(f"The embedding model {arn} is not available") from None
        if model.kind != "embedding":
            raise ValidationException(f"The model {arn} is not an embedding model")
        return model.model_id

    async def create_knowledge_base(self, tenant: Tenant, body: dict[str, Any]) -> KnowledgeBase:
        model_id = self._embedding_model(tenant, body["knowledgeBaseConfiguration"])
        at = now()
        kb = KnowledgeBase(
            new_id(), tenant.tenant_id, body["name"], body.get("description"), body["roleArn"],
            body["knowledgeBaseConfiguration"], body.get("storageConfiguration"), model_id, KB_ACTIVE,
            0, at, at,
        )  # fmt: skip
        await asyncio.to_thread(self.store.create_kb, kb)
        return kb

    async def update_knowledge_base(self, tenant: Tenant, kb_id: str, body: dict[str, Any]) -> KnowledgeBase:
        kb = await self.get_knowledge_base(tenant, kb_id)
        model_id = self._embedding_model(tenant, body["knowledgeBaseConfiguration"])
        if model_id != kb.embedding_model_id:
            raise ValidationException("The embedding model of a knowledge base cannot be changed")
        kb.name, kb.description, kb.role_arn = body["name"], body.get("description"), body["roleArn"]
        kb.configuration = body["knowledgeBaseConfiguration"]
        kb.storage = body.get("storageConfiguration", kb.storage)
        kb.updated_at = now()
        await asyncio.to_thread(self.store.update_kb, kb)
        return kb

    async def list_knowledge_bases(
        self, tenant: Tenant, offset: int, limit: int
    ) -> tuple[list[KnowledgeBase], str | None]:
        return await asyncio.to_thread(self.store.list_kbs, tenant.tenant_id, offset, limit)

    async def delete_knowledge_base(self, tenant: Tenant, kb_id: str) -> KnowledgeBase:
        """Stop its jobs, drop its collection and rows (a running job stops at its next batch)."""
        kb = await self.get_knowledge_base(tenant, kb_id)
        await asyncio.to_thread(self.store.stop_jobs_of, "knowledge_base_id", kb.knowledge_base_id)
        await asyncio.to_thread(self.store.delete_kb, kb.knowledge_base_id)
        await asyncio.to_thread(self.drop_collection, kb.tenant_id, kb.knowledge_base_id)
        await asyncio.to_thread(self.store.untag, self.kb_arn(kb))
        kb.status = "DELETING"
        return kb

    def kb_arn(self, kb: KnowledgeBase) -> str:
        from model_layer.knowledge.records import knowledge_base_arn

        return knowledge_base_arn(self.region, kb.tenant_id, kb.knowledge_base_id)

    # --- data sources ---------------------------------------------------------------------------

    def _check_source(self, configuration: dict[str, Any]) -> None:
        folder = folder_of(configuration)
        if folder is not None:
            check_folder(folder, self.folder_roots)
            return
        if configuration["type"] not in ("S3", "CUSTOM"):
            raise ValidationException(
                f"Data sources of type {configuration['type']} are not supported: use S3, CUSTOM, "
                "or WEB with one file:// seed URL (a local folder)"
            )
        if configuration["type"] == "S3" and not configuration.get("s3Configuration"):
            raise ValidationException("dataSourceConfiguration.s3Configuration is required for S3")

    async def get_data_source(self, tenant: Tenant, kb_id: str, ds_id: str) -> DataSource:
        kb = await self.get_knowledge_base(tenant, kb_id)
        ds = await asyncio.to_thread(self.store.get_ds, tenant.tenant_id, kb.knowledge_base_id, ds_id)
        if ds is None:
            raise ResourceNotFoundException(f"Data source {ds_id} does not exist in knowledge base {kb_id}")
        return ds

    async def create_data_source(self, tenant: Tenant, kb_id: str, body: dict[str, Any]) -> DataSource:
        kb = await self.get_knowledge_base(tenant, kb_id)
        self._check_source(body["dataSourceConfiguration"])
        at = now()
        ds = DataSource(
            new_id(), kb.knowledge_base_id, tenant.tenant_id, body["name"], body.get("description"),
            body["dataSourceConfiguration"], body.get("vectorIngestionConfiguration"),
            body.get("dataDeletionPolicy", "DELETE"), DS_AVAILABLE, at, at,
        )  # fmt: skip
        await asyncio.to_thread(self.store.create_ds, ds)
        return ds

    async def update_data_source(
        self, tenant: Tenant, kb_id: str, ds_id: str, body: dict[str, Any]
    ) -> DataSource:
        ds = await self.get_data_source(tenant, kb_id, ds_id)
        self._check_source(body["dataSourceConfiguration"])
        if body["dataSourceConfiguration"]["type"] != ds.source_type:
            raise ValidationException("The type of a data source cannot be changed")
        ds.name, ds.description = body["name"], body.get("description")
        ds.configuration = body["dataSourceConfiguration"]
        ds.ingestion = body.get("vectorIngestionConfiguration", ds.ingestion)
        ds.deletion_policy = body.get("dataDeletionPolicy", ds.deletion_policy)
        ds.updated_at = now()
        await asyncio.to_thread(self.store.update_ds, ds)
        return ds

    async def list_data_sources(
        self, tenant: Tenant, kb_id: str, offset: int, limit: int
    ) -> tuple[list[DataSource], str | None]:
        kb = await self.get_knowledge_base(tenant, kb_id)
        return await asyncio.to_thread(
            self.store.list_ds, tenant.tenant_id, kb.knowledge_base_id, offset, limit
        )

    async def delete_data_source(self, tenant: Tenant, kb_id: str, ds_id: str) -> DataSource:
        """DELETE policy: its chunks go too; RETAIN: they stay searchable."""
        ds = await self.get_data_source(tenant, kb_id, ds_id)
        kb = await self.get_knowledge_base(tenant, kb_id)
        await asyncio.to_thread(self.store.stop_jobs_of, "data_source_id", ds.data_source_id)
        if ds.deletion_policy == "DELETE":
            from model_layer.knowledge.retrieval import DATA_SOURCE_ID

            await asyncio.to_thread(
                self.vectors.delete_where, self.collection(kb), {DATA_SOURCE_ID: ds.data_source_id}
            )
            await asyncio.to_thread(self.store.bump_index_version, kb.knowledge_base_id)
        await asyncio.to_thread(self.store.delete_ds, ds.data_source_id)
        ds.status = "DELETING"
        return ds

    # --- ingestion jobs -------------------------------------------------------------------------

    async def start_ingestion_job(
        self, tenant: Tenant, kb_id: str, ds_id: str, description: str | None
    ) -> IngestionJob:
        ds = await self.get_data_source(tenant, kb_id, ds_id)
        if ds.source_type == "CUSTOM":
            raise ValidationException("CUSTOM data sources are ingested with IngestKnowledgeBaseDocuments")
        at = now()
        job = IngestionJob(
            new_id(), ds.knowledge_base_id, ds.data_source_id, tenant.tenant_id, tenant.key_id, description,
            JOB_STARTING, empty_statistics(), [], False, at, at,
        )  # fmt: skip
        await asyncio.to_thread(self.store.create_job, job)
        self.runner.wake()
        return job

    async def get_ingestion_job(self, tenant: Tenant, kb_id: str, ds_id: str, job_id: str) -> IngestionJob:
        ds = await self.get_data_source(tenant, kb_id, ds_id)
        job = await asyncio.to_thread(self.store.get_job, tenant.tenant_id, job_id)
        if job is None or job.data_source_id != ds.data_source_id:
            raise ResourceNotFoundException(f"Ingestion job {job_id} does not exist")
        return job

    async def stop_ingestion_job(self, tenant: Tenant, kb_id: str, ds_id: str, job_id: str) -> IngestionJob:
        job = await self.get_ingestion_job(tenant, kb_id, ds_id, job_id)
        if job.status not in ("STARTING", "IN_PROGRESS", "STOPPING"):
            from model_layer.errors import ConflictException

            raise ConflictException(f"Ingestion job {job_id} is {job.status} and cannot be stopped")
        await asyncio.to_thread(self.store.request_stop, job.ingestion_job_id)
        return await self.get_ingestion_job(tenant, kb_id, ds_id, job_id)

    async def list_ingestion_jobs(
        self,
        tenant: Tenant,
        kb_id: str,
        ds_id: str,
        statuses: list[str] | None,
        ascending: bool,
        offset: int,
        limit: int,
    ) -> tuple[list[IngestionJob], str | None]:
        ds = await self.get_data_source(tenant, kb_id, ds_id)
        return await asyncio.to_thread(
            self.store.list_jobs, tenant.tenant_id, ds.data_source_id, statuses, ascending, offset, limit
        )

    # --- retrieval ------------------------------------------------------------------------------

    async def retrieve(
        self,
        tenant: Tenant,
        knowledge_base_id: str,
        text: str,
        *,
        number_of_results: int = 5,
        search_type: str | None = None,
        filter: dict[str, Any] | None = None,
    ) -> list[RetrievalResult]:
        """Bedrock's Retrieve: the ``number_of_results`` best chunks for ``text``.

        ``search_type`` is ``HYBRID`` or ``SEMANTIC`` (default); ``filter`` is a RetrievalFilter.
        Raises ResourceNotFoundException for an unknown KB (or another tenant's), and
        ValidationException naming the field for a bad filter or count.
        """
        if not 1 <= number_of_results <= 100:
            raise ValidationException("numberOfResults must be between 1 and 100")
        if search_type is not None and search_type not in SEARCH_TYPES:
            raise ValidationException("overrideSearchType must be HYBRID or SEMANTIC")
        if filter is not None:
            check_filter(filter, "filter")
        kb = await self.get_knowledge_base(tenant, knowledge_base_id)
        if not text.strip():
            raise ValidationException("retrievalQuery.text must not be empty")
        vector = (await self.models.embed(tenant, kb.embedding_model_id, [text])).vectors[0]
        version = await asyncio.to_thread(self.store.index_version, kb.knowledge_base_id)
        return await asyncio.to_thread(
            search, self.vectors, self.lexical, self.collection(kb), version, text, vector,
            number_of_results, search_type == "HYBRID", filter,
        )  # fmt: skip

    # --- tags (any bedrock-agent resource's, keyed by ARN; ownership is checked by the caller) ---

    async def list_tags(self, resource_arn: str) -> dict[str, str]:
        return await asyncio.to_thread(self.store.tags, resource_arn)

    async def tag_resource(self, tenant: Tenant, resource_arn: str, tags: dict[str, str]) -> None:
        await asyncio.to_thread(self.store.tag, tenant.tenant_id, resource_arn, tags)

    async def untag_resource(self, resource_arn: str, keys: list[str]) -> None:
        await asyncio.to_thread(self.store.untag, resource_arn, keys)
