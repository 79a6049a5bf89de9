"""Readers of every export format, on files built here from one invented report.

Each fixture contains the same sheet: a title, the period, the two-row header
(ОО, Населенный пункт and Класс/группа of the duplicate under «Информация о
дубле») and two rows of invented pupils' accounts. LibreOffice converts the
.xlsx fixture to BIFF .xls and to .ods, and those cases are skipped where
``soffice`` is missing. Every other file is written from Python.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import quopri
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import openpyxl
import pytest
from odf.office import Annotation
from odf.opendocument import OpenDocumentSpreadsheet
from odf.table import CoveredTableCell, Table, TableCell, TableRow
from odf.text import P

from dupmon.layout import parse_layout
from dupmon.readers import (
    Grid,
    UnreadableExportError,
    detect_format,
    read_grids,
    reader_warnings,
)

LIMIT = 10**9
AUTHORITY = "УО Северного района"
SCHOOL = "МБОУ СОШ № 3 с. Озёрное"

# The sheet as a spreadsheet program shows it: None is a blank cell, and a
# cell covered by a merged range is None as well.
SHEET = [
    ["Список учащихся-«дублей» (образовательные организации)"] + [None] * 8,
    ["Период:", dt.date(2024, 9, 2), dt.date(2025, 1, 17)] + [None] * 6,
    [
        "№ п/п",
        "Управление",
        "ОО",
        "Населенный пункт",
        "Класс/группа",
        "Промежутки пересечения",
        "Информация о дубле",
        None,
        None,
    ],
    [None] * 6 + ["ОО", "Населенный пункт", "Класс/группа"],
    [
        1,
        AUTHORITY,
        SCHOOL,
        "с. Озёрное",
        8,
        "24.12.2024 - 1.01.2025",
        "МАОУ Лицей № 7",
        "г. Приморск",
        "8В",
    ],
    [2, None, SCHOOL, None, "8А, 8Б", "9.01.2025 - 17.01.2025", "МБОУ ООШ № 12", None, 8],
]
# Zero-based, inclusive (first_row, first_col, last_row, last_col).
MERGES = [
    (0, 0, 0, 8),
    *[(2, column, 3, column) for column in range(6)],
    (2, 6, 2, 8),
    (4, 1, 5, 1),  # the authority, merged down over both accounts
]

EXPECTED_ROWS = [
    {
        "row_number": "1",
        "authority": AUTHORITY,
        "organisation": SCHOOL,
        "settlement": "с. Озёрное",
        "class_name": "8",
        "intersections": "24.12.2024 - 1.01.2025",
        "duplicate_organisation": "МАОУ Лицей № 7",
        "duplicate_settlement": "г. Приморск",
        "duplicate_class_name": "8В",
        "source_row": 5,
    },
    {
        "row_number": "2",
        "authority": AUTHORITY,
        "organisation": SCHOOL,
        "settlement": "",
        "class_name": "8А, 8Б",
        "intersections": "9.01.2025 - 17.01.2025",
        "duplicate_organisation": "МБОУ ООШ № 12",
        "duplicate_settlement": "",
        "duplicate_class_name": "8",
        "source_row": 6,
    },
]


def merge_at(row: int, column: int) -> tuple[int, int, int, int] | None:
    return next((m for m in MERGES if m[0] == row and m[1] == column), None)


def is_covered(row: int, column: int) -> bool:
    """Return whether a merged range covers the cell without starting at it."""
    for first_row, first_col, last_row, last_col in MERGES:
        inside = first_row <= row <= last_row and first_col <= column <= last_col
        if inside and (row, column) != (first_row, first_col):
            return True
    return False


def display(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.strftime("%d.%m.%Y")
    return str(value)


# --- Builders: one file of each format from SHEET and MERGES ---------------


def build_xlsx() -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Дубли"
    for row in SHEET:
        sheet.append(row)
    for first_row, first_col, last_row, last_col in MERGES:
        sheet.merge_cells(
            start_row=first_row + 1,
            start_column=first_col + 1,
            end_row=last_row + 1,
            end_column=last_col + 1,
        )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def ods_cell(value: object, row: int, column: int):
    if is_covered(row, column):
        return CoveredTableCell()
    spans = {}
    merge = merge_at(row, column)
    if merge:
        spans = {
            "numberrowsspanned": merge[2] - merge[0] + 1,
            "numbercolumnsspanned": merge[3] - merge[1] + 1,
        }
    if value is None:
        return TableCell(**spans)
    if isinstance(value, int):
        # The shown text differs from office:value, as with a «0.00» number format.
        cell = TableCell(valuetype="float", value=str(value), **spans)
        cell.addElement(P(text=f"{value},00"))
        return cell
    if isinstance(value, dt.date):
        cell = TableCell(valuetype="date", datevalue=value.isoformat(), **spans)
        cell.addElement(P(text=value.strftime("%m/%d/%y")))
        return cell
    cell = TableCell(valuetype="string", **spans)
    cell.addElement(P(text=value))
    return cell


def build_ods(tail_rows: int = 1_048_570, tail_columns: int = 16_375) -> bytes:
    """Write the sheet as LibreOffice does, with the unused rest of the sheet as repeats."""
    document = OpenDocumentSpreadsheet()
    table = Table(name="Дубли")
    for row_index, values in enumerate(SHEET):
        row = TableRow()
        for column, value in enumerate(values):
            cell = ods_cell(value, row_index, column)
            if (row_index, column) == (4, 2):
                note = Annotation()
                note.addElement(P(text="проверить у директора"))
                cell.addElement(note)
            row.addElement(cell)
        row.addElement(TableCell(numbercolumnsrepeated=tail_columns))
        table.addElement(row)
    blank_rest = TableRow(numberrowsrepeated=tail_rows)
    blank_rest.addElement(TableCell(numbercolumnsrepeated=16_384))
    table.addElement(blank_rest)
    document.spreadsheet.addElement(table)
    buffer = io.BytesIO()
    document.write(buffer)
    return buffer.getvalue()


def spreadsheetml_cell(value: object, row: int, column: int, previous: int) -> str:
    attributes = ""
    if column != previous + 1:
        attributes += f' ss:Index="{column + 1}"'
    merge = merge_at(row, column)
    if merge and merge[3] > column:
        attributes += f' ss:MergeAcross="{merge[3] - column}"'
    if merge and merge[2] > row:
        attributes += f' ss:MergeDown="{merge[2] - row}"'
    if value is None:
        return f"<Cell{attributes}/>"
    if isinstance(value, int):
        data = f'<Data ss:Type="Number">{value}</Data>'
    elif isinstance(value, dt.date):
        data = f'<Data ss:Type="DateTime">{value.isoformat()}T00:00:00.000</Data>'
    else:
        data = f'<Data ss:Type="String">{escape(value)}</Data>'
    comment = ""
    if (row, column) == (4, 2):
        comment = '<Comment ss:Author="Оператор"><ss:Data>проверить</ss:Data></Comment>'
    return f"<Cell{attributes}>{data}{comment}</Cell>"


def spreadsheetml_text() -> str:
    rows = []
    for row_index, values in enumerate(SHEET):
        cells = []
        previous = -1
        for column, value in enumerate(values):
            if is_covered(row_index, column):
                continue
            if value is None and not merge_at(row_index, column):
                continue
            cells.append(spreadsheetml_cell(value, row_index, column, previous))
            merge = merge_at(row_index, column)
            previous = merge[3] if merge else column
        rows.append(f"<Row>{''.join(cells)}</Row>")
    return (
        '<?xml version="1.0"?>\n'
        '<?mso-application progid="Excel.Sheet"?>\n'
        '<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"'
        ' xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet">\n'
        f'<Worksheet ss:Name="Дубли"><Table>{"".join(rows)}</Table></Worksheet>\n'
        "</Workbook>\n"
    )


def build_spreadsheetml() -> bytes:
    return spreadsheetml_text().encode("utf-8")


def html_table() -> str:
    rows = []
    for row_index, values in enumerate(SHEET):
        cells = []
        for column, value in enumerate(values):
            if is_covered(row_index, column):
                continue
            spans = ""
            merge = merge_at(row_index, column)
            if merge:
                spans = f' rowspan="{merge[2] - merge[0] + 1}" colspan="{merge[3] - merge[1] + 1}"'
            cells.append(f"<td{spans}>{escape(display(value))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table border=1>{''.join(rows)}</table>"


BOUNDARY = "----=_NextPart_01DB6A2C.4F0E1A70"


def mime_part(location: str, content_type: str, body: bytes, encoding: str) -> bytes:
    if encoding == "quoted-printable":
        encoded = quopri.encodestring(body)
    else:
        encoded = base64.encodebytes(body)
    return (
        f"--{BOUNDARY}\r\n"
        f"Content-Location: {location}\r\n"
        f"Content-Transfer-Encoding: {encoding}\r\n"
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode("ascii") + encoded + b"\r\n"


def web_archive(parts: list[bytes]) -> bytes:
    head = (
        "MIME-Version: 1.0\r\n"
        "X-Document-Type: Workbook\r\n"
        f'Content-Type: multipart/related; boundary="{BOUNDARY}"\r\n\r\n'
        "This document is a Single File Web Page, also known as a Web Archive file.\r\n\r\n"
    ).encode("ascii")
    return head + b"".join(parts) + f"--{BOUNDARY}--\r\n".encode("ascii")


def build_mhtml() -> bytes:
    page = (
        '<html><head><meta http-equiv=Content-Type content="text/html; charset=windows-1251">'
        f"</head><body>{html_table()}</body></html>"
    )
    return web_archive(
        [
            mime_part(
                "file:///C:/report.htm",
                'text/html; charset="windows-1251"',
                page.encode("cp1251"),
                "quoted-printable",
            ),
            mime_part("file:///C:/report_files/image001.png", "image/png", b"\x89PNG", "base64"),
        ]
    )


def convert_with_libreoffice(tmp_dir: Path, target: str) -> bytes:
    """Convert the .xlsx fixture to another format with LibreOffice."""
    source = tmp_dir / "report.xlsx"
    source.write_bytes(build_xlsx())
    profile = tmp_dir / "profile"
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--convert-to",
            target,
            "--outdir",
            str(tmp_dir / target),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return (tmp_dir / target / f"report.{target}").read_bytes()


@pytest.fixture(scope="module")
def libreoffice_files(tmp_path_factory) -> dict[str, bytes]:
    if shutil.which("soffice") is None:
        pytest.skip("LibreOffice (soffice) is not installed, so no .xls or .ods can be converted")
    tmp_dir = tmp_path_factory.mktemp("libreoffice")
    return {target: convert_with_libreoffice(tmp_dir, target) for target in ("xls", "ods")}


BUILDERS = {
    "xlsx": build_xlsx,
    "ods": build_ods,
    "spreadsheetml": build_spreadsheetml,
    "mhtml": build_mhtml,
}


@pytest.fixture(params=[*BUILDERS, "libreoffice-xls", "libreoffice-ods"])
def export(request) -> tuple[str, bytes]:
    """Return the expected format and the bytes of one fixture file."""
    if request.param.startswith("libreoffice-"):
        file_format = request.param.removeprefix("libreoffice-")
        return file_format, request.getfixturevalue("libreoffice_files")[file_format]
    return request.param, BUILDERS[request.param]()


# --- Every format -----------------------------------------------------------


def test_format_detected_from_content(export, tmp_path):
    file_format, data = export
    path = tmp_path / "Список дублей.xls"  # operators save HTML, XML and MHTML as .xls too
    path.write_bytes(data)

    assert detect_format(path.read_bytes()) == file_format


def test_layout_rows_match(export):
    file_format, data = export

    table = parse_layout(read_grids(data, detect_format(data), LIMIT))

    assert table.layout == "two_row_header"
    assert table.rows == EXPECTED_ROWS


def test_period_read_from_dates(export):
    file_format, data = export

    table = parse_layout(read_grids(data, file_format, LIMIT))

    assert table.period_start == dt.date(2024, 9, 2)
    assert table.period_end == dt.date(2025, 1, 17)


def test_classes_stay_text(export):
    file_format, data = export

    rows = parse_layout(read_grids(data, file_format, LIMIT)).rows

    assert rows[0]["class_name"] == "8"
    assert rows[0]["duplicate_class_name"] == "8В"
    assert rows[1]["class_name"] == "8А, 8Б"
    assert rows[1]["duplicate_class_name"] == "8"


def test_merged_cells_filled(export):
    file_format, data = export

    rows = read_grids(data, file_format, LIMIT)[0].rows

    assert rows[2][6:9] == ["Информация о дубле"] * 3
    assert rows[3][0] == "№ п/п"
    assert rows[3][5] == "Промежутки пересечения"
    assert rows[5][1] == AUTHORITY


def test_unmerged_blanks_stay_empty(export):
    file_format, data = export

    rows = read_grids(data, file_format, LIMIT)[0].rows

    assert rows[1][3:] == [""] * 6
    assert rows[5][3] == ""
    assert rows[5][7] == ""


def test_dates_written_day_first(export):
    file_format, data = export

    rows = read_grids(data, file_format, LIMIT)[0].rows

    assert rows[1][:3] == ["Период:", "02.09.2024", "17.01.2025"]


# --- BIFF .xls --------------------------------------------------------------


END_OF_CHAIN = 0xFFFFFFFE
FREE_SECTOR = 0xFFFFFFFF
FAT_SECTOR = 0xFFFFFFFD
NO_STREAM = 0xFFFFFFFF


def ole2_directory_entry(name, kind, left, right, child, start, size) -> bytes:
    """Return one 128-byte directory entry; ``kind`` is 5 for the root, 2 for a stream."""
    encoded = (name + "\x00").encode("utf-16-le") if name else b""
    black = 1
    return struct.pack(
        "<64sHBBIII16sI8s8sIII",
        encoded,
        len(encoded),
        kind,
        black,
        left,
        right,
        child,
        b"",  # CLSID
        0,  # state bits
        b"",  # creation time
        b"",  # modification time
        start,
        size,
        0,  # high 32 bits of the size
    )


def ole2_container(streams: dict[str, bytes]) -> bytes:
    """Write a minimal OLE2 compound file of two streams (version 3, 512-byte sectors).

    Every stream is padded to 4096 bytes so that all of them sit in regular
    sectors and no mini stream is needed.
    """
    fat = [FAT_SECTOR, END_OF_CHAIN]  # sector 0 is the FAT, sector 1 the directory
    bodies, starts = [], {}
    for name, body in streams.items():
        padded = body.ljust(4096, b"\x00")
        starts[name] = len(fat)
        sector_count = len(padded) // 512
        fat.extend(len(fat) + 1 + i for i in range(sector_count - 1))
        fat.append(END_OF_CHAIN)
        bodies.append(padded)
    fat.extend([FREE_SECTOR] * (128 - len(fat)))

    # Directory siblings form a tree ordered by name length, then name. Entry 1
    # is the root's child, and entry 2 (the shorter name) its left sibling.
    shorter, longer = sorted(streams, key=lambda name: (len(name), name.upper()))
    directory = b"".join(
        [
            ole2_directory_entry("Root Entry", 5, NO_STREAM, NO_STREAM, 1, END_OF_CHAIN, 0),
            ole2_directory_entry(
                longer, 2, 2, NO_STREAM, NO_STREAM, starts[longer], len(streams[longer])
            ),
            ole2_directory_entry(
                shorter, 2, NO_STREAM, NO_STREAM, NO_STREAM, starts[shorter], len(streams[shorter])
            ),
            ole2_directory_entry("", 0, NO_STREAM, NO_STREAM, NO_STREAM, 0, 0),
        ]
    )

    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        b"",  # CLSID
        0x3E,  # minor version
        3,  # major version
        0xFFFE,  # byte order mark
        9,  # sector size 2**9
        6,  # mini sector size 2**6
        b"",  # reserved
        0,  # directory sectors, always 0 in version 3
        1,  # FAT sectors
        1,  # first directory sector
        0,  # transaction signature
        4096,  # mini stream cutoff
        END_OF_CHAIN,  # first mini FAT sector
        0,  # mini FAT sectors
        END_OF_CHAIN,  # first DIFAT sector
        0,  # DIFAT sectors
    )
    difat = struct.pack("<109I", 0, *[FREE_SECTOR] * 108)
    return header + difat + struct.pack("<128I", *fat) + directory + b"".join(bodies)


def test_encrypted_workbook_rejected():
    # The two streams that mark an .xlsx saved with a password in an OLE2
    # container, in place of a Workbook stream. Office also writes a
    # \x06DataSpaces storage, which the reader does not look at.
    data = ole2_container(
        {
            "EncryptionInfo": b"\x04\x00\x04\x00\x40\x00\x00\x00",
            "EncryptedPackage": b"\x00" * 600,
        }
    )
    assert detect_format(data) == "xls"

    with pytest.raises(UnreadableExportError) as raised:
        read_grids(data, "xls", LIMIT)

    assert raised.value.problem.message == (
        "the workbook is password-protected; save it without a password"
    )
    assert raised.value.problem.message_ru == "книга защищена паролем; сохраните её без пароля"


def test_ole2_without_workbook_rejected():
    data = ole2_container({"WordDocument": b"\x00" * 600, "1Table": b"\x00" * 600})

    with pytest.raises(UnreadableExportError) as raised:
        read_grids(data, "xls", LIMIT)

    assert "Can't find workbook" in raised.value.problem.message


def test_xls_sheet_name_kept(libreoffice_files):
    grids = read_grids(libreoffice_files["xls"], "xls", LIMIT)

    assert [grid.name for grid in grids] == ["Дубли"]


# --- OpenDocument -----------------------------------------------------------


def test_ods_blank_repeats_trimmed():
    grid = read_grids(build_ods(), "ods", LIMIT)[0]

    assert len(grid.rows) == len(SHEET)
    assert grid.width == 9


def test_ods_annotation_not_in_value():
    grid = read_grids(build_ods(), "ods", LIMIT)[0]

    assert grid.rows[4][2] == SCHOOL


def test_ods_indented_xml_read():
    # Other producers than LibreOffice may indent content.xml, which adds
    # whitespace text nodes between the elements.
    original = zipfile.ZipFile(io.BytesIO(build_ods()))
    indented = io.BytesIO()
    with zipfile.ZipFile(indented, "w") as archive:
        for name in original.namelist():
            content = original.read(name)
            if name == "content.xml":
                content = content.replace(b"><", b">\n  <")
            archive.writestr(name, content)
    data = indented.getvalue()

    table = parse_layout(read_grids(data, detect_format(data), LIMIT))

    assert table.rows == EXPECTED_ROWS


def ods_of_rows(rows: list) -> bytes:
    document = OpenDocumentSpreadsheet()
    table = Table(name="Лист1")
    for row in rows:
        table.addElement(row)
    document.spreadsheet.addElement(table)
    buffer = io.BytesIO()
    document.write(buffer)
    return buffer.getvalue()


def text_cell(text: str, **attributes) -> TableCell:
    cell = TableCell(valuetype="string", **attributes)
    cell.addElement(P(text=text))
    return cell


def test_ods_filled_repeats_expanded():
    first = TableRow(numberrowsrepeated=2)
    first.addElement(text_cell("УО", numbercolumnsrepeated=3))
    gap = TableRow(numberrowsrepeated=3)
    gap.addElement(TableCell(numbercolumnsrepeated=5))
    last = TableRow()
    last.addElement(TableCell(numbercolumnsrepeated=2))
    last.addElement(text_cell("ОО"))

    rows = read_grids(ods_of_rows([first, gap, last]), "ods", LIMIT)[0].rows

    assert rows == [
        ["УО", "УО", "УО"],
        ["УО", "УО", "УО"],
        ["", "", ""],
        ["", "", ""],
        ["", "", ""],
        ["", "", "ОО"],
    ]


def test_ods_repeat_bomb_rejected():
    row = TableRow(numberrowsrepeated=1_000_000)
    row.addElement(text_cell("x", numbercolumnsrepeated=1_000))

    with pytest.raises(UnreadableExportError) as raised:
        read_grids(ods_of_rows([row]), "ods", LIMIT)

    assert "expands to more than" in raised.value.problem.message


def test_ods_size_limit_applies():
    data = build_ods()

    with pytest.raises(UnreadableExportError) as raised:
        read_grids(data, "ods", 1_000)

    assert "over the limit of 1000" in raised.value.problem.message


# --- SpreadsheetML ----------------------------------------------------------


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE Workbook [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"
 xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet">
<Worksheet ss:Name="Дубли"><Table><Row>
<Cell><Data ss:Type="String">&lol9;</Data></Cell>
</Row></Table></Worksheet></Workbook>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE Workbook [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"
 xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet">
<Worksheet ss:Name="Дубли"><Table><Row>
<Cell><Data ss:Type="String">&secret;</Data></Cell>
</Row></Table></Worksheet></Workbook>
"""


