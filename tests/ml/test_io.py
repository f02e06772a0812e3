"""Tests for projects.ml.io: reading uploads safely, writing Parquet atomically."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import math
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import joblib
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projects.ml import io as ml_io
from projects.ml.io import (
    SUPPORTED_EXTENSIONS,
    DataFileError,
    ReadLimits,
    TableInfo,
    read_parquet,
    read_table,
    sha256_file,
    write_parquet,
)

REPO = Path(__file__).resolve().parents[2]


def put(tmp_path: Path, data: bytes, name: str = "upload.bin") -> Path:
    # Uploads are stored under a generated name; the user's name only travels
    # as `filename`, so the stored file deliberately has a neutral name.
    path = tmp_path / name
    path.write_bytes(data)
    return path


def load(tmp_path: Path, data: bytes, filename: str, **kwargs):
    return read_table(put(tmp_path, data), filename=filename, **kwargs)


def refused(tmp_path: Path, data: bytes, filename: str, **kwargs) -> DataFileError:
    with pytest.raises(DataFileError) as caught:
        load(tmp_path, data, filename, **kwargs)
    error = caught.value
    message = str(error)
    assert message == error.message
    assert "\n" not in message
    assert "Traceback" not in message
    assert str(tmp_path) not in message
    return error


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


class Canary:
    """Unpickling this would create the canary file."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


# ---------------------------------------------------------------------------
# Good files
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_it_reads_csv_with_each_delimiter(tmp_path, delimiter):
    rows = [["id", "name", "score"], ["1", "Ann", "2.5"], ["2", "Bob", ""]]
    data = "\n".join(delimiter.join(row) for row in rows).encode() + b"\n"

    table, info = load(tmp_path, data, "scores.csv")

    assert table.column_names == ["id", "name", "score"]
    assert table.to_pydict() == {
        "id": [1, 2],
        "name": ["Ann", "Bob"],
        "score": [2.5, None],
    }
    assert info == TableInfo(
        source_format="tsv" if delimiter == "\t" else "csv",
        encoding="utf-8",
        delimiter=delimiter,
        n_rows=2,
        n_columns=3,
        schema=[
            {"name": "id", "dtype": "int64"},
            {"name": "name", "dtype": "string"},
            {"name": "score", "dtype": "double"},
        ],
    )


def test_it_reads_a_tsv_file(tmp_path):
    table, info = load(tmp_path, b"a\tb\nx, y\t1\n", "data.tsv")

    assert table.to_pydict() == {"a": ["x, y"], "b": [1]}
    assert (info.source_format, info.delimiter) == ("tsv", "\t")


def test_it_prefers_semicolon_when_commas_are_decimal_separators(tmp_path):
    data = b"price;qty\n1,5;2\n2,25;3\n10,0;4\n"

    table, info = load(tmp_path, data, "prices.csv")

    assert info.delimiter == ";"
    assert table.to_pydict() == {"price": ["1,5", "2,25", "10,0"], "qty": [2, 3, 4]}


def test_it_ignores_delimiters_inside_quotes(tmp_path):
    data = b'name,comment\nAnn,"likes; pipes | and, commas"\nBob,"plain"\n'

    table, info = load(tmp_path, data, "c.csv")

    assert info.delimiter == ","
    assert table.column("comment").to_pylist()[0] == "likes; pipes | and, commas"


def test_it_reads_a_single_column_file_with_commas_in_values(tmp_path):
    table, info = load(tmp_path, b"name\nSmith, John\nDoe\n", "names.txt")

    assert table.to_pydict() == {"name": ["Smith, John", "Doe"]}
    assert info.n_columns == 1


def test_it_reads_utf8_with_bom(tmp_path):
    data = "\ufeffcity,population\nZürich,421878\n".encode()

    table, info = load(tmp_path, data, "cities.csv")

    assert info.encoding == "utf-8-sig"
    assert table.to_pydict() == {"city": ["Zürich"], "population": [421878]}


def test_it_reads_latin1_with_accented_column_names(tmp_path):
    data = "prénom;âge;ville\nRené;42;Besançon\nZoë;7;Orléans\n".encode("latin-1")

    table, info = load(tmp_path, data, "personnes.csv")

    assert info.encoding == "latin-1"
    assert info.delimiter == ";"
    assert table.column_names == ["prénom", "âge", "ville"]
    assert table.column("ville").to_pylist() == ["Besançon", "Orléans"]


