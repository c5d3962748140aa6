"""Documents in every supported format, written the way real tools write them (python-docx for
docx, a minimal but valid PDF with a Helvetica text stream for pdf), for ingestion tests."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any


def pdf_bytes(text: str) -> bytes:
    """A one-page PDF whose text pypdf (and any viewer) extracts as ``text``."""
    lines = [line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in text.splitlines()]
    stream = "BT /F1 11 Tf 14 TL 50 780 Td " + " ".join(f"({line}) Tj T*" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{n} 0 obj\n{body}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def docx_bytes(text: str) -> bytes:
    import docx

    document = docx.Document()
    for paragraph in text.split("\n\n"):
        document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def html_bytes(title: str, text: str) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
    return (
        f"<html><head><title>{title}</title><style>p {{color: red}}</style>"
        f"<script>var hidden = 'script text';</script></head><body><h1>{title}</h1>{body}</body></html>"
    ).encode()


def write(folder: Path, name: str, text: str, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``text`` as the format ``name``'s extension says, with an optional sidecar."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    ext = path.suffix
    if ext == ".pdf":
        path.write_bytes(pdf_bytes(text))
    elif ext == ".docx":
        path.write_bytes(docx_bytes(text))
    elif ext == ".html":
        path.write_bytes(html_bytes(path.stem, text))
    else:
        path.write_text(text, encoding="utf-8")
    if metadata is not None:
        sidecar = folder / f"{name}.metadata.json"
        sidecar.write_text(json.dumps({"metadataAttributes": metadata}), encoding="utf-8")
    return path


# A small corpus about distinct topics, in every format, with metadata for filter tests.
CORPUS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "volcanoes.txt",
        "Mount Etna on Sicily is one of the most active volcanoes in the world. Lava flows from its "
        "summit craters several times a year, and ash clouds sometimes close Catania airport.",
        {"topic": "geology", "year": 2021, "tags": ["italy", "volcano"], "reviewed": True},
    ),
    (
        "sourdough.md",
        "# Sourdough\n\nA sourdough starter is a culture of wild yeast and lactic acid bacteria. Feed it "
        "flour and water every day and keep it at room temperature so the bread rises well.",
        {"topic": "cooking", "year": 2019, "tags": ["bread", "baking"], "reviewed": False},
    ),
    (
        "penguins.html",
        "Emperor penguins breed during the Antarctic winter. The male keeps the egg warm on his feet "
        "for about two months while the female hunts for fish at sea.",
        {"topic": "biology", "year": 2023, "tags": ["antarctica", "birds"], "reviewed": True},
    ),
    (
        "rates.csv",
        "plan,monthly_price,data\nBasic,10 dollars,5 gigabytes\nUnlimited,45 dollars,unlimited gigabytes",
        {"topic": "billing", "year": 2024, "tags": ["prices"], "reviewed": True},
    ),
    (
        "warranty.docx",
        "The laptop warranty covers hardware defects for two years from the date of purchase.\n\n"
        "Accidental damage such as a cracked screen or spilled coffee is not covered.",
        {"topic": "support", "year": 2022, "tags": ["laptop", "warranty"], "reviewed": False},
    ),
    (
        "telescope.pdf",
        "The James Webb Space Telescope observes the universe in infrared light.\n"
        "Its gold-coated mirror is six and a half metres across and sits far beyond the Moon.",
        {"topic": "astronomy", "year": 2022, "tags": ["space", "nasa"], "reviewed": True},
    ),
]


def write_corpus(folder: Path) -> dict[str, Path]:
    return {name: write(folder, name, text, meta) for name, text, meta in CORPUS}