@pytest.mark.parametrize("text", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["laughs", "external"])
def test_spreadsheetml_entities_rejected(text):
    data = text.encode("utf-8")
    assert detect_format(data) == "spreadsheetml"

    with pytest.raises(UnreadableExportError) as raised:
        read_grids(data, "spreadsheetml", LIMIT)

    assert raised.value.problem.message.startswith(
        "the spreadsheetml file contains XML entity declarations or external references"
    )
    assert "EntitiesForbidden" in raised.value.problem.message


def test_spreadsheetml_windows_1251_read():
    undeclared = spreadsheetml_text()
    declared = undeclared.replace(
        '<?xml version="1.0"?>', '<?xml version="1.0" encoding="windows-1251"?>'
    )

    for text in (declared, undeclared):
        data = text.encode("cp1251")
        table = parse_layout(read_grids(data, detect_format(data), LIMIT))
        assert table.rows == EXPECTED_ROWS, text[:60]


def spreadsheetml_of_rows(rows: str) -> bytes:
    return (
        '<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"'
        ' xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet"'
        ' xmlns:html="http://www.w3.org/TR/REC-html40">'
        f'<Worksheet ss:Name="Лист1"><Table>{rows}</Table></Worksheet></Workbook>'
    ).encode("utf-8")


def test_spreadsheetml_rich_text_joined():
    data = spreadsheetml_of_rows(
        '<Row><Cell><ss:Data ss:Type="String" xmlns="http://www.w3.org/TR/REC-html40">'
        "<B>МАОУ</B> Лицей № 7</ss:Data></Cell></Row>"
    )

    rows = read_grids(data, "spreadsheetml", LIMIT)[0].rows

    assert rows == [["МАОУ Лицей № 7"]]


