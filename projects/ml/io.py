"""Reading uploaded tables safely, and writing Parquet atomically.

Everything a user uploads goes through :func:`read_table`. It looks at the bytes
before it trusts the file name, refuses what it must never load (pickles), and turns
every problem a user can cause into a :class:`DataFileError` with a one-line message.

Pure pandas / pyarrow: this module never imports Django.
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import csv
import hashlib
import io
import json
import lzma
import os
import pickletools
import re
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any
from xml.etree import ElementTree as ET

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "DataFileError",
    "ReadLimits",
    "TableInfo",
    "read_parquet",
    "read_table",
    "release_memory",
    "sha256_file",
    "source_kind",
    "table_to_frame",
    "write_parquet",
]

SUPPORTED_EXTENSIONS: tuple[str, ...] = (
    ".csv",
    ".tsv",
    ".txt",
    ".parquet",
    ".jsonl",
    ".ndjson",
    ".xlsx",
    ".xls",
)

_EXTENSION_KIND = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".xlsx": "excel",
    ".xls": "excel",
}
_KIND_LABEL = {
    "csv": "CSV",
    "parquet": "Parquet",
    "jsonl": "JSON Lines",
    "excel": "Excel",
    "xlsx": "Excel",
    "xls": "Excel",
}

# Bytes looked at before parsing: enough for encoding and delimiter sniffing, and
# for refusing a huge header early. Never the whole file.
_HEAD_BYTES = 1 << 20
# Delimiter sniffing uses at most this many characters and records of the head.
_SNIFF_CHARS = 64 * 1024
_SNIFF_RECORDS = 200
# pyarrow parses CSV / JSON in blocks (in parallel); one row must fit in one block.
# Small blocks parse fastest; files whose first line is already long get big ones.
_BLOCK_BYTES = 4 << 20
_WIDE_BLOCK_BYTES = 64 << 20
# Python-side scans that only run to explain an error are skipped above this size.
_SCAN_LIMIT_BYTES = 256 << 20
# An xlsx is a ZIP archive: refuse one that would expand to more than this.
_XLSX_MAX_UNCOMPRESSED = 1 << 30

_DELIMITERS = (",", ";", "\t", "|")
# Bytes 0x80-0x9f that are not defined in Windows-1252.
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")
_NOT_C1 = bytes(b for b in range(256) if not 0x80 <= b <= 0x9F)
# C0 control characters that do not belong in a text table.
_CONTROL_CHARS = frozenset(chr(c) for c in range(32)) - set("\t\n\r\f\v\x1a")

_INDEX_COLUMN = re.compile(r"__index_level_\d+__")
_PATHLIKE = re.compile(r"(?:[A-Za-z]:)?[\\/][^\s'\"]*")
_ROW_NUMBER = re.compile(r"Row #-?\d+: ")


class DataFileError(ValueError):
    """A user-caused problem with an uploaded file.

    ``str(err)`` is a clear, one-line message for the user; ``code`` is a stable
    identifier for programs and tests. Codes: ``empty``, ``header_only``,
    ``binary``, ``encoding``, ``ragged``, ``duplicate_columns``,
    ``empty_column_name``, ``unsupported_extension``, ``unsupported_content``,
    ``pickle``, ``too_many_columns``, ``too_many_rows``, ``too_large``,
    ``line_too_long``, ``nested``, ``invalid_json``, ``mixed_types``,
    ``unreadable``.

    Parameters
    ----------
    message : str
        One line, written for the person who uploaded the file.
    code : str
        Machine-readable reason.
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"DataFileError({self.message!r}, code={self.code!r})"


@dataclass(frozen=True)
class ReadLimits:
    """Budgets a file must stay within; checked as early as the format allows."""

    max_rows: int = 20_000_000
    max_columns: int = 2_000
    # The in-memory size the decoded table may take (None: no budget).
    max_bytes: int | None = 2 * 1024**3


@dataclass(frozen=True)
class TableInfo:
    """What :func:`read_table` found out about a file.

    ``source_format`` is the format of the content (which wins over the extension
    when the bytes are unambiguous, e.g. a Parquet file named ``.csv``).
    """

    source_format: str
    encoding: str | None
    delimiter: str | None
    n_rows: int
    n_columns: int
    schema: list[dict]


# ---------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------


def read_table(
    path: str | os.PathLike,
    *,
    filename: str,
    limits: ReadLimits = ReadLimits(),
) -> tuple[pa.Table, TableInfo]:
    """Read an uploaded table file into a pyarrow Table.

    The content's magic bytes are checked before the extension is trusted;
    pickles and other model files are refused and never deserialised.

    Parameters
    ----------
    path : str or os.PathLike
        Where the uploaded bytes are on the server.
    filename : str
        The user's original file name. Only its extension is used, never as a path.
    limits : ReadLimits, optional
        Row and column budgets.

    Returns
    -------
    table : pyarrow.Table
        The data, with column names stripped of surrounding whitespace.
    info : TableInfo
        Format, encoding, delimiter, shape and schema of what was read.

    Raises
    ------
    DataFileError
        For any problem with the file's content; ``str(err)`` is for the user.
    OSError
        Only if ``path`` itself cannot be opened (a server problem, not the user's).
    """
    kind = source_kind(filename)
    extension = _extension(filename)
    path = os.fspath(path)
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        head = handle.read(_HEAD_BYTES)
        if size > len(head):
            handle.seek(max(size - 8, 0))
            tail = handle.read(8)
        else:
            tail = head[-8:]
    if size == 0 or not head:
        raise DataFileError("The file is empty.", code="empty")

    content = "text"
    try:
        content = _sniff_content(head, tail, size, path, kind)
        if content == "parquet":
            table, info = _read_parquet_file(path, limits)
        elif content in ("xlsx", "xls"):
            table, info = _read_excel(path, content, limits)
        else:
            _refuse_mismatch(kind, content)
            encoding = _detect_encoding(head, complete=size <= len(head))
            text = _decode_head(head, encoding, complete=size <= len(head))
            _check_text(text, head, encoding)
            if kind == "jsonl":
                table, info = _read_jsonl(path, size, encoding, text)
            else:
                table, info = _read_csv(
                    path, extension, encoding, text, size <= len(head), limits
                )
        table, info = _finish(table, info, limits)
        _check_table_budget(table, limits)
        return table, info
    except DataFileError:
        raise
    except MemoryError:
        raise DataFileError(
            "The file is too large to load into memory.", code="too_large"
        ) from None
    except Exception as exc:
        label = _KIND_LABEL.get(content, _KIND_LABEL[kind])
        raise DataFileError(
            f"Could not read this {label} file: {_clean_message(exc, path)}",
            code="unreadable",
        ) from None


