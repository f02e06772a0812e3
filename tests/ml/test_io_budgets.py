"""Memory budgets checked before a file is decoded, and the CSV leftovers."""

from __future__ import annotations

import pyexpat
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from projects.ml.io import DataFileError, ReadLimits, read_table
from tests.helpers import write_dictionary_bomb_parquet, write_xlsx


def _refused(path: Path, filename: str, **limits) -> DataFileError:
    with pytest.raises(DataFileError) as caught:
        read_table(path, filename=filename, limits=ReadLimits(**limits))
    return caught.value


def test_it_refuses_a_parquet_dictionary_bomb_from_its_encoded_form(tmp_path):
    path = write_dictionary_bomb_parquet(tmp_path / "bomb.parquet")
    assert path.stat().st_size < 2 * 1024 * 1024  # small on disk...

    error = _refused(path, "bomb.parquet")  # ...about 2.8 GB decoded

    assert error.code == "too_large"
    assert str(error).startswith("The file would take 2.8 GB in memory")
    assert str(error).endswith("the limit is 2.0 GB (DATASET_MAX_BYTES).")
    assert "column 'note'" in str(error)


def test_it_reads_a_dictionary_column_within_the_budget(tmp_path):
    path = write_dictionary_bomb_parquet(tmp_path / "ok.parquet", rows=1_000)

    table, info = read_table(path, filename="ok.parquet")

    assert (info.n_rows, table.column("note")[0].as_py()) == (1_000, "x" * 10_000)


def test_it_counts_fixed_width_columns_from_the_footer(tmp_path):
    path = tmp_path / "wide.parquet"
    pq.write_table(pa.table({"x": np.zeros(200_000)}), path)

    error = _refused(path, "wide.parquet", max_bytes=1024 * 1024)

    assert error.code == "too_large"
    assert "the limit is 1.0 MB (DATASET_MAX_BYTES)" in str(error)


def test_it_refuses_an_excel_sheet_with_two_far_apart_cells(tmp_path):
    path = write_xlsx(tmp_path / "bomb.xlsx", {"A1": "a", "XFD1048576": "b"})
    assert path.stat().st_size < 4096

    error = _refused(path, "bomb.xlsx")

    assert error.code == "too_large"
    assert "1,048,576 rows x 16,384 columns" in str(error)
    assert str(error).endswith("the limit is 2.0 GB (DATASET_MAX_BYTES).")


def test_it_counts_a_shared_string_once_per_cell_that_uses_it(tmp_path):
    cells = {f"A{row}": "y" * 1_000 for row in range(1, 2_001)}
    path = write_xlsx(tmp_path / "shared.xlsx", cells, shared=True)

    error = _refused(path, "shared.xlsx", max_bytes=1024 * 1024)

    assert error.code == "too_large"


def test_it_reads_a_normal_workbook(tmp_path):
    cells = {"A1": "name", "B1": "city", "A2": "Åsa", "B2": "Malmö"}
    path = write_xlsx(tmp_path / "ok.xlsx", cells, shared=True)

    table, _ = read_table(path, filename="ok.xlsx")

    assert table.to_pydict() == {"name": ["Åsa"], "city": ["Malmö"]}


def test_it_refuses_a_decoded_text_table_over_the_budget(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("a,b\n" + "1,2\n" * 100_000)

    error = _refused(path, "big.csv", max_bytes=100_000)

    assert error.code == "too_large"


def test_it_names_the_line_where_an_unclosed_quote_opened(tmp_path):
    path = tmp_path / "quote.csv"
    path.write_bytes(b'a,b\n1,x\n2,"y\n3,z\n4,w\n')

    error = _refused(path, "quote.csv")

    assert error.code == "unclosed_quote"
    assert str(error).startswith('A quote (") opened on line 3 is never closed')


def test_it_still_reads_a_quoted_value_spanning_lines(tmp_path):
    path = tmp_path / "multi.csv"
    path.write_bytes(b'a,b\n1,x\n2,"y\nz"\n4,w\n')

    table, _ = read_table(path, filename="multi.csv")

    assert table.column("b").to_pylist() == ["x", "y\nz", "w"]


def test_it_refuses_utf16_it_cannot_detect_as_binary(tmp_path):
    path = tmp_path / "cjk.csv"
    path.write_bytes("名前,都市\n山田,東京\n".encode("utf-16-le") * 50)

    error = _refused(path, "cjk.csv")

    assert error.code in ("binary", "encoding")


def test_it_parses_sheets_with_an_expat_that_stops_entity_bombs():
    # Expat 2.4 added the billion-laughs protection the sheet scanner relies on.
    assert pyexpat.version_info >= (2, 4, 0)


def test_it_reads_a_column_whose_type_changes_after_the_first_block(tmp_path):
    # The lean reader takes types from the first block; the table reader widens.
    path = tmp_path / "late.csv"
    path.write_bytes(b"a,b\n" + b"1,\n" * 2_000_000 + b"x,7\n")

    table, info = read_table(path, filename="late.csv")

    assert info.n_rows == 2_000_001
    assert table.column("a")[-1].as_py() == "x"
    assert table.column("b").null_count == 2_000_000
    assert table.column("b")[-1].as_py() == 7