def test_it_reads_windows_1252_curly_quotes_and_euro_signs(tmp_path):
    data = "item,price\n“Deluxe” – edition,12 €\n".encode("cp1252")

    table, info = load(tmp_path, data, "prices.csv")

    assert info.encoding == "cp1252"
    assert table.to_pydict() == {"item": ["“Deluxe” – edition"], "price": ["12 €"]}


def test_it_reads_utf16_with_bom(tmp_path):
    data = "name\tcity\nRené\tKöln\nAnn\t東京\n".encode("utf-16")

    table, info = load(tmp_path, data, "export.txt")

    assert info.encoding == "utf-16"
    assert info.delimiter == "\t"
    assert table.to_pydict() == {"name": ["René", "Ann"], "city": ["Köln", "東京"]}


def test_it_notices_latin1_that_starts_after_the_sampled_head(tmp_path):
    data = b"a,b\n" + b"plain,1\n" * 200_000 + "Besançon,2\n".encode("latin-1")

    table, info = load(tmp_path, data, "late.csv")

    assert info.encoding == "latin-1"
    assert table.column("a")[-1].as_py() == "Besançon"


def test_it_does_not_mistake_a_multibyte_character_cut_by_the_sample(tmp_path):
    # The sniffed head ends in the middle of a two-byte character.
    line = "é" * 1000 + "\n"
    data = ("text\n" + line * 600).encode()
    assert data[: 1 << 20][-1] >= 0x80

    table, info = load(tmp_path, data, "long.csv")

    assert info.encoding == "utf-8"
    assert table.num_rows == 600


def test_it_keeps_text_as_text_and_blank_cells_as_null(tmp_path):
    data = b'code,amount,note\n007,,""\n010,3,NA\n,4,x\n'

    table, _ = load(tmp_path, data, "t.csv")

    assert table.column("amount").to_pylist() == [None, 3, 4]
    # An empty text cell is missing, as in pandas.read_csv; a placeholder stays
    # text for the profile to flag.
    assert table.column("note").to_pylist() == [None, "NA", "x"]


# One table with two empty cells in each column: a text column, numbers stored as
# text, and a number column. EMPTY marks them; each reader writes them its own way.
EMPTY = object()
EMPTY_CELLS = {
    "home": ["RENT", EMPTY, "OWN", EMPTY, "RENT", "OWN"],
    "income": ["1,200", EMPTY, "3,400", "5,600", EMPTY, "7,800"],
    "score": [1.5, 2.0, EMPTY, 3.5, 4.5, EMPTY],
}


def _rows_with(first_empty, second_empty) -> list[list[object]]:
    """The rows, a column's first empty cell written one way, its second another."""
    seen: dict[str, int] = {}
    columns = []
    for name, values in EMPTY_CELLS.items():
        written = []
        for value in values:
            if value is EMPTY:
                value = (first_empty, second_empty)[seen.get(name, 0)]
                seen[name] = seen.get(name, 0) + 1
            written.append(value)
        columns.append(written)
    return [list(row) for row in zip(*columns, strict=True)]


def _delimited(delimiter: str) -> bytes:
    def cell(value) -> str:
        if value is None:
            return ""  # an empty field
        if value == "":
            return '""'  # a quoted empty field
        return f'"{value}"' if isinstance(value, str) else str(value)

    lines = [delimiter.join(EMPTY_CELLS)]
    lines += [delimiter.join(map(cell, row)) for row in _rows_with(None, "")]
    return ("\n".join(lines) + "\n").encode()


def _json_lines() -> bytes:
    lines = []
    for row in _rows_with(None, "absent"):
        record = dict(zip(EMPTY_CELLS, row, strict=True))
        # The first empty text cell is null, the second "" (and absent for numbers).
        for name in ("home", "income"):
            if record[name] == "absent":
                record[name] = ""
        if record["score"] == "absent":
            del record["score"]
        lines.append(json.dumps(record))
    return ("\n".join(lines) + "\n").encode()


def _empty_cells_file(reader: str) -> tuple[bytes, str]:
    if reader == "csv":
        return _delimited(","), "credit.csv"
    if reader == "tsv":
        return _delimited("\t"), "credit.tsv"
    if reader == "excel":
        # openpyxl leaves out a None cell and writes "" as an empty text cell.
        return xlsx_bytes([list(EMPTY_CELLS), *_rows_with(None, "")]), "credit.xlsx"
    if reader == "jsonl":
        return _json_lines(), "credit.jsonl"
    table = pa.table(
        {
            name: [None if v is EMPTY else v for v in values]
            for name, values in EMPTY_CELLS.items()
        }
    )
    return parquet_bytes(table), "credit.parquet"