def source_kind(filename: str) -> str:
    """The reader a file name asks for (``csv``, ``parquet``, ``jsonl``, ``excel``).

    Only the extension is looked at (the content is checked when it is read), so
    an upload can be refused at once, before anything is stored or parsed.

    Raises
    ------
    DataFileError
        ``unsupported_extension`` for any other extension.
    """
    extension = _extension(filename)
    kind = _EXTENSION_KIND.get(extension)
    if kind is None:
        shown = f"'{extension}'" if extension else "without an extension"
        raise DataFileError(
            f"Files {'ending in ' if extension else ''}{shown} are not supported. "
            f"Upload one of: {', '.join(SUPPORTED_EXTENSIONS)}.",
            code="unsupported_extension",
        )
    return kind


def table_to_frame(table: pa.Table) -> pd.DataFrame:
    """The pandas frame :func:`read_parquet` gives for a table, without a file.

    The table's buffers are released column by column as the frame is built, so
    the caller must not use ``table`` afterwards.
    """
    # Parquet has no second-resolution times: the stored file holds milliseconds.
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.unit == "s":
            stored = pa.timestamp("ms", tz=field.type.tz)
        elif pa.types.is_time32(field.type) and field.type.unit == "s":
            stored = pa.time32("ms")
        else:
            continue
        table = table.set_column(i, field.name, table.column(i).cast(stored))
    frame = table.to_pandas(date_as_object=False, self_destruct=True)
    release_memory()
    return frame


def write_parquet(table: pa.Table, path: str | os.PathLike) -> tuple[str, int]:
    """Write a table as Parquet atomically.

    The bytes go to a temporary file in the destination directory, are flushed and
    fsynced, then renamed over ``path``; readers see the old file or the new one,
    never a partial one.

    Parameters
    ----------
    table : pyarrow.Table
        The data to write.
    path : str or os.PathLike
        Destination file; its directory must exist.

    Returns
    -------
    sha256 : str
        Hex digest of the written file.
    size : int
        Size of the written file in bytes.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp_path = tempfile.mkstemp(
        dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp"
    )
    try:
        os.close(fd)
        # Arrow writes to the path natively (no Python file object in the loop,
        # which costs a GIL round trip per page); the hash is read back from the page
        # cache, which is cheaper than hashing on the way out.
        pq.write_table(table, tmp_path, use_dictionary=_dictionary_columns(table))
        with open(tmp_path, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
            size = os.fstat(handle.fileno()).st_size
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_path)
        raise
    fsync_directory(directory)
    return digest, size


# Dictionary-encode a text column only if a sample of it repeats values: for ids and
# free text, Parquet's dictionary fills up and falls back to plain encoding anyway,
# after spending the time to build it.
_DICTIONARY_SAMPLE_ROWS = 50_000
_DICTIONARY_MAX_DISTINCT_SHARE = 0.5


def _dictionary_columns(table: pa.Table) -> list[str]:
    chosen = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            sample = column.slice(0, _DICTIONARY_SAMPLE_ROWS)
            present = len(sample) - sample.null_count
            distinct = pc.count_distinct(sample).as_py()
            if distinct > present * _DICTIONARY_MAX_DISTINCT_SHARE:
                continue
        chosen.append(field.name)
    return chosen


def release_memory() -> None:
    """Give memory Arrow's allocator keeps cached for reuse back to the system.

    Call after a large table is dropped in a long-lived process (a web worker after
    an upload), so the next request does not start from the last one's peak.
    """
    pa.default_memory_pool().release_unused()


def read_parquet(
    path: str | os.PathLike,
    columns: list[str] | None = None,
    head: int | None = None,
) -> pd.DataFrame:
    """Read a Parquet file written by :func:`write_parquet` into pandas.

    Parameters
    ----------
    path : str or os.PathLike
        The Parquet file.
    columns : list of str, optional
        Only these columns, in this order; all columns when None.
    head : int, optional
        Only the first ``head`` rows, read without decoding the rest of the file.

    Returns
    -------
    pandas.DataFrame
        Text columns use pandas' string dtype; dates become ``datetime64``.
    """
    # Dates as datetime64 rather than Python date objects in an object column.
    to_pandas = {"date_as_object": False}
    if head is not None:
        parquet = pq.ParquetFile(os.fspath(path))
        batches = parquet.iter_batches(batch_size=max(head, 1), columns=columns)
        first = next(batches, None)
        table = (
            pa.Table.from_batches([first])
            if first is not None
            else parquet.schema_arrow.empty_table()
        )
        frame = table.to_pandas(**to_pandas)
    else:
        frame = pd.read_parquet(
            os.fspath(path),
            columns=columns,
            engine="pyarrow",
            to_pandas_kwargs=to_pandas,
        )
    # The Arrow table pandas was converted from is gone; do not keep its pages.
    release_memory()
    return frame


def sha256_file(path: str | os.PathLike) -> str:
    """Return the hex sha256 digest of a file, read in chunks.

    Parameters
    ----------
    path : str or os.PathLike
        The file to hash.

    Returns
    -------
    str
        64 lowercase hex characters.
    """
    with open(os.fspath(path), "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# ---------------------------------------------------------------------------
# Content sniffing
# ---------------------------------------------------------------------------

_PICKLE_MESSAGE = (
    "This is a Python pickle/joblib file{what}. Such files can run code when "
    "opened, so they are never loaded. Upload the data as CSV, TSV, Parquet, "
    "JSON Lines or Excel instead."
)

_BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\x7fELF", "an executable program"),
    (b"\x93NUMPY", "a NumPy array file"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file"),
    (b"ARROW1\x00\x00", "an Arrow/Feather file"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"Obj\x01", "an Avro file"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x28\xb5\x2f\xfd", "a Zstandard-compressed file"),
    (b"\x04\x22\x4d\x18", "an LZ4-compressed file"),
    (b"{\\rtf", "an RTF document"),
)

_HTML_STARTS = (
    "<!doctype html",
    "<html",
    "<head",
    "<body",
    "<meta",
    "<title",
    "<script",
    "<table",
    "<div",
    "<!--",
)


def _extension(filename: str) -> str:
    name = str(filename).replace("\\", "/").rsplit("/", 1)[-1].strip()
    return os.path.splitext(name)[1].lower()[:20]


def _sniff_content(head: bytes, tail: bytes, size: int, path: str, kind: str) -> str:
    """Classify the bytes: a readable format, ``text``, or raise DataFileError."""
    if _is_pickle(head):
        raise DataFileError(_PICKLE_MESSAGE.format(what=""), code="pickle")
    if head.startswith(b"PAR1") and size >= 12 and tail.endswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PAR1") and kind == "parquet":
        raise DataFileError(
            "This Parquet file is incomplete or damaged (its footer is missing).",
            code="unsupported_content",
        )
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return _sniff_zip(path)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "xls"  # OLE2 container: legacy Excel (or Word, which calamine refuses)
    if head.startswith(b"ZF0x"):  # joblib's old compressed pickle format
        raise DataFileError(_PICKLE_MESSAGE.format(what=" (compressed)"), code="pickle")
    compressed = _sniff_compressed(head)
    if compressed is not None:
        label, inner = compressed
        if _is_pickle(inner):
            raise DataFileError(
                _PICKLE_MESSAGE.format(what=f" ({label}-compressed)"), code="pickle"
            )
        raise DataFileError(
            f"This is a {label}-compressed file. Decompress it and upload the file "
            "inside.",
            code="unsupported_content",
        )
    for magic, what in _BINARY_MAGIC:
        if head.startswith(magic):
            raise DataFileError(
                f"This is {what}, not a data table.", code="unsupported_content"
            )
    start = _strip_bom(head[:512]).lstrip().lower()
    if start.startswith(b"<?xml") or start.startswith(b"<svg"):
        raise DataFileError(
            "This is an XML document, not a data table.", code="unsupported_content"
        )
    if any(start.startswith(tag.encode()) for tag in _HTML_STARTS):
        raise DataFileError(
            "This is an HTML web page, not a data table. If you saved it from a "
            "browser, download the data file itself instead.",
            code="unsupported_content",
        )
    return "text"


def _strip_bom(data: bytes) -> bytes:
    if data.startswith(codecs.BOM_UTF8):
        return data[3:]
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="ignore").encode()
    return data


def _is_pickle(head: bytes) -> bool:
    """True for pickle data, checked by looking at opcodes only (never executed)."""
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    if not head or head[:1] not in b"(cdlI]}NSVK)\x80":
        return False
    # Protocols 0 and 1 have no header: walk the opcodes (pickletools only parses,
    # it never imports or calls anything). Text tables fail within a few bytes.
    count = 0
    try:
        for opcode, _arg, pos in pickletools.genops(head):
            count += 1
            if opcode.name == "STOP":
                # A pickle ends at STOP; text that merely parses for a few opcodes
                # (a header such as "data.x,...") goes on after it.
                return count >= 3 and not head[pos + 1 :].strip()
            if count >= 200:
                return True
    except Exception:
        return False
    return False


def _sniff_zip(path: str) -> str:
    """Tell an xlsx workbook from other ZIP archives (reads the directory only)."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except Exception:  # zipfile raises several types for damaged archives
        raise DataFileError(
            "This is a damaged ZIP archive, not a data table.",
            code="unsupported_content",
        ) from None
    names = {info.filename for info in infos}
    lowered = {name.lower() for name in names}
    if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
        total = sum(info.file_size for info in infos)
        if total > _XLSX_MAX_UNCOMPRESSED:
            raise DataFileError(
                f"This workbook expands to {total / 2**30:.1f} GB, more than the "
                f"{_XLSX_MAX_UNCOMPRESSED / 2**30:.0f} GB allowed.",
                code="too_large",
            )
        return "xlsx"
    model_suffixes = (".pkl", ".pickle", ".joblib", ".skops", ".pt", ".pth")
    if "schema.json" in lowered or any(n.endswith(model_suffixes) for n in lowered):
        raise DataFileError(
            "This is a saved model archive (pickle/joblib/skops). Such files can run "
            "code when opened, so they are never loaded.",
            code="pickle",
        )
    if "word/document.xml" in names:
        what = "a Word document"
    elif "mimetype" in names:
        what = "an OpenDocument file (save it as .xlsx or .csv)"
    else:
        what = "a ZIP archive"
    raise DataFileError(
        f"This is {what}, not a data table. Upload a single CSV, TSV, Parquet, "
        "JSON Lines or Excel file.",
        code="unsupported_content",
    )


