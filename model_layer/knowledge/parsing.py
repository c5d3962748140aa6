"""Turning a document's bytes into text, by file type, with maintained parsers; and AWS's
``<file>.metadata.json`` sidecars into metadata attributes.

txt/md as UTF-8 text, html with BeautifulSoup (scripts and styles dropped), pdf with pypdf,
docx with python-docx (paragraphs and tables), csv with the standard library (each row as
``column: value`` lines, so a row stays together in a chunk). A file that cannot be parsed
raises :class:`DocumentError` with a reason fit for the job's failure list; it never aborts a job.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".csv")
METADATA_SUFFIX = ".metadata.json"


class DocumentError(Exception):
    """A document that cannot be ingested; ``str(exc)`` is the reason shown to the user."""


def extension(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot >= 0 else ""


def is_supported(name: str) -> bool:
    return extension(name) in SUPPORTED


def parse(name: str, data: bytes) -> str:
    """The text of a document; :class:`DocumentError` if its type is unsupported or it is corrupt."""
    ext = extension(name)
    parser = _PARSERS.get(ext)
    if parser is None:
        raise DocumentError(f"Unsupported file type {ext or '(none)'}: supported are {', '.join(SUPPORTED)}")
    try:
        text = parser(data)
    except DocumentError:
        raise
    except Exception as exc:  # every parser has its own exception tree; the reason is what matters
        raise DocumentError(f"The {ext[1:]} file could not be parsed ({type(exc).__name__})") from exc
    if not text.strip():
        raise DocumentError("The document contains no text")
    return text


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DocumentError("The file is not valid UTF-8 text") from None


def _html(data: bytes) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")
    for tag in soup(["script", "style", "noscript"]):
        tag.decompose()
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    return "\n".join(line for line in lines if line)


def _pdf(data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages)


def _docx(data: bytes) -> str:
    import docx

    document = docx.Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text.strip() for cell in row.cells))
    return "\n".join(parts)


def _csv(data: bytes) -> str:
    rows = list(csv.reader(io.StringIO(_text(data))))
    if not rows:
        return ""
    header, body = rows[0], rows[1:]
    if not body:
        return ", ".join(header)
    records = []
    for row in body:
        pairs = [f"{h}: {v}" for h, v in zip(header, row, strict=False) if v.strip()]
        records.append("\n".join(pairs))
    return "\n\n".join(records)


_PARSERS = {
    ".txt": _text,
    ".md": _text,
    ".markdown": _text,
    ".html": _html,
    ".htm": _html,
    ".pdf": _pdf,
    ".docx": _docx,
    ".csv": _csv,
}


def parse_metadata(data: bytes) -> dict[str, Any]:
    """A ``.metadata.json`` sidecar's attributes: ``{"metadataAttributes": {key: value}}``.

    Values are strings, numbers, booleans or lists of strings, or AWS's typed form
    (``{"value": {"type": "STRING", "stringValue": …}, "includeForEmbedding": true}``).
    """
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise DocumentError("The metadata file is not valid JSON") from None
    attributes = doc.get("metadataAttributes") if isinstance(doc, dict) else None
    if not isinstance(attributes, dict):
        raise DocumentError("The metadata file has no metadataAttributes object")
    return {str(k): attribute_value(v) for k, v in attributes.items()}


def attribute_value(value: Any) -> Any:
    """One attribute value, plain or typed (``{"value": {"type", "stringValue"…}}``), as plain JSON."""
    if isinstance(value, dict):
        typed = value.get("value", value)
        kind = typed.get("type") if isinstance(typed, dict) else None
        field = {"STRING": "stringValue", "NUMBER": "numberValue", "BOOLEAN": "booleanValue"}.get(kind or "")
        if field:
            return typed.get(field)
        if kind == "STRING_LIST":
            return [str(v) for v in typed.get("stringListValue", [])]
        raise DocumentError(f"Unsupported metadata value {json.dumps(value)[:80]}")
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise DocumentError("Metadata lists may only hold strings")
        return value
    if isinstance(value, str | int | float | bool):
        return value
    raise DocumentError(f"Unsupported metadata value {json.dumps(value)[:80]}")