@pytest.mark.parametrize("reader", ["csv", "tsv", "excel", "jsonl", "parquet"])
def test_it_reads_every_empty_cell_as_missing(tmp_path, reader):
    data, filename = _empty_cells_file(reader)

    table, info = load(tmp_path, data, filename)

    assert info.n_rows == 6
    for name, values in EMPTY_CELLS.items():
        column = table.column(name)
        assert column.null_count == 2, (name, column.to_pylist())
        expected = [None if v is EMPTY else v for v in values]
        assert column.to_pylist() == expected, name
    assert pa.types.is_string(table.schema.field("home").type)
    assert pa.types.is_string(table.schema.field("income").type)
    assert pa.types.is_floating(table.schema.field("score").type)
    # Every later step reads the stored Parquet: the nulls must survive it.
    write_parquet(table, tmp_path / "stored.parquet")
    frame = read_parquet(tmp_path / "stored.parquet")
    assert frame.isna().sum().to_dict() == {"home": 2, "income": 2, "score": 2}


def test_it_reads_an_empty_string_in_a_json_number_column_as_missing(tmp_path):
    data = b'{"n": 1}\n{"n": ""}\n{"n": 3}\n'

    table, _ = load(tmp_path, data, "numbers.jsonl")

    assert pa.types.is_integer(table.schema.field("n").type)
    assert table.column("n").to_pylist() == [1, None, 3]


@pytest.mark.parametrize("filename", ["t.csv", "t.tsv"])
def test_it_keeps_whitespace_only_and_placeholder_text_as_values(tmp_path, filename):
    sep = "\t" if filename.endswith(".tsv") else ","
    data = f"id{sep}note\n1{sep}x\n2{sep}'   '\n3{sep}N/A\n4{sep}?\n5{sep}\n"
    data = data.replace("'", '"').encode()

    table, _ = load(tmp_path, data, filename)

    assert table.column("note").to_pylist() == ["x", "   ", "N/A", "?", None]


def test_it_keeps_an_empty_string_in_parquet_as_a_value(tmp_path):
    # Parquet is typed: null is its missing value, and "" was written on purpose
    # (pandas.read_parquet keeps it too); the profile flags it as a placeholder.
    source = pa.table({"note": ["x", "", None]})

    table, _ = load(tmp_path, parquet_bytes(source), "notes.parquet")

    assert table.column("note").to_pylist() == ["x", "", None]


def test_it_strips_whitespace_around_column_names(tmp_path):
    table, _ = load(tmp_path, b" id , name \n1,Ann\n", "t.csv")

    assert table.column_names == ["id", "name"]


def test_it_reads_quoted_values_that_span_lines(tmp_path):
    data = b'id,text\n1,"first line\nsecond line"\n2,short\n'

    table, _ = load(tmp_path, data, "t.csv")

    assert table.to_pydict() == {
        "id": [1, 2],
        "text": ["first line\nsecond line", "short"],
    }


def test_it_reads_a_quoted_newline_far_beyond_the_sample(tmp_path):
    data = b"id,text\n" + b"1,plain\n" * 300_000 + b'2,"two\nlines"\n3,end\n'

    table, _ = load(tmp_path, data, "t.csv")

    assert table.num_rows == 300_002
    assert table.column("text")[-2].as_py() == "two\nlines"


def test_it_drops_a_column_with_neither_name_nor_values(tmp_path):
    table, info = load(tmp_path, b"a,b,\n1,2,\n3,4,\n", "trailing.csv")

    assert table.column_names == ["a", "b"]
    assert info.n_columns == 2


def test_it_reads_parquet(tmp_path):
    source = pa.table(
        {
            "x": pa.array([1, 2, None], pa.int64()),
            "y": pa.array(["a", "b", "c"]),
            "when": pa.array([dt.datetime(2024, 1, d) for d in (1, 2, 3)]),
        }
    )

    table, info = load(tmp_path, parquet_bytes(source), "data.parquet")

    assert table.equals(source)
    assert info == TableInfo(
        "parquet",
        None,
        None,
        3,
        3,
        [
            {"name": "x", "dtype": "int64"},
            {"name": "y", "dtype": "string"},
            {"name": "when", "dtype": "timestamp[us]"},
        ],
    )