def test_spreadsheetml_row_index_skips():
    data = spreadsheetml_of_rows(
        '<Row><Cell><Data ss:Type="String">А</Data></Cell></Row>'
        '<Row ss:Index="3"><Cell ss:Index="2"><Data ss:Type="Number">8.5</Data></Cell></Row>'
    )

    rows = read_grids(data, "spreadsheetml", LIMIT)[0].rows

    assert rows == [["А", ""], ["", ""], ["", "8.5"]]


def test_spreadsheetml_merge_across_moves_next():
    data = spreadsheetml_of_rows(
        '<Row><Cell ss:MergeAcross="2"><Data ss:Type="String">Информация о дубле</Data></Cell>'
        '<Cell><Data ss:Type="String">после</Data></Cell></Row>'
    )

    rows = read_grids(data, "spreadsheetml", LIMIT)[0].rows

    assert rows == [["Информация о дубле"] * 3 + ["после"]]


def test_spreadsheetml_index_out_of_range():
    data = spreadsheetml_of_rows(
        '<Row><Cell ss:Index="20000"><Data ss:Type="String">А</Data></Cell></Row>'
    )

    with pytest.raises(UnreadableExportError) as raised:
        read_grids(data, "spreadsheetml", LIMIT)

    assert "column index 20000 is outside 1..16384" in raised.value.problem.message


