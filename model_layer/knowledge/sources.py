"""Where documents come from: an S3 bucket (through boto3, so AWS, moto's server or any
S3-compatible store works), a local folder (strata's extension: a WEB data source whose seed URL
is ``file:///path``), and CUSTOM documents pushed through IngestKnowledgeBaseDocuments.

A source lists :class:`SourceDocument` entries with a content hash (S3: the object's ETag; a
folder: SHA-256 of the bytes) and its sidecar's hash, so re-ingestion touches only what changed.
``<file>.metadata.json`` sidecars are never documents of their own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from model_layer.errors import ValidationException
from model_layer.knowledge.parsing import METADATA_SUFFIX


@dataclass
class SourceDocument:
    uri: str
    content_hash: str
    metadata_hash: str | None
    size: int


class Source(Protocol):
    def list(self) -> Iterator[SourceDocument]: ...

    def read(self, uri: str) -> bytes: ...

    def read_metadata(self, uri: str) -> bytes | None: ...

    def location(self, uri: str) -> dict[str, Any]: ...


def folder_of(configuration: dict[str, Any]) -> Path | None:
    """The folder of a ``file://`` WEB data source, or None for any other source."""
    if configuration.get("type") != "WEB":
        return None
    seeds = configuration.get("webConfiguration", {}).get("sourceConfiguration", {})
    urls = [s.get("url", "") for s in seeds.get("urlConfiguration", {}).get("seedUrls", [])]
    files = [u for u in urls if u.startswith("file://")]
    if not files:
        return None
    if len(files) != len(urls) or len(files) > 1:
        raise ValidationException("A local-folder data source takes exactly one file:// seed URL")
    return Path(unquote(urlparse(files[0]).path))


def check_folder(folder: Path, allowed: list[Path]) -> None:
    """Folder sources may only read under the configured roots (STRATA_KB_FOLDER_ROOTS)."""
    resolved = folder.resolve()
    if not any(resolved == root or root in resolved.parents for root in allowed):
        raise ValidationException(
            f"The folder {folder} is not under a folder this gateway serves (STRATA_KB_FOLDER_ROOTS)"
        )


class FolderSource:
    def __init__(self, folder: Path):
        self.folder = folder.resolve()

    def list(self) -> Iterator[SourceDocument]:
        if not self.folder.is_dir():
            raise ValidationException(f"The folder {self.folder} does not exist")
        for path in sorted(self.folder.rglob("*")):
            if not path.is_file() or path.name.endswith(METADATA_SUFFIX) or path.is_symlink():
                continue
            sidecar = path.with_name(path.name + METADATA_SUFFIX)
            yield SourceDocument(
                path.as_uri(),
                _sha256_file(path),
                _sha256_file(sidecar) if sidecar.is_file() else None,
                path.stat().st_size,
            )

    def _path(self, uri: str) -> Path:
        path = Path(unquote(urlparse(uri).path)).resolve()
        if self.folder not in path.parents:  # a uri from the ledger must stay inside the folder
            raise ValidationException("document outside the data source's folder")
        return path

    def read(self, uri: str) -> bytes:
        return self._path(uri).read_bytes()

    def read_metadata(self, uri: str) -> bytes | None:
        path = self._path(uri)
        sidecar = path.with_name(path.name + METADATA_SUFFIX)
        return sidecar.read_bytes() if sidecar.is_file() else None

    def location(self, uri: str) -> dict[str, Any]:
        return {"type": "WEB", "webLocation": {"url": uri}}


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bucket_of(bucket_arn: str) -> str:
    return bucket_arn.rsplit(":", 1)[-1]


class S3Source:
    def __init__(self, configuration: dict[str, Any], client: Any):
        s3 = configuration["s3Configuration"]
        self.bucket = bucket_of(s3["bucketArn"])
        self.prefixes = s3.get("inclusionPrefixes") or [""]
        self.client = client

    def list(self) -> Iterator[SourceDocument]:
        objects: dict[str, dict[str, Any]] = {}
        paginator = self.client.get_paginator("list_objects_v2")
        for prefix in self.prefixes:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    objects[obj["Key"]] = obj
        for key in sorted(objects):
            if key.endswith(METADATA_SUFFIX) or key.endswith("/"):
                continue
            sidecar = objects.get(key + METADATA_SUFFIX)
            obj = objects[key]
            yield SourceDocument(
                f"s3://{self.bucket}/{key}",
                obj["ETag"].strip('"'),
                sidecar["ETag"].strip('"') if sidecar else None,
                obj["Size"],
            )

    def _key(self, uri: str) -> str:
        return uri.split(f"s3://{self.bucket}/", 1)[1]

    def read(self, uri: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(uri))["Body"].read()

    def read_metadata(self, uri: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(uri) + METADATA_SUFFIX)[
                "Body"
            ].read()
        except self.client.exceptions.NoSuchKey:
            return None

    def location(self, uri: str) -> dict[str, Any]:
        return {"type": "S3", "s3Location": {"uri": uri}}


def s3_client(settings: Any) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60),
    )


def custom_location(document_id: str) -> dict[str, Any]:
    return {"type": "CUSTOM", "customDocumentLocation": {"id": document_id}}