def _sniff_compressed(head: bytes) -> tuple[str, bytes] | None:
    """Return (label, first decompressed bytes) for compressed data, else None."""
    candidates: list[tuple[str, Any]] = []
    if head.startswith(b"\x1f\x8b"):
        candidates.append(("gzip", zlib.decompressobj(wbits=31)))
    elif head.startswith(b"BZh") and head[3:4].isdigit():
        candidates.append(("bzip2", bz2.BZ2Decompressor()))
    elif head.startswith(b"\xfd7zXZ\x00"):
        candidates.append(("xz", lzma.LZMADecompressor(format=lzma.FORMAT_XZ)))
    elif head.startswith(b"\x5d\x00\x00"):
        candidates.append(("lzma", lzma.LZMADecompressor(format=lzma.FORMAT_ALONE)))
    elif len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        candidates.append(("zlib", zlib.decompressobj()))
    for label, decompressor in candidates:
        try:
            inner = decompressor.decompress(head[:65536], 256)
        except (OSError, EOFError, ValueError, lzma.LZMAError):
            continue  # not really compressed; the text checks will judge it
        if inner:
            return label, inner
    return None


def _refuse_mismatch(kind: str, content: str) -> None:
    """A binary extension whose content is text: say what it really looks like."""
    if kind == "parquet":
        raise DataFileError(
            "This is not a Parquet file (it does not start with the Parquet "
            "signature); it looks like text. If it is CSV, name it .csv.",
            code="unsupported_content",
        )
    if kind == "excel":
        raise DataFileError(
            "This is not an Excel workbook; it looks like text. If it is CSV, "
            "name it .csv.",
            code="unsupported_content",
        )


# ---------------------------------------------------------------------------
# Text: encoding, binary check, delimiter
# ---------------------------------------------------------------------------


def _detect_encoding(head: bytes, *, complete: bool) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    utf16 = _utf16_without_bom(head)
    if utf16 is not None:
        return utf16
    try:
        # An incremental decoder tolerates a multi-byte character cut off at the
        # end of the sample, and only there.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
    except UnicodeDecodeError:
        return _single_byte_encoding(head)
    return "utf-8"


def _single_byte_encoding(head: bytes) -> str:
    c1 = {b for b in head if 0x80 <= b <= 0x9F}
    if c1 and not (c1 & _CP1252_UNDEFINED):
        return "cp1252"  # Excel on Windows: curly quotes, euro sign, dashes
    return "latin-1"


