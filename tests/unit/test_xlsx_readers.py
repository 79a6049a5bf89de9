"""The two .xlsx paths: python-calamine for speed, openpyxl where calamine cannot be trusted."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import openpyxl
import pytest

from dupmon.readers.xlsx import _check_merged_ranges, _read_with_calamine, _read_with_openpyxl, read_xlsx

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "exports"


def workbook_bytes(workbook: openpyxl.Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def sample_workbook() -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Список учащихся-«дублей»"])
    sheet.append(["Период:", dt.date(2024, 9, 2), dt.date(2025, 1, 17)])
    sheet.append(["№ п/п", "ФИО ученика", "Класс", "Промежутки пересечения"])
    sheet.append([1, "Иванов Иван", 8, "2.09.2024-1.10.2024 (s1)"])
    sheet.append([None, None, 8.5, True])
    sheet.merge_cells("A4:A5")
    sheet.merge_cells("B4:B5")
    second = workbook.create_sheet("Второй")
    second["C3"] = "далеко"
    return workbook_bytes(workbook)


@pytest.mark.parametrize(
    "data",
    [sample_workbook(), *(p.read_bytes() for p in sorted(FIXTURES.glob("*.xlsx")))],
    ids=["sample", *(p.name for p in sorted(FIXTURES.glob("*.xlsx")))],
)
def test_calamine_same_as_openpyxl(data):
    fast = _read_with_calamine(data)
    slow = _read_with_openpyxl(data)
    assert [g.name for g in fast] == [g.name for g in slow]
    assert [g.rows for g in fast] == [g.rows for g in slow]


def test_merged_cells_filled_by_calamine():
    rows = _read_with_calamine(sample_workbook())[0].rows
    assert rows[4][0] == "1"
    assert rows[4][1] == "Иванов Иван"
    assert rows[1][1] == "02.09.2024"


def without_cell_references(data: bytes) -> bytes:
    """Return the workbook with the r attributes of its cells removed (allowed by the format)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                content = content.replace(b'<c r="', b'<c data-r="')
            target.writestr(item, content)
    return buffer.getvalue()


def test_cells_without_references_not_exact():
    assert _check_merged_ranges(sample_workbook())
    assert not _check_merged_ranges(without_cell_references(sample_workbook()))


def test_cells_without_references_still_read():
    grids = read_xlsx(without_cell_references(sample_workbook()))
    assert grids[0].rows[3][1] == "Иванов Иван"
