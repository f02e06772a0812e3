"""Small builders shared by tests (real files, real services)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def churn_frame(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    """A small mixed table: numeric, categorical, a target, some missing values."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows),
            "income": rng.lognormal(10, 1, rows).round(2),
            "city": rng.choice(["Paris", "Lyon", "Nice"], rows),
            "sex": rng.choice(["female", "male"], rows),
            "churn": rng.choice(["yes", "no"], rows, p=[0.3, 0.7]),
        }
    )
    df.loc[df.sample(frac=0.1, random_state=seed).index, "income"] = np.nan
    return df


def write_csv(path: Path, rows: int = 200, seed: int = 0) -> Path:
    """The churn table as a CSV file."""
    churn_frame(rows, seed).to_csv(path, index=False)
    return path


def write_big_parquet_csv(path: Path, rows: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(12)})
    df["cat"] = rng.choice([f"c{i}" for i in range(50)], rows)
    df.to_csv(path, index=False)
    return path


def write_dictionary_bomb_parquet(path: Path, rows: int = 300_000) -> Path:
    """A Parquet file of about 0.6 MB whose text column decodes to rows x 10 KB.

    One 10 KB string, dictionary-encoded, used by every row: built from the
    dictionary and its indices, so the test never holds the decoded column.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    note = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(rows, dtype="int32")), pa.array(["x" * 10_000])
    )
    pq.write_table(pa.table({"id": np.arange(rows), "note": note}), path)
    return path


_XLSX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.'
        'openxmlformats.org/package/2006/content-types"><Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/><Override '
        'PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/'
        'worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/'
        'sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas'
        '.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.'
        'openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.'
        'openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet '
        'name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas'
        '.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'sharedStrings" Target="sharedStrings.xml"/></Relationships>'
    ),
}


def write_xlsx(path: Path, cells: dict[str, str], *, shared: bool = False) -> Path:
    """A minimal .xlsx written by hand: only the given cells exist in the sheet.

    Spreadsheet libraries fill the gaps between far-apart cells when they write,
    which is exactly what a bomb avoids; this writes the XML a tiny bomb has.
    With ``shared``, text goes to the shared-string table (as Excel does).
    """
    import re
    import zipfile
    from xml.sax.saxutils import escape

    strings: list[str] = []
    rows: dict[int, list[str]] = {}
    for ref, value in cells.items():
        row = int(re.fullmatch(r"[A-Z]+(\d+)", ref).group(1))
        if shared:
            if value not in strings:
                strings.append(value)
            cell = f'<c r="{ref}" t="s"><v>{strings.index(value)}</v></c>'
        else:
            cell = f'<c r="{ref}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'
        rows.setdefault(row, []).append(cell)
    data = "".join(
        f'<row r="{number}">{"".join(row)}</row>'
        for number, row in sorted(rows.items())
    )
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{main}">'
        f"<sheetData>{data}</sheetData></worksheet>"
    )
    table = "".join(f"<si><t>{escape(s)}</t></si>" for s in strings)
    shared_xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{main}" '
        f'count="{len(strings)}" uniqueCount="{len(strings)}">{table}</sst>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in _XLSX_PARTS.items():
            archive.writestr(name, text)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
        archive.writestr("xl/sharedStrings.xml", shared_xml)
    return path