def test_it_reads_parquet_content_even_when_named_csv(tmp_path):
    source = pa.table({"a": [1, 2]})

    table, info = load(tmp_path, parquet_bytes(source), "mislabelled.csv")

    assert info.source_format == "parquet"
    assert table.to_pydict() == {"a": [1, 2]}


def test_it_drops_the_pandas_index_from_parquet_and_decodes_categories(tmp_path):
    frame = pd.DataFrame({"kind": pd.Categorical(["a", "b", "a"]), "v": [1, 2, 3]})
    path = tmp_path / "upload.bin"
    frame.iloc[[2, 0]].to_parquet(path)

    table, info = read_table(path, filename="frame.parquet")

    assert table.column_names == ["kind", "v"]
    assert table.to_pydict() == {"kind": ["a", "a"], "v": [3, 1]}
    assert info.schema[0] == {"name": "kind", "dtype": "string"}


@pytest.mark.parametrize("filename", ["events.jsonl", "events.ndjson"])
def test_it_reads_json_lines(tmp_path, filename):
    data = (
        b'{"id": 1, "name": "Ann", "ok": true, "score": 1.5}\n'
        b"\n"
        b'{"id": 2, "name": "Zo\\u00eb", "ok": false}\n'
    )

    table, info = load(tmp_path, data, filename)

    assert table.to_pydict() == {
        "id": [1, 2],
        "name": ["Ann", "Zoë"],
        "ok": [True, False],
        "score": [1.5, None],
    }
    assert (info.source_format, info.encoding, info.delimiter) == (
        "jsonl",
        "utf-8",
        None,
    )
    assert (info.n_rows, info.n_columns) == (2, 4)


def test_it_reads_json_lines_whose_column_mixes_types_as_text(tmp_path):
    data = b'{"a": 1, "b": 2}\n' * 3 + b'{"a": "n/a", "b": 3}\n'

    table, _ = load(tmp_path, data, "mixed.jsonl")

    assert table.column("a").to_pylist() == ["1", "1", "1", "n/a"]
    assert table.column("b").to_pylist() == [2, 2, 2, 3]


def test_it_reads_the_first_sheet_of_an_xlsx_workbook(tmp_path):
    data = xlsx_bytes(
        [
            ["name", "age", "joined", " mixed ", 2024],
            ["Ann", 31, dt.datetime(2020, 1, 2), 1, 1.5],
            ["Bob", None, dt.datetime(2021, 3, 4), "two", 2],
        ]
    )

    table, info = load(tmp_path, data, "people.xlsx")

    assert table.column_names == ["name", "age", "joined", "mixed", "2024"]
    assert table.to_pydict() == {
        "name": ["Ann", "Bob"],
        "age": [31, None],
        "joined": [dt.datetime(2020, 1, 2), dt.datetime(2021, 3, 4)],
        "mixed": ["1", "two"],
        "2024": [1.5, 2.0],
    }
    assert (info.source_format, info.encoding, info.delimiter) == ("excel", None, None)
    assert (info.n_rows, info.n_columns) == (2, 5)
    assert info.schema[0] == {"name": "name", "dtype": "string"}


def test_it_reads_an_xlsx_workbook_named_csv_as_excel(tmp_path):
    table, info = load(tmp_path, xlsx_bytes([["a"], [1]]), "export.csv")

    assert info.source_format == "excel"
    assert table.to_pydict() == {"a": [1]}


def test_it_reads_a_csv_whose_first_column_happens_to_be_called_par1(tmp_path):
    table, info = load(tmp_path, b"PAR1,b\n1,2\n", "odd.csv")

    assert info.source_format == "csv"
    assert table.to_pydict() == {"PAR1": [1], "b": [2]}


@pytest.mark.parametrize(
    "header", [b"data.value,n", b"(lp0,x", b"cost,price", b"]x,y", b"Ident,S"]
)
def test_it_does_not_mistake_text_starting_like_a_pickle_opcode(tmp_path, header):
    data = header + b"\n" + b"1,2\n" * 300_000

    table, _ = load(tmp_path, data, "data.csv")

    assert table.num_rows == 300_000


def test_it_accepts_the_extension_in_any_case_and_ignores_the_rest_of_the_name(
    tmp_path,
):
    table, _ = load(tmp_path, b"a\n1\n", "../../etc/passwd/Data.CSV")

    assert table.to_pydict() == {"a": [1]}


