"""Helpers shared by the page and API tests (no fixtures here)."""

from __future__ import annotations

import pickle
from pathlib import Path

# A port nothing listens on: connecting is refused at once.
CLOSED_REDIS = "redis://127.0.0.1:1/0?socket_connect_timeout=1&socket_timeout=1"


def stored_files(settings) -> list[Path]:
    """Every file under MEDIA_ROOT/datasets, where data set versions are stored."""
    root = Path(settings.MEDIA_ROOT) / "datasets"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def stored_suffixes(settings) -> list[str]:
    """The extensions of the stored files, sorted (".parquet", ".upload")."""
    return sorted(p.suffix for p in stored_files(settings))


def leftover_files(folder: Path) -> list[Path]:
    return [p for p in Path(folder).rglob("*") if p.is_file()]


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


class _Canary:
    """Unpickling this creates a file: proof that code from an upload ran."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def pickle_bytes(canary: Path) -> bytes:
    return pickle.dumps(_Canary(canary))


# One file per way an upload can be wrong, with the message the user must see.
# Those in REFUSED_AT_UPLOAD are refused by the request itself (from the name and
# size); the others by the ingest job, which is the only code that reads a file.
REFUSED_AT_UPLOAD = frozenset({"exe", "pdf"})
BAD_UPLOADS = {
    "header-only": (
        "data.csv",
        b"age,income,city\n",
        "The file has column names but no data rows.",
    ),
    "binary-garbage": (
        "data.csv",
        bytes(range(256)) * 40,
        "This file contains binary data, not text.",
    ),
    "ragged-rows": (
        "data.csv",
        b"a,b\n1,2\n3\n",
        "Row 3 has 1 fields but the header has 2 columns",
    ),
    "duplicate-columns": (
        "data.csv",
        b"a,b,a\n1,2,3\n",
        "Column names must be unique; repeated:",
    ),
    "empty-column-name": (
        "data.csv",
        b"a,,c\n1,2,3\n",
        "Column 2 has no name. Every column needs a name in the header row.",
    ),
    "exe": (
        "tool.exe",
        b"MZ\x90\x00\x03\x00\x00\x00",
        "Files ending in '.exe' are not supported.",
    ),
    "pdf": (
        "report.pdf",
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
        "Files ending in '.pdf' are not supported.",
    ),
    "unclosed-quote": (
        "data.csv",
        b'a,b\n1,x\n2,"y\n3,z\n',
        'A quote (") opened on line 3 is never closed',
    ),
}
