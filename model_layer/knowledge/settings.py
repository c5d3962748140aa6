"""The knowledge subsystem's settings, read once from ``STRATA_KB_*`` environment variables.

| setting | default | what |
|---|---|---|
| ``STRATA_KB_VECTOR_STORE`` | ``chroma`` | the vector-store plug-in (``strata.vector_stores`` group) |
| ``STRATA_KB_CHROMA_URL`` | unset | a Chroma server (``http://host:8000``); unset: embedded Chroma |
| ``STRATA_KB_CHROMA_PATH`` | ``$STRATA_HOME/chroma`` | the embedded Chroma's directory |
| ``STRATA_KB_S3_ENDPOINT_URL`` | unset | S3 data sources' endpoint (moto's server, MinIO, …); unset: AWS |
| ``STRATA_KB_S3_REGION`` | ``us-east-1`` | their region |
| ``STRATA_KB_FOLDER_ROOTS`` | unset | folders ``file://`` data sources may read (``:``-separated) |
| ``STRATA_KB_MAX_FILE_BYTES`` | 50,000,000 | larger files count as failed (AWS's limit) |
| ``STRATA_KB_EMBED_BATCH`` | 64 | chunks per embeddings call during ingestion |
| ``STRATA_KB_JOB_LEASE_S`` | 30 | a job whose runner sent no heartbeat for this long is taken over |
| ``STRATA_KB_MAX_CONCURRENT_JOBS`` | 2 | ingestion jobs one replica runs at once |
| ``STRATA_KB_RETRIEVE_PAGE_BYTES`` | 1,000,000 | JSON bytes of Retrieve results per page (``nextToken``) |

S3 credentials come from the usual AWS chain (``AWS_ACCESS_KEY_ID``…, a profile, a role).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class KnowledgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STRATA_KB_", extra="ignore")

    vector_store: str = "chroma"
    chroma_url: str | None = None
    chroma_path: Path | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    folder_roots: str | None = None
    max_file_bytes: int = Field(50_000_000, ge=1)
    embed_batch: int = Field(64, ge=1, le=2048)
    job_lease_s: float = Field(30.0, gt=0)
    max_concurrent_jobs: int = Field(2, ge=1)
    retrieve_page_bytes: int = Field(1_000_000, ge=1)

    def allowed_folders(self) -> list[Path]:
        if not self.folder_roots:
            return []
        return [Path(p).resolve() for p in self.folder_roots.split(":") if p]