# ---------------------------------------------------------------------------
# Files that are refused
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("filename", ["model.exe", "data.csv.gz", "archive.zip"])
def test_it_refuses_an_unsupported_extension_and_lists_the_supported_ones(
    tmp_path, filename
):
    error = refused(tmp_path, b"a,b\n1,2\n", filename)

    assert error.code == "unsupported_extension"
    assert os.path.splitext(filename)[1] in str(error)
    for extension in SUPPORTED_EXTENSIONS:
        assert extension in str(error)


def test_it_refuses_a_file_without_an_extension(tmp_path):
    error = refused(tmp_path, b"a,b\n1,2\n", "data")

    assert error.code == "unsupported_extension"
    assert "without an extension" in str(error)


@pytest.mark.parametrize("data", [b"", b"   \n\n \r\n", b"\xef\xbb\xbf"])
def test_it_refuses_an_empty_file(tmp_path, data):
    error = refused(tmp_path, data, "empty.csv")

    assert error.code == "empty"
    assert "empty" in str(error)


def test_it_refuses_a_header_without_rows(tmp_path):
    error = refused(tmp_path, b"a,b,c\n", "header.csv")

    assert error.code == "header_only"
    assert "no data rows" in str(error)


def test_it_refuses_binary_garbage(tmp_path):
    garbage = bytes((i * 37 + 11) % 256 for i in range(4096))

    error = refused(tmp_path, garbage, "data.csv")

    assert error.code == "binary"


def test_it_refuses_text_with_nul_bytes(tmp_path):
    error = refused(tmp_path, b"a,b\n1,\x002\n", "data.csv")

    assert error.code == "binary"


def test_it_refuses_many_control_characters(tmp_path):
    error = refused(tmp_path, b"a,b\n" + b"\x01\x02\x03,\x04\x05\n" * 50, "data.txt")

    assert error.code == "binary"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_it_reads_utf16_without_a_byte_order_mark(tmp_path, encoding):
    data = "name,city\nÅsa,Malmö\nBob,Oslo\n".encode(encoding)

    table, info = load(tmp_path, data, "data.csv")

    assert table.to_pydict() == {"name": ["Åsa", "Bob"], "city": ["Malmö", "Oslo"]}
    assert info.encoding == encoding


def test_it_refuses_ragged_rows_and_names_the_row(tmp_path):
    data = b"a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n11,12,13\n"

    error = refused(tmp_path, data, "ragged.csv")

    assert error.code == "ragged"
    assert "Row 4" in str(error)
    assert "4 fields" in str(error)
    assert "3 columns" in str(error)


def test_it_names_a_ragged_row_far_into_the_file(tmp_path):
    data = b"a,b\n" + b"1,2\n" * 300_000 + b"3,4,5\n" + b"1,2\n" * 10

    error = refused(tmp_path, data, "ragged.csv")

    assert error.code == "ragged"
    assert "Row 300002" in str(error)


def test_it_refuses_duplicate_column_names_and_names_them(tmp_path):
    error = refused(tmp_path, b"id,name, id\n1,a,2\n", "dup.csv")

    assert error.code == "duplicate_columns"
    assert "'id'" in str(error)


@pytest.mark.parametrize("header", [b"a,,c", b"a,   ,c"])
def test_it_refuses_an_empty_column_name_and_says_which(tmp_path, header):
    error = refused(tmp_path, header + b"\n1,2,3\n", "unnamed.csv")

    assert error.code == "empty_column_name"
    assert "Column 2" in str(error)