def test_spreadsheetml_time_of_day_kept():
    data = spreadsheetml_of_rows(
        '<Row><Cell><Data ss:Type="DateTime">1899-12-31T10:30:00.000</Data></Cell></Row>'
    )

    rows = read_grids(data, "spreadsheetml", LIMIT)[0].rows

    assert rows == [["10:30:00"]]


# --- MHTML ------------------------------------------------------------------


def test_mhtml_frameset_reads_sheet_pages():
    # Excel's web archive of a workbook with several sheets: a frameset page
    # with no table, then one page per sheet.
    frameset = (
        "<html><head></head><frameset rows='*,39'>"
        "<frame src='report_files/sheet001.htm' name='frSheet'></frameset></html>"
    )
    sheet_page = f"<html><body>{html_table()}</body></html>"
    frameset_part = mime_part(
        "file:///C:/report.htm",
        "text/html; charset=utf-8",
        frameset.encode("utf-8"),
        "quoted-printable",
    )
    sheet_part = mime_part(
        "file:///C:/report_files/sheet001.htm",
        "text/html; charset=utf-8",
        sheet_page.encode("utf-8"),
        "base64",
    )
    data = web_archive([frameset_part, sheet_part])

    table = parse_layout(read_grids(data, detect_format(data), LIMIT))

    assert table.rows == EXPECTED_ROWS