def _utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le`` / ``utf-16-be`` for text whose every other byte is mostly 0.

    Tables are mostly ASCII (digits, delimiters, Latin names), whose UTF-16 form has
    a zero high byte: zeros at odd offsets are little-endian, at even offsets
    big-endian. Text with few ASCII characters is not detected (and is refused as
    binary, with a hint about UTF-16).
    """
    sample = head[:4096]
    sample = sample[: len(sample) - len(sample) % 2]
    if len(sample) < 8 or b"\x00" not in sample:
        return None
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    half = len(sample) // 2
    if max(even, odd) <= 0.4 * half or min(even, odd) >= 0.05 * half:
        return None
    return "utf-16-le" if odd > even else "utf-16-be"


def _decode_head(head: bytes, encoding: str, *, complete: bool) -> str:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        return decoder.decode(head, final=complete)
    except UnicodeDecodeError:
        raise DataFileError(
            f"The file is not valid {encoding.upper()} text.", code="encoding"
        ) from None


def _check_text(text: str, head: bytes, encoding: str) -> None:
    if not encoding.startswith("utf-16") and b"\x00" in head:
        raise _binary_error()
    if not text.strip():
        return
    controls = sum(text.count(ch) for ch in _CONTROL_CHARS)
    if controls > max(2, 0.05 * len(text)):
        raise _binary_error()


def _binary_error() -> DataFileError:
    return DataFileError(
        "This file contains binary data, not text. Upload a CSV, TSV, Parquet, "
        "JSON Lines or Excel file.",
        code="binary",
    )


def _sniff_lines(text: str, complete: bool) -> list[str]:
    """The complete lines of the sniff window (empty if the first is longer)."""
    window = text[:_SNIFF_CHARS]
    if not (complete and len(text) <= _SNIFF_CHARS):
        cut = max(window.rfind("\n"), window.rfind("\r"))
        window = window[:cut] if cut > 0 else ""
    # newline="" keeps line ends as they are and splits only at \n, \r and \r\n.
    return list(io.StringIO(window, newline=""))


def _field_counts(lines: list[str], delimiter: str) -> list[int]:
    counts: list[int] = []
    try:
        for record in csv.reader(lines, delimiter=delimiter, strict=False):
            if record and any(field.strip() for field in record):
                counts.append(len(record))
            if len(counts) >= _SNIFF_RECORDS:
                break
    except csv.Error:
        pass
    return counts


def _sniff_delimiter(
    text: str, extension: str, complete: bool
) -> tuple[str | None, int, bool, bool]:
    """Pick the delimiter from the head of the file.

    The candidate giving the same field count (> 1) on most sample records wins;
    ties go to more fields, then to the usual order for the extension.

    Returns (delimiter, or None for a single column; fields in the header; whether
    quoted values span lines; whether the first line is longer than the window).
    """
    order = ("\t", ",", ";", "|") if extension == ".tsv" else _DELIMITERS
    lines = _sniff_lines(text, complete)
    if not lines:
        # The first line is longer than the sniff window: count raw occurrences.
        first = re.split(r"[\r\n]", text, maxsplit=1)[0]
        counts = {d: first.count(d) for d in order}
        best = max(order, key=lambda d: counts[d])
        if counts[best] == 0:
            return None, 1, False, True
        return best, counts[best] + 1, False, True
    best_key: tuple[float, int, int] | None = None
    best: str | None = None
    header = 1
    for rank, delimiter in enumerate(order):
        counts = _field_counts(lines, delimiter)
        if len(counts) > 1 and not complete:
            counts = counts[:-1]  # the last record may be cut in a quoted field
        if not counts:
            continue
        mode, frequency = Counter(counts).most_common(1)[0]
        if mode <= 1:
            continue
        key = (round(frequency / len(counts), 2), mode, -rank)
        if best_key is None or key > best_key:
            best_key, best, header = key, delimiter, counts[0]
    # A quoted value spanning lines makes csv see fewer records than lines.
    records = sum(1 for _ in csv.reader(lines, delimiter=best or ",", strict=False))
    return best, header, records < len(lines), False


# ---------------------------------------------------------------------------
# Format readers
# ---------------------------------------------------------------------------


def _read_csv(
    path: str,
    extension: str,
    encoding: str,
    text: str,
    complete: bool,
    limits: ReadLimits,
) -> tuple[pa.Table, TableInfo]:
    if complete and not text.strip():
        raise DataFileError("The file is empty (only blank lines).", code="empty")
    delimiter, header_fields, multiline, long_lines = _sniff_delimiter(
        text, extension, complete
    )
    block = _WIDE_BLOCK_BYTES if long_lines else _BLOCK_BYTES
    if header_fields > limits.max_columns:
        raise _too_many_columns(header_fields, limits, at_least=not complete)
    # A single-column file: parse with a separator that cannot occur in text, so
    # commas inside values stay in the value.
    parse_delimiter = delimiter or "\x1f"
    shown_delimiter = delimiter or ("\t" if extension == ".tsv" else ",")
    try:
        table = _parse_csv(path, encoding, parse_delimiter, multiline, block)
    except UnicodeDecodeError:
        if encoding != "cp1252":
            raise DataFileError(
                f"The file is not valid {encoding.upper()} text.", code="encoding"
            ) from None
        encoding = "latin-1"
        table = _parse_csv(path, encoding, parse_delimiter, multiline, block)
    if encoding in ("utf-8", "utf-8-sig") and any(
        pa.types.is_binary(field.type) for field in table.schema
    ):
        # Valid UTF-8 at the start, something else further down: a single-byte
        # file whose first megabyte happened to be ASCII.
        with open(path, "rb") as handle:
            encoding = _single_byte_encoding(_c1_sample(handle))
        table = _parse_csv(path, encoding, parse_delimiter, multiline, block)
    _refuse_unclosed_quote(table, path, encoding, parse_delimiter)
    info = TableInfo(
        source_format="tsv" if shown_delimiter == "\t" else "csv",
        encoding=encoding,
        delimiter=shown_delimiter,
        n_rows=0,
        n_columns=0,
        schema=[],
    )
    return table, info


def _c1_sample(handle: IO[bytes]) -> bytes:
    """Bytes 0x80-0x9f seen in the file (bounded scan), to choose cp1252/latin-1."""
    seen: set[int] = set()
    read = 0
    while read < _SCAN_LIMIT_BYTES:
        chunk = handle.read(1 << 22)
        if not chunk:
            break
        read += len(chunk)
        seen.update(chunk.translate(None, _NOT_C1))
    return bytes(sorted(seen))


def _parse_csv(
    path: str, encoding: str, delimiter: str, multiline: bool, block: int
) -> pa.Table:
    read_options = pa_csv.ReadOptions(
        block_size=block,
        encoding="utf8" if encoding in ("utf-8", "utf-8-sig") else encoding,
    )
    try:
        return _read_csv_lean(
            path,
            read_options=read_options,
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter, newlines_in_values=multiline
            ),
        )
    except pa.ArrowInvalid as exc:
        message = str(exc)
        if "Empty CSV file" in message:
            raise DataFileError("The file is empty.", code="empty") from None
        if "straddl" in message:
            raise DataFileError(
                f"A row is longer than {block >> 20} MB. The file may not "
                'be a table with one record per line, or a quote (") is never '
                "closed.",
                code="line_too_long",
            ) from None
        if "Expected" in message and "columns, got" in message:
            if not multiline:
                # The odd row may be a quoted value spanning lines past the sample.
                return _parse_csv(path, encoding, delimiter, True, block)
            raise _ragged_error(path, read_options, delimiter) from None
        raise


def _read_csv_lean(path: str, **options: Any) -> pa.Table:
    """``pyarrow.csv.read_csv`` in about half the memory, when the types allow.

    The table reader keeps the raw blocks alive until every column is converted
    (about the file's size on top of the table); the streaming reader converts
    block by block and holds one block at a time. It takes the column types from
    the first block, so a column whose values change type further down (a text
    in a number column, a first block all empty) stops it: such a file is read
    again by the table reader, which widens types across blocks. Errors of the
    file itself (a ragged row) come out of either reader alike.
    """
    try:
        with pa_csv.open_csv(path, **options) as reader:
            return reader.read_all()
    except pa.ArrowInvalid as exc:
        if "conversion error" not in str(exc):
            raise
    return pa_csv.read_csv(path, **options)


def _ragged_error(
    path: str, read_options: pa_csv.ReadOptions, delimiter: str
) -> DataFileError:
    """Re-read serially (only up to the bad row) to learn its number."""
    bad: list[Any] = []

    def remember(row: Any) -> str:
        bad.append(row)
        return "error"

    serial = pa_csv.ReadOptions(
        block_size=read_options.block_size,
        encoding=read_options.encoding,
        use_threads=False,
    )
    # The read stops with an error at the first bad row, which is all we want.
    with contextlib.suppress(Exception):
        pa_csv.read_csv(
            path,
            read_options=serial,
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter,
                newlines_in_values=True,
                invalid_row_handler=remember,
            ),
        )
    if not bad:
        return DataFileError(
            "Rows have different numbers of fields; every row needs as many "
            "fields as the header has columns.",
            code="ragged",
        )
    row = bad[0]
    where = f"Row {row.number}" if row.number is not None else "A row"
    preview = row.text if len(row.text) <= 60 else row.text[:57] + "..."
    return DataFileError(
        f"{where} has {row.actual_columns} fields but the header has "
        f"{row.expected_columns} columns (counting the header as row 1): "
        f"{preview!r}",
        code="ragged",
    )


def _read_parquet_file(path: str, limits: ReadLimits) -> tuple[pa.Table, TableInfo]:
    try:
        parquet = pq.ParquetFile(path)
    except Exception:
        raise DataFileError(
            "This Parquet file is damaged and cannot be read.",
            code="unsupported_content",
        ) from None
    with parquet:
        metadata = parquet.metadata
        # Budgets first, from the footer alone: a few bytes can claim billions.
        if metadata.num_columns > limits.max_columns:
            raise _too_many_columns(metadata.num_columns, limits)
        if metadata.num_rows > limits.max_rows:
            raise _too_many_rows(metadata.num_rows, limits)
        _check_flat(parquet.schema_arrow)
        _check_parquet_budget(parquet, path, limits)
        try:
            table = parquet.read()
        except Exception as exc:
            raise DataFileError(
                "This Parquet file is damaged and cannot be read: "
                f"{_clean_message(exc, path)}",
                code="unsupported_content",
            ) from None
    keep = [name for name in table.column_names if not _INDEX_COLUMN.fullmatch(name)]
    if len(keep) != table.num_columns:
        table = table.select(keep)
    info = TableInfo("parquet", None, None, 0, 0, [])
    return table.replace_schema_metadata(None), info


def _read_jsonl(
    path: str, size: int, encoding: str, text: str
) -> tuple[pa.Table, TableInfo]:
    if not text.strip():
        if size <= _HEAD_BYTES:
            raise DataFileError("The file is empty (only blank lines).", code="empty")
        raise DataFileError(
            "The file starts with over a megabyte of blank space; JSON Lines needs "
            "one JSON object on each line.",
            code="invalid_json",
        )
    first = text.lstrip()[:1]
    if first == "[":
        raise DataFileError(
            "This is a JSON array, not JSON Lines: put one JSON object on each line.",
            code="invalid_json",
        )
    if first != "{":
        raise DataFileError(
            "JSON Lines files need one JSON object ({...}) on each line; line 1 "
            "is not an object.",
            code="invalid_json",
        )
    try:
        with _JsonSource(path, encoding) as source:
            table = pa_json.read_json(
                source,
                read_options=pa_json.ReadOptions(block_size=_BLOCK_BYTES),
                parse_options=pa_json.ParseOptions(newlines_in_values=False),
            )
    except pa.ArrowInvalid as exc:
        table = _json_fallback(path, size, encoding, str(exc))
    info = TableInfo("jsonl", encoding, None, 0, 0, [])
    return table, info


class _JsonSource:
    """A UTF-8 stream of the file for pyarrow.json, transcoding when needed."""

    def __init__(self, path: str, encoding: str) -> None:
        self._path = path
        self._encoding = encoding
        self._file: pa.NativeFile | None = None

    def __enter__(self) -> Any:
        if self._encoding in ("utf-8", "utf-8-sig"):
            return self._path
        self._file = pa.OSFile(self._path, "rb")
        return pa.transcoding_input_stream(self._file, self._encoding, "utf-8")

    def __exit__(self, *exc_info: object) -> None:
        if self._file is not None:
            self._file.close()


def _json_fallback(path: str, size: int, encoding: str, message: str) -> pa.Table:
    """Explain a pyarrow.json failure, or read mixed-type columns with pandas."""
    if "straddl" in message:
        raise DataFileError(
            f"A line is longer than {_BLOCK_BYTES >> 20} MB; JSON Lines needs one "
            "object per line.",
            code="line_too_long",
        )
    bad = _first_bad_json_line(path, size, encoding)
    if bad is not None:
        number, reason = bad
        if reason is None:
            raise DataFileError(
                "JSON Lines files need one JSON object ({...}) on each line; "
                f"line {number} is not an object.",
                code="invalid_json",
            )
        raise DataFileError(
            f"Line {number} is not valid JSON: {reason}.", code="invalid_json"
        )
    duplicate = re.search(r"Column\((/[^)]*)\) was specified twice", message)
    if duplicate:
        raise DataFileError(
            f"A line has the key '{_short(duplicate.group(1)[1:])}' twice; column "
            "names must be unique.",
            code="duplicate_columns",
        )
    changed = re.search(r"Column\((/[^)]*)\) changed from (\w+) to (\w+)", message)
    if changed:
        column = _short(changed.group(1).lstrip("/"))
        kinds = {changed.group(2), changed.group(3)}
        if kinds & {"object", "array"}:
            raise DataFileError(
                f"Column '{column}' holds nested objects or lists; only flat "
                "values (text, numbers, booleans, dates) are supported.",
                code="nested",
            )
        if size > _SCAN_LIMIT_BYTES:
            raise DataFileError(
                f"Column '{column}' mixes {changed.group(2)} and "
                f"{changed.group(3)} values; use one type per column.",
                code="mixed_types",
            )
        return _json_with_pandas(path, encoding)
    detail = _ROW_NUMBER.sub("", message.replace("JSON parse error: ", ""))
    raise DataFileError(
        f"The file is not valid JSON Lines: {_short(detail, 200)}",
        code="invalid_json",
    )


def _iter_text_lines(path: str, encoding: str) -> Iterator[tuple[int, str]]:
    with open(path, encoding=encoding, errors="replace", newline=None) as handle:
        yield from enumerate(handle, start=1)


def _first_bad_json_line(
    path: str, size: int, encoding: str
) -> tuple[int, str | None] | None:
    """Find the first line that is not a JSON object (bounded, error path only).

    Returns (line number, JSON error, or None when the line is valid JSON but not
    an object), or None when every line is an object or the file is too big.
    """
    if size > _SCAN_LIMIT_BYTES:
        return None
    for number, line in _iter_text_lines(path, encoding):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            return number, str(exc).split(":", 1)[0]
        if not isinstance(value, dict):
            return number, None
    return None


def _json_with_pandas(path: str, encoding: str) -> pa.Table:
    """Read JSON Lines whose columns mix types; mixed columns become text."""
    frame = pd.read_json(
        path,
        lines=True,
        dtype=False,
        encoding="utf-8" if encoding == "utf-8-sig" else encoding,
    )
    # "" is missing (as in every reader), before it makes a number column text.
    return _frame_to_arrow(frame.mask(frame.eq("")))


def _read_excel(
    path: str, content: str, limits: ReadLimits
) -> tuple[pa.Table, TableInfo]:
    if content == "xlsx":
        _check_xlsx_budget(path, limits)
    try:
        raw = pd.read_excel(
            path, sheet_name=0, header=None, dtype=object, engine="calamine"
        )
    except Exception as exc:
        what = "workbook" if content == "xlsx" else "Excel (.xls) file"
        raise DataFileError(
            f"This {what} could not be read (it may be damaged or password "
            f"protected): {_clean_message(exc, path)}",
            code="unsupported_content",
        ) from None
    raw = raw.dropna(how="all")
    if raw.shape[0] == 0 or raw.shape[1] == 0:
        raise DataFileError("The first sheet of the workbook is empty.", code="empty")
    if raw.shape[1] > limits.max_columns:
        raise _too_many_columns(raw.shape[1], limits)
    names = [_cell_name(value) for value in raw.iloc[0]]
    body = raw.iloc[1:].reset_index(drop=True)
    body.columns = pd.RangeIndex(len(names))
    table = _frame_to_arrow(body.infer_objects())
    table = table.rename_columns(names)
    return table, TableInfo("excel", None, None, 0, 0, [])


def _cell_name(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def _frame_to_arrow(frame: pd.DataFrame) -> pa.Table:
    """Convert column by column; a column mixing types becomes text."""
    arrays = []
    for position in range(frame.shape[1]):
        series = frame.iloc[:, position]
        try:
            array = pa.array(series, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
            if series.map(lambda v: isinstance(v, dict | list)).any():
                raise DataFileError(
                    f"Column '{frame.columns[position]}' holds nested objects or "
                    "lists; only flat values are supported.",
                    code="nested",
                ) from None
            array = pa.array(series.astype("str"), from_pandas=True)
        if pa.types.is_large_string(array.type):
            array = array.cast(pa.string())
        arrays.append(array)
    return pa.Table.from_arrays(arrays, names=[str(c) for c in frame.columns])


# ---------------------------------------------------------------------------
# Memory budgets: what a table will take, known before it is decoded
# ---------------------------------------------------------------------------

# A dense cell of a sheet costs a slot in the reader's rows and in the frame's
# object array, plus its value object (a float is 24 bytes, a short text ~50).
_EXCEL_SLOT_BYTES = 16
_EXCEL_VALUE_BYTES = 40


def _human_bytes(count: float) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= size or unit == "KB":
            return f"{count / size:.1f} {unit}"
    raise AssertionError("unreachable")


def _too_large(estimate: float, limits: ReadLimits, detail: str = "") -> DataFileError:
    assert limits.max_bytes is not None
    return DataFileError(
        f"The file would take {_human_bytes(estimate)} in memory{detail}; the "
        f"limit is {_human_bytes(limits.max_bytes)} (DATASET_MAX_BYTES).",
        code="too_large",
    )


def _check_table_budget(table: pa.Table, limits: ReadLimits) -> None:
    """Text formats: the decoded table, before anything else is made from it.

    A text file's decoded size is bounded by the upload cap (a few times the file
    size), so it is checked once parsed; Parquet and Excel are checked before.
    """
    if limits.max_bytes is not None and table.nbytes > limits.max_bytes:
        raise _too_large(table.nbytes, limits)


def _check_parquet_budget(
    parquet: pq.ParquetFile, path: str, limits: ReadLimits
) -> None:
    """Refuse a Parquet file whose decoded columns would exceed the byte budget.

    From the footer: fixed-width columns take rows x width; text and binary
    columns at least their uncompressed page bytes. A dictionary-encoded column
    can take far more than its pages (one long value repeated in every row), so
    its decoded size is computed from the dictionary and the indices alone, read
    without decoding the values (``read_dictionary``), one column and row group
    at a time.
    """
    if limits.max_bytes is None:
        return
    metadata = parquet.metadata
    schema = parquet.schema_arrow
    rows = metadata.num_rows
    estimate = 0
    dictionary_columns: list[tuple[int, str]] = []
    for j in range(metadata.num_columns):
        field = schema.field(j)
        value_type = (
            field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        )
        estimate += rows // 8 + 1  # validity bitmap
        try:
            estimate += rows * max(value_type.bit_width, 8) // 8
            continue
        except ValueError:  # variable width: text, binary
            pass
        offsets = 8 if pa.types.is_large_string(value_type) else 4
        estimate += rows * offsets
        encoded = False
        for g in range(metadata.num_row_groups):
            chunk = metadata.row_group(g).column(j)
            estimate += chunk.total_uncompressed_size
            encoded = encoded or chunk.has_dictionary_page
        if encoded:
            dictionary_columns.append((j, field.name))
    if estimate > limits.max_bytes:
        raise _too_large(estimate, limits)
    if not dictionary_columns:
        return
    names = [name for _, name in dictionary_columns]
    with pq.ParquetFile(path, read_dictionary=names) as encoded_file:
        for _, name in dictionary_columns:
            for g in range(metadata.num_row_groups):
                for chunk in (
                    encoded_file.read_row_group(g, columns=[name]).column(0).chunks
                ):
                    if not pa.types.is_dictionary(chunk.type):
                        continue
                    lengths = pc.binary_length(chunk.dictionary)
                    used = pc.sum(pc.take(lengths, chunk.indices)).as_py() or 0
                    # The pages were counted above; the decoded values replace them.
                    estimate += used
                    if estimate > limits.max_bytes:
                        raise _too_large(
                            estimate,
                            limits,
                            f" (column '{_short(name)}' alone "
                            f"repeats its values to {_human_bytes(used)})",
                        )


def _iterparse(
    handle: IO[bytes], events: tuple[str, ...] = ("end",)
) -> Iterator[tuple[str, Any]]:
    # ElementTree never fetches external entities, and the expat it runs on (2.4+,
    # checked by a test) stops entity-expansion bombs ("billion laughs").
    return ET.iterparse(handle, events=events)  # noqa: S314


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


_CELL_REF = re.compile(r"([A-Za-z]{1,3})(\d+)")


def _column_number(letters: str) -> int:
    number = 0
    for char in letters.upper():
        number = number * 26 + ord(char) - 64
    return number


def _first_sheet_name(archive: zipfile.ZipFile) -> str | None:
    """The part name of the workbook's first sheet (the one that is read)."""
    names = set(archive.namelist())
    try:
        with archive.open("xl/workbook.xml") as handle:
            first = None
            for _, elem in _iterparse(handle):
                if _local_name(elem.tag) == "sheet":
                    first = next(
                        (v for k, v in elem.attrib.items() if _local_name(k) == "id"),
                        None,
                    )
                    break
        with archive.open("xl/_rels/workbook.xml.rels") as handle:
            for _, elem in _iterparse(handle):
                if _local_name(elem.tag) == "Relationship" and elem.get("Id") == first:
                    target = elem.get("Target", "")
                    name = (
                        target.lstrip("/") if target.startswith("/") else "xl/" + target
                    )
                    if name in names:
                        return name
    except (KeyError, ET.ParseError):
        pass
    sheets = sorted(n for n in names if re.fullmatch(r"xl/worksheets/[^/]+\.xml", n))
    return sheets[0] if sheets else None