def test_it_refuses_a_zip_archive_named_csv(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.csv", "a,b\n1,2\n")

    error = refused(tmp_path, buffer.getvalue(), "data.csv")

    assert error.code == "unsupported_content"
    assert "ZIP archive" in str(error)


def test_it_refuses_an_html_page_named_csv(tmp_path):
    page = b"\n  <!DOCTYPE html>\n<html><body><table><tr><td>1</td></tr></table>"

    error = refused(tmp_path, page, "report.csv")

    assert error.code == "unsupported_content"
    assert "HTML" in str(error)


def test_it_refuses_gzip_compressed_csv(tmp_path):
    error = refused(tmp_path, gzip.compress(b"a,b\n1,2\n"), "data.csv")

    assert error.code == "unsupported_content"
    assert "gzip" in str(error)


def test_it_refuses_a_parquet_file_without_the_parquet_signature(tmp_path):
    error = refused(tmp_path, b"a,b\n1,2\n", "data.parquet")

    assert error.code == "unsupported_content"
    assert "not a Parquet file" in str(error)


def test_it_refuses_a_truncated_parquet_file(tmp_path):
    data = parquet_bytes(pa.table({"a": [1, 2, 3]}))

    error = refused(tmp_path, data[: len(data) // 2], "data.parquet")

    assert error.code == "unsupported_content"


def test_it_refuses_a_corrupt_parquet_file(tmp_path):
    data = b"PAR1" + bytes(range(256)) * 4 + (100).to_bytes(4, "little") + b"PAR1"

    error = refused(tmp_path, data, "data.parquet")

    assert error.code == "unsupported_content"
    assert "damaged" in str(error)


def test_it_refuses_an_xlsx_that_is_not_a_workbook(tmp_path):
    error = refused(tmp_path, b"a,b\n1,2\n", "data.xlsx")

    assert error.code == "unsupported_content"
    assert "not an Excel workbook" in str(error)


def test_it_refuses_a_damaged_workbook(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "not xml at all")

    error = refused(tmp_path, buffer.getvalue(), "book.xlsx")

    assert error.code == "unsupported_content"


def test_it_refuses_an_empty_sheet(tmp_path):
    error = refused(tmp_path, xlsx_bytes([]), "book.xlsx")

    assert error.code == "empty"


def test_it_refuses_a_sheet_with_only_a_header(tmp_path):
    error = refused(tmp_path, xlsx_bytes([["a", "b"]]), "book.xlsx")

    assert error.code == "header_only"


def test_it_refuses_more_columns_than_the_limit_before_parsing(tmp_path, monkeypatch):
    header = ",".join(f"c{i}" for i in range(50))
    data = f"{header}\n{','.join('1' * 50)}\n".encode()
    monkeypatch.setattr(ml_io.pa_csv, "read_csv", pytest.fail)

    error = refused(tmp_path, data, "wide.csv", limits=ReadLimits(max_columns=10))

    assert error.code == "too_many_columns"
    assert "50" in str(error)


def test_it_refuses_a_header_with_a_million_columns_quickly(tmp_path):
    header = ",".join(f"c{i}" for i in range(1_000_000))

    error = refused(tmp_path, header.encode() + b"\n", "wide.csv")

    assert error.code == "too_many_columns"


def test_it_refuses_more_rows_than_the_limit(tmp_path):
    error = refused(
        tmp_path, b"a\n1\n2\n3\n", "rows.csv", limits=ReadLimits(max_rows=2)
    )

    assert error.code == "too_many_rows"
    assert "3" in str(error)


@pytest.mark.parametrize("filename", ["long.csv", "long.jsonl"])
def test_it_refuses_a_line_longer_than_a_block(tmp_path, filename):
    body = b'{"a": "' + b"x" * (40 << 20) + b'"}\n' if "json" in filename else None
    data = body or b"a,b\n1,2\n3," + b"x" * (40 << 20) + b"\n5,6\n"

    error = refused(tmp_path, data, filename)

    assert error.code == "line_too_long"
    assert "MB" in str(error)


def _zigzag_varint(value: int) -> bytes:
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def test_it_refuses_a_parquet_whose_footer_claims_billions_of_rows(
    tmp_path, monkeypatch
):
    data = parquet_bytes(pa.table({"a": list(range(12345))}))
    footer_length = int.from_bytes(data[-8:-4], "little")
    footer = data[-8 - footer_length : -8]
    # num_rows is a thrift i64 field (header byte 0x16) in the file and row group.
    old = b"\x16" + _zigzag_varint(12345)
    assert old in footer
    footer = footer.replace(old, b"\x16" + _zigzag_varint(5_000_000_000))
    bomb = (
        data[: -8 - footer_length]
        + footer
        + len(footer).to_bytes(4, "little")
        + b"PAR1"
    )
    path = put(tmp_path, bomb)
    assert pq.ParquetFile(path).metadata.num_rows == 5_000_000_000
    monkeypatch.setattr(pq.ParquetFile, "read", pytest.fail)

    with pytest.raises(DataFileError) as caught:
        read_table(path, filename="bomb.parquet")

    assert caught.value.code == "too_many_rows"
    assert "5,000,000,000" in str(caught.value)


def test_it_checks_parquet_budgets_before_reading_any_data(tmp_path, monkeypatch):
    data = parquet_bytes(pa.table({f"c{i}": [1] for i in range(30)}))
    monkeypatch.setattr(pq.ParquetFile, "read", pytest.fail)

    rows = refused(tmp_path, data, "t.parquet", limits=ReadLimits(max_rows=0))
    columns = refused(tmp_path, data, "t.parquet", limits=ReadLimits(max_columns=5))

    assert (rows.code, columns.code) == ("too_many_rows", "too_many_columns")


def test_it_refuses_nested_json_and_names_the_column(tmp_path):
    data = b'{"id": 1, "address": {"city": "Oslo"}}\n'

    error = refused(tmp_path, data, "nested.jsonl")

    assert error.code == "nested"
    assert "'address'" in str(error)


def test_it_refuses_json_lists_and_names_the_column(tmp_path):
    error = refused(tmp_path, b'{"id": 1, "tags": ["a", "b"]}\n', "nested.ndjson")

    assert error.code == "nested"
    assert "'tags'" in str(error)


def test_it_refuses_nested_parquet_columns(tmp_path):
    data = parquet_bytes(pa.table({"s": [{"x": 1}], "n": [1]}))

    error = refused(tmp_path, data, "nested.parquet")

    assert error.code == "nested"
    assert "'s'" in str(error)


def test_it_refuses_broken_json_and_names_the_line(tmp_path):
    data = b'{"a": 1}\n{"a": 2}\n{"a": \n{"a": 4}\n'

    error = refused(tmp_path, data, "broken.jsonl")

    assert error.code == "invalid_json"
    assert "Line 3" in str(error)


def test_it_refuses_a_json_array_with_a_hint(tmp_path):
    error = refused(tmp_path, b'[{"a": 1}, {"a": 2}]\n', "array.jsonl")

    assert error.code == "invalid_json"
    assert "one JSON object on each line" in str(error)


def test_it_refuses_json_lines_that_are_not_objects(tmp_path):
    error = refused(tmp_path, b'{"a": 1}\n{"a": 2}\n42\n', "scalars.jsonl")

    assert error.code == "invalid_json"
    assert "line 3" in str(error)


def test_it_turns_an_unexpected_library_error_into_a_readable_one(
    tmp_path, monkeypatch
):
    def broken(path, **kwargs):
        raise pa.ArrowInvalid(f"CSV parse error: Row #7: odd thing in '{path}'\nmore")

    # Both of pyarrow's CSV readers (the streaming one is tried first).
    monkeypatch.setattr(ml_io.pa_csv, "read_csv", broken)
    monkeypatch.setattr(ml_io.pa_csv, "open_csv", broken)

    error = refused(tmp_path, b"a,b\n1,2\n", "data.csv")

    assert error.code == "unreadable"
    assert str(error) == "Could not read this CSV file: odd thing in 'the file'"


# ---------------------------------------------------------------------------
# Pickles are refused and never run
# ---------------------------------------------------------------------------


@pytest.fixture
def no_unpickling(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("read_table tried to unpickle")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    monkeypatch.setattr(joblib, "load", forbidden)


@pytest.mark.parametrize("filename", ["data.csv", "data.parquet", "data.jsonl"])
@pytest.mark.parametrize("protocol", [0, 1, 2, 4, 5])
def test_it_refuses_a_renamed_pickle_and_runs_none_of_its_code(
    tmp_path, no_unpickling, filename, protocol
):
    canary = tmp_path / "canary"
    data = pickle.dumps(Canary(canary), protocol=protocol)

    error = refused(tmp_path, data, filename)

    assert error.code == "pickle"
    assert "never loaded" in str(error)
    assert not canary.exists()


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3), ("bz2", 3), ("xz", 3)])
def test_it_refuses_joblib_files_compressed_or_not(tmp_path, no_unpickling, compress):
    canary = tmp_path / "canary"
    path = tmp_path / "model.bin"
    with open(path, "wb") as handle:
        joblib.dump({"model": Canary(canary)}, handle, compress=compress)

    with pytest.raises(DataFileError) as caught:
        read_table(path, filename="train.csv")

    assert caught.value.code == "pickle"
    assert not canary.exists()


def test_it_refuses_a_zipped_model_archive(tmp_path, no_unpickling):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", "{}")
        archive.writestr("model.pkl", pickle.dumps(Canary(tmp_path / "canary")))

    error = refused(tmp_path, buffer.getvalue(), "model.csv")

    assert error.code == "pickle"
    assert not (tmp_path / "canary").exists()


# ---------------------------------------------------------------------------
# Writing and reading back
# ---------------------------------------------------------------------------


def test_it_writes_parquet_atomically_and_returns_its_hash_and_size(tmp_path):
    table = pa.table({"a": [1, 2, 3], "b": ["x", None, "z"]})
    path = tmp_path / "dataset.parquet"

    digest, size = write_parquet(table, path)

    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == sha256_file(path)
    assert size == path.stat().st_size
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset.parquet"]
    assert pq.read_table(path).equals(table)


def test_it_replaces_an_existing_file_in_one_step(tmp_path):
    path = tmp_path / "dataset.parquet"
    write_parquet(pa.table({"a": [1]}), path)

    digest, _ = write_parquet(pa.table({"a": [2, 3]}), str(path))

    assert pq.read_table(path).to_pydict() == {"a": [2, 3]}
    assert sha256_file(path) == digest
    assert [p.name for p in tmp_path.iterdir()] == ["dataset.parquet"]


def test_it_leaves_the_old_file_and_no_temp_file_when_writing_fails(
    tmp_path, monkeypatch
):
    path = tmp_path / "dataset.parquet"
    write_parquet(pa.table({"a": [1]}), path)
    before = path.read_bytes()

    def explode(table, where, **kwargs):
        with open(where, "wb") as partial:
            partial.write(b"PAR1 partial")
        raise OSError("disk full")

    monkeypatch.setattr(ml_io.pq, "write_table", explode)

    with pytest.raises(OSError, match="disk full"):
        write_parquet(pa.table({"a": [2]}), path)

    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["dataset.parquet"]


def test_it_round_trips_an_uploaded_table_through_parquet(tmp_path):
    data = "id,name,score,when\n1,Zoë,1.5,2024-01-02\n2,,NaN,2024-02-03\n".encode()
    table, _ = load(tmp_path, data, "t.csv")
    path = tmp_path / "out.parquet"

    write_parquet(table, path)
    frame = read_parquet(path)

    assert list(frame.columns) == ["id", "name", "score", "when"]
    assert frame["id"].tolist() == [1, 2]
    assert frame["name"].tolist()[0] == "Zoë"
    assert math.isnan(frame["score"].tolist()[1])
    assert frame["when"].tolist()[1] == pd.Timestamp("2024-02-03")
    assert read_parquet(path, columns=["score", "id"]).columns.tolist() == [
        "score",
        "id",
    ]


def test_it_reads_only_the_first_rows_when_asked(tmp_path):
    path = tmp_path / "out.parquet"
    ids = list(range(1000))
    write_parquet(pa.table({"id": ids, "t": [f"v{i}" for i in ids]}), path)

    head = read_parquet(path, head=7)
    assert head["id"].tolist() == ids[:7]
    assert str(head["t"].dtype) == str(read_parquet(path)["t"].dtype)
    assert read_parquet(path, head=5000)["id"].tolist() == ids
    assert read_parquet(path, columns=["t"], head=2).columns.tolist() == ["t"]


def test_it_reads_the_head_of_an_empty_table(tmp_path):
    path = tmp_path / "empty.parquet"
    write_parquet(pa.table({"id": pa.array([], pa.int64())}), path)
    assert read_parquet(path, head=3).columns.tolist() == ["id"]


def test_it_never_imports_django():
    code = (
        "import sys, projects.ml.io; "
        "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}

    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True)


# ---------------------------------------------------------------------------
# Fuzzing (R17): anything written as CSV loads or raises DataFileError
# ---------------------------------------------------------------------------

cells = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=200, max_size=3000),
    st.sampled_from(["", " ", "NA", "nan", "-inf", "1e309", "2024-02-30", '"', "\r"]),
)
headers = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "a", "a", "é", "名前", "x,y", '"q"', "\t"]),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    header=st.lists(headers, min_size=1, max_size=6),
    rows=st.lists(st.lists(cells, min_size=1, max_size=7), max_size=12),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
    extension=st.sampled_from([".csv", ".tsv", ".txt"]),
)
def test_it_loads_or_explains_any_fuzzed_csv(
    header, rows, delimiter, encoding, extension
):
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "upload.bin"
        path.write_bytes(buffer.getvalue().encode(encoding, errors="surrogatepass"))
        try:
            table, info = read_table(path, filename=f"fuzz{extension}")
        except DataFileError as error:
            assert error.code
            assert str(error) and "\n" not in str(error)
            assert directory not in str(error)
        else:
            assert info.n_rows == table.num_rows > 0
            assert info.n_columns == table.num_columns > 0
            assert len(set(table.column_names)) == table.num_columns
            assert all(name == name.strip() and name for name in table.column_names)
        assert os.listdir(directory) == ["upload.bin"]
