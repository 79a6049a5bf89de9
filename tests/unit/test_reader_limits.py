"""Small files that would expand to huge grids are rejected before they use the memory."""

from __future__ import annotations

import io
import zipfile

import openpyxl
import pytest

from dupmon.layout import parse_layout
from dupmon.readers import UnreadableExportError, detect_format, read_grids
from dupmon.readers.grid import Grid

LIMIT = 10**9


def workbook_bytes(workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def with_merge(data: bytes, reference: str) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                merge = f'<mergeCells count="1"><mergeCell ref="{reference}"/></mergeCells>'
                content = content.replace(b"</sheetData>", b"</sheetData>" + merge.encode())
            target.writestr(info, content)
    return out.getvalue()


def rejection(data: bytes) -> str:
    with pytest.raises(UnreadableExportError) as caught:
        read_grids(data, detect_format(data), LIMIT)
    return caught.value.problem.message


def test_xlsx_huge_merge_rejected():
    workbook = openpyxl.Workbook()
    workbook.active["A1"] = "x"
    assert "over the limit" in rejection(with_merge(workbook_bytes(workbook), "K1:XFD1048576"))


def test_xlsx_far_value_rejected():
    workbook = openpyxl.Workbook()
    workbook.active["A1"] = "x"
    workbook.active["XFD1048576"] = "y"
    assert "over the limit" in rejection(workbook_bytes(workbook))


def test_html_huge_spans_rejected():
    cells = "".join('<td rowspan="1000" colspan="1000">x</td>' for _ in range(200))
    assert "over the limit" in rejection(f"<table><tr>{cells}</tr></table>".encode())


def test_spreadsheetml_huge_merge_rejected():
    text = (
        '<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet" '
        'xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet"><Worksheet ss:Name="a"><Table>'
        '<Row><Cell ss:MergeAcross="16000" ss:MergeDown="1000000"><Data ss:Type="String">x'
        "</Data></Cell></Row></Table></Worksheet></Workbook>"
    )
    assert "over the limit" in rejection(text.encode())


HEADER = ["№ п/п", "Управление", "ОО", "Населенный пункт", "Класс/группа",
          "Промежутки пересечения", "ОО", "Населенный пункт", "Класс/группа"]
ROW = ["1", "Сахминобр", "Школа А", "Холмск", "5", "1.10.2024 - 5.10.2024", "Школа Б", "Холмск", "5"]


def test_tables_of_every_sheet_read():
    grids = [Grid(name="a", rows=[HEADER, ROW]), Grid(name="b", rows=[HEADER, ROW[:2] + ["Школа В"] + ROW[3:]])]
    assert [r["organisation"] for r in parse_layout(grids).rows] == ["Школа А", "Школа В"]


def test_repeated_header_row_skipped():
    table = parse_layout([Grid(name="a", rows=[HEADER, ROW, HEADER, ROW])])
    assert len(table.rows) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Дубли не найдены", True), ("Учащиеся-дубли отсутствуют", True), ("Нет дублей", True),
     ("Дубли обнаружены: 12 учащихся", False), ("Нет данных", False)],
)
def test_no_duplicates_message(text, expected):
    from dupmon.layout import LayoutError

    try:
        table = parse_layout([Grid(name="a", rows=[["Список учащихся-«дублей»"], [text]])])
        found = table.no_duplicates
    except LayoutError:
        found = False
    assert found is expected