def _shared_string_lengths(archive: zipfile.ZipFile) -> list[int]:
    if "xl/sharedStrings.xml" not in archive.namelist():
        return []
    lengths: list[int] = []
    with archive.open("xl/sharedStrings.xml") as handle:
        current = 0
        for _, elem in _iterparse(handle):
            name = _local_name(elem.tag)
            if name == "t":
                current += len(elem.text or "")
            elif name == "si":
                lengths.append(current)
                current = 0
                elem.clear()
    return lengths


def _check_xlsx_budget(path: str, limits: ReadLimits) -> None:
    """Refuse a workbook whose first sheet would make a table over the budgets.

    A reader builds a dense table from the top-left corner to the farthest cell
    (python-calamine spans the cells it finds; the sheet's ``<dimension>`` is not
    trusted, as a file can claim anything there). The sheet XML is streamed once,
    counting cells, their extent and the text they hold (a shared string counts
    once per cell that uses it), and stops as soon as a budget is passed.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            sheet = _first_sheet_name(archive)
            if sheet is None:
                return  # the reader explains what is wrong
            shared = _shared_string_lengths(archive)
            with archive.open(sheet) as handle:
                _scan_sheet(handle, shared, limits)
    except (ET.ParseError, zipfile.BadZipFile, KeyError, OSError, EOFError):
        return  # damaged: the reader refuses it with its own message


def _scan_sheet(handle: IO[bytes], shared: list[int], limits: ReadLimits) -> None:
    max_row = max_col = cells = text = 0
    row_number = 0
    column = 0
    sheet_data = None
    for event, elem in _iterparse(handle, ("start", "end")):
        name = _local_name(elem.tag)
        if event == "start":
            if name == "sheetData":
                sheet_data = elem
            elif name == "row":
                row_number = int(elem.get("r") or row_number + 1)
                column = 0
            continue
        if name == "c":
            ref = _CELL_REF.fullmatch(elem.get("r") or "")
            if ref:
                column = _column_number(ref.group(1))
                row_number = int(ref.group(2))
            else:
                column += 1
            kind = elem.get("t")
            if kind == "s":
                value = next((c.text for c in elem if _local_name(c.tag) == "v"), None)
                with contextlib.suppress(ValueError, IndexError, TypeError):
                    text += shared[int(value)]
            elif kind in ("inlineStr", "str"):
                text += sum(len(t.text or "") for t in elem.iter() if t is not elem)
            cells += 1
            elem.clear()
            if row_number > max_row or column > max_col:
                max_row = max(max_row, row_number)
                max_col = max(max_col, column)
        elif name == "row":
            max_row = max(max_row, row_number)
            if sheet_data is not None:
                sheet_data.clear()
        else:
            continue
        if limits.max_bytes is not None:
            estimate = (
                max_row * max_col * _EXCEL_SLOT_BYTES
                + cells * _EXCEL_VALUE_BYTES
                + text
            )
            if estimate > limits.max_bytes:
                raise _too_large(
                    estimate,
                    limits,
                    f" (its first sheet spans {max_row:,} rows x {max_col:,} columns)",
                )
    if max_col > limits.max_columns:
        raise _too_many_columns(max_col, limits)
    if max_row - 1 > limits.max_rows:
        raise _too_many_rows(max_row - 1, limits)


def _refuse_unclosed_quote(
    table: pa.Table, path: str, encoding: str, delimiter: str
) -> None:
    """Refuse a CSV whose quote is never closed, naming the line it opened on.

    The parser takes everything after an unclosed quote as one value, so the last
    row then holds a line break; only then is the file scanned (bounded) to
    confirm it and find the line.
    """
    if table.num_rows == 0:
        return
    last = table.slice(table.num_rows - 1)
    suspicious = False
    for field, column in zip(last.schema, last.columns, strict=True):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            value = column[0].as_py()
            if value and ("\n" in value or "\r" in value):
                suspicious = True
                break
    if not suspicious or os.path.getsize(path) > _SCAN_LIMIT_BYTES:
        return
    python_encoding = "utf-8-sig" if encoding == "utf-8" else encoding
    with open(path, encoding=python_encoding, errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
        start = 1
        try:
            for _ in reader:
                start = reader.line_num + 1
        except csv.Error as exc:
            if "unexpected end of data" not in str(exc):
                return
            raise DataFileError(
                f'A quote (") opened on line {start:,} is never closed, so '
                "everything after it would be one value. Close the quote (or "
                'double a quote inside a value, "") and upload the file again.',
                code="unclosed_quote",
            ) from None


# ---------------------------------------------------------------------------
# Checks shared by every format
# ---------------------------------------------------------------------------


def _finish(
    table: pa.Table, info: TableInfo, limits: ReadLimits
) -> tuple[pa.Table, TableInfo]:
    if table.num_columns == 0:
        raise DataFileError("The file has no columns.", code="empty")
    names = [str(name).strip() for name in table.column_names]
    table = table.rename_columns(names)
    # A column with neither a name nor a value (a trailing delimiter on every line,
    # an empty formatted column in a sheet) is no data: drop it.
    keep = [
        i
        for i, name in enumerate(names)
        if name or not _column_is_blank(table.column(i))
    ]
    if len(keep) != table.num_columns:
        table = table.select(keep)
        names = table.column_names
    if table.num_columns == 0:
        raise DataFileError("The file has no named columns.", code="empty")
    if table.num_columns > limits.max_columns:
        raise _too_many_columns(table.num_columns, limits)
    _check_names(names)
    _check_flat(table.schema)
    if table.num_rows == 0:
        raise DataFileError(
            "The file has column names but no data rows.", code="header_only"
        )
    if table.num_rows > limits.max_rows:
        raise _too_many_rows(table.num_rows, limits)
    table = _decode_dictionaries(table)
    if info.source_format != "parquet":
        table = _empty_text_to_null(table)
    schema = [{"name": f.name, "dtype": str(f.type)} for f in table.schema]
    info = TableInfo(
        source_format=info.source_format,
        encoding=info.encoding,
        delimiter=info.delimiter,
        n_rows=table.num_rows,
        n_columns=table.num_columns,
        schema=schema,
    )
    return table, info


def _empty_text_to_null(table: pa.Table) -> pa.Table:
    """An empty text cell is a missing value, as in ``pandas.read_csv``.

    The CSV reader keeps ``""`` in text columns (it only turns empty cells of number
    and date columns into nulls), JSON Lines keeps ``""`` values. Only the empty
    string: whitespace-only and placeholder texts ("N/A", "?") stay values, for the
    profile to flag and a recipe to convert.
    """
    for i, field in enumerate(table.schema):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        column = table.column(i)
        empty = pc.equal(pc.binary_length(column), 0)
        if pc.any(empty).as_py():
            column = pc.if_else(empty, pa.scalar(None, field.type), column)
            table = table.set_column(i, field, column)
    return table


def _column_is_blank(column: pa.ChunkedArray) -> bool:
    if column.null_count == len(column):
        return True
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        longest = pc.max(pc.utf8_length(pc.utf8_trim_whitespace(column))).as_py()
        return not longest
    return False


def _check_names(names: list[str]) -> None:
    unnamed = [str(i + 1) for i, name in enumerate(names) if not name]
    if unnamed:
        if len(unnamed) == 1:
            where = f"Column {unnamed[0]} has"
        else:
            shown = ", ".join(unnamed[:10]) + (", ..." if len(unnamed) > 10 else "")
            where = f"Columns {shown} have"
        raise DataFileError(
            f"{where} no name. Every column needs a name in the header row.",
            code="empty_column_name",
        )
    repeated = [name for name, count in Counter(names).items() if count > 1]
    if repeated:
        shown = ", ".join(f"'{_short(name)}'" for name in repeated[:10])
        raise DataFileError(
            f"Column names must be unique; repeated: {shown}.",
            code="duplicate_columns",
        )


def _check_flat(schema: pa.Schema) -> None:
    for field in schema:
        if pa.types.is_nested(field.type):
            raise DataFileError(
                f"Column '{_short(field.name)}' holds nested objects or lists; only "
                "flat values (text, numbers, booleans, dates) are supported.",
                code="nested",
            )


def _decode_dictionaries(table: pa.Table) -> pa.Table:
    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            column = table.column(i).cast(field.type.value_type)
            table = table.set_column(i, field.name, column)
    return table


def _too_many_columns(
    count: int, limits: ReadLimits, *, at_least: bool = False
) -> DataFileError:
    prefix = "at least " if at_least else ""
    return DataFileError(
        f"The file has {prefix}{count:,} columns; the limit is {limits.max_columns:,}.",
        code="too_many_columns",
    )


def _too_many_rows(count: int, limits: ReadLimits) -> DataFileError:
    return DataFileError(
        f"The file has {count:,} rows; the limit is {limits.max_rows:,}.",
        code="too_many_rows",
    )


def _short(text: str, length: int = 40) -> str:
    return text if len(text) <= length else text[: length - 3] + "..."


def _clean_message(exc: BaseException, path: str) -> str:
    """One readable line from a library error: no paths, no tracebacks."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    message = message.replace(path, "the file")
    message = _PATHLIKE.sub("the file", message)
    message = _ROW_NUMBER.sub("", message)
    for prefix in ("CSV parse error: ", "JSON parse error: "):
        message = message.replace(prefix, "")
    if not message:
        message = type(exc).__name__
    return _short(message, 200)


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def fsync_directory(directory: str) -> None:
    """Make a rename in ``directory`` durable (not possible on every platform:
    Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