def test_mhtml_without_html_rejected():
    data = web_archive([mime_part("file:///C:/a.png", "image/png", b"\x89PNG", "base64")])

    with pytest.raises(UnreadableExportError) as raised:
        read_grids(data, "mhtml", LIMIT)

    assert raised.value.problem.message == "the web archive (MHTML) contains no HTML page"


def test_quote_open_in_last_row_named():
    # The clerk reads which line's quote is never closed, and no cell.
    data = "Управление;ОО;Промежутки пересечения;Класс\nУО Холмский;МБОУ СОШ;\"1.09.2024;7А\n"

    with pytest.raises(UnreadableExportError) as raised:
        read_grids(data.encode(), "csv", LIMIT)

    problem = raised.value.problem
    assert problem.message.startswith("a quote opened on line 2, the file's last row, is never")
    assert problem.row == 2
    assert "МБОУ" not in problem.message


def test_cells_like_rows_warnings_capped():
    # Five rows get a warning each, and the other three one together.
    spans = [(line, line + 1, line - 1, 3) for line in range(10, 26, 2)]
    warnings = reader_warnings([Grid(name="csv", rows=[], cells_like_rows=spans)])
    assert len(warnings) == 6
    assert all(w.severity == "warning" and w.row is None for w in warnings)
    assert "lines 10 to 11" in warnings[0].message
    assert warnings[-1].message == "3 more rows on lines 20 to 25 have such a cell"
    assert warnings[-1].message_ru.endswith("в строках файла 20–25 (ещё 3)")


def test_one_row_beyond_cap_listed():
    # One row beyond the five gets its own warning, not a summary of one.
    spans = [(line, line + 1, line - 1, 3) for line in range(10, 22, 2)]
    warnings = reader_warnings([Grid(name="csv", rows=[], cells_like_rows=spans)])
    assert len(warnings) == 6
    assert "lines 20 to 21" in warnings[-1].message
