"""Write the export fixtures of the tests into tests/fixtures/exports/.

One invented monitoring date (17.10.2024) in every format the readers take:
the older 14-column layout with merged cells as .xlsx, BIFF .xls, ODS, HTML
(.html and .xls), SpreadsheetML and MHTML; and the two-row layout as CSV in
UTF-8, UTF-8 with a BOM and Windows-1251, with «;», «,» and tab. The BIFF and
ODS files are converted from the .xlsx by LibreOffice (``soffice``), so the
tests need no LibreOffice. The files are committed; rerun only to change them:

    .venv/bin/python tools/make_test_fixtures.py
"""

from __future__ import annotations

import csv
import html
import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import openpyxl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_sample_exports import OCTOBER_HEADER, OCTOBER_PUPILS  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "exports"
TITLE = "Список учащихся-«дублей» (образовательные организации)"
PERIOD = "Период: 02.09.2024 - 17.10.2024"

# Two-row layout rows for the CSV fixtures: (authority, school, settlement,
# class, intersection, duplicate school, duplicate settlement, duplicate class).
TWO_ROW_PAIRS = [
    ("Сахминобр", "ГБОУ «Школа-интернат № 1»", "Южно-Сахалинск", "9", "2.09.2024 - 20.09.2024",
     "МАОУ СОШ № 2 г. Корсакова", "Корсаков", "9А"),
    ('МО ГО "Анивский"', "МБОУ СОШ с. Огоньки", "Огоньки", "5Б", "1.10.2024—11.10.2024",
     "МБОУ СОШ № 1 г. Анива", "Анива", "5, 6"),
]


def fourteen_column_rows() -> tuple[list[list[str]], list[tuple[int, int]]]:
    """Return the data rows and, per pupil, its (first row, row count) for merging."""
    rows, spans = [], []
    for number, pupil in enumerate(OCTOBER_PUPILS, 1):
        first = [
            str(number), pupil["authority"], pupil["name"], pupil["id"], pupil["sex"],
            pupil["birth"], pupil["school"], pupil["district"], pupil["settlement"],
            pupil["classes"],
        ]
        spans.append((len(rows), len(pupil["subrows"])))
        for index, subrow in enumerate(pupil["subrows"]):
            rows.append((first if index == 0 else [""] * len(first)) + list(subrow))
    return rows, spans


def write_xlsx(path: Path) -> None:
    """The 14-column layout as Excel writes it: a title above, a blank first
    column, pupil cells merged down over their sub-rows, a total row below."""
    rows, spans = fourteen_column_rows()
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Дубли"
    sheet["B1"] = TITLE
    sheet["B2"] = "Министерство образования Сахалинской области"
    header_row = 4
    for column, caption in enumerate(OCTOBER_HEADER, 2):
        sheet.cell(row=header_row, column=column, value=caption)
    for offset, values in enumerate(rows):
        for column, value in enumerate(values, 2):
            if value:
                cell_value: object = int(value) if column == 2 else value
                sheet.cell(row=header_row + 1 + offset, column=column, value=cell_value)
    for first, count in spans:
        if count > 1:
            for column in range(2, 12):
                sheet.merge_cells(
                    start_row=header_row + 1 + first, start_column=column,
                    end_row=header_row + first + count, end_column=column,
                )
    sheet.cell(row=header_row + 1 + len(rows), column=2, value=f"Итого: {len(OCTOBER_PUPILS)}")
    workbook.save(path)


def html_document(charset: str) -> str:
    rows, spans = fourteen_column_rows()
    starts = {first: count for first, count in spans}
    lines = [
        f'<html><head><meta charset="{charset}"><title>{TITLE}</title></head><body>',
        f"<h3>{html.escape(TITLE)}</h3><p>Министерство образования Сахалинской области</p>",
        '<table border="1"><thead><tr>',
        "".join(f"<th>{html.escape(c)}</th>" for c in OCTOBER_HEADER),
        "</tr></thead><tbody>",
    ]
    for index, values in enumerate(rows):
        cells = []
        if index in starts:
            span = starts[index]
            cells += [f'<td rowspan="{span}">{html.escape(v)}</td>' for v in values[:10]]
        cells += [f"<td>{html.escape(v)}</td>" for v in values[10:]]
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines += ["</tbody></table></body></html>"]
    return "\n".join(lines)


def spreadsheetml_document() -> str:
    rows, spans = fourteen_column_rows()
    starts = {first: count for first, count in spans}

    def cell(value: str, index: int | None = None, down: int = 0) -> str:
        attributes = f' ss:Index="{index}"' if index else ""
        if down:
            attributes += f' ss:MergeDown="{down}"'
        kind = "Number" if value.isdigit() and len(value) < 3 else "String"
        return f'<Cell{attributes}><Data ss:Type="{kind}">{html.escape(value)}</Data></Cell>'

    body = [f"<Row>{cell(TITLE)}</Row>", "<Row/>"]
    body.append("<Row>" + "".join(cell(c) for c in OCTOBER_HEADER) + "</Row>")
    for index, values in enumerate(rows):
        if index in starts:
            down = starts[index] - 1
            cells = [cell(v, down=down) for v in values[:10]] + [cell(v) for v in values[10:]]
        else:
            cells = [cell(values[10], index=11)] + [cell(v) for v in values[11:]]
        body.append("<Row>" + "".join(cells) + "</Row>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<?mso-application progid="Excel.Sheet"?>\n'
        '<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet" '
        'xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet">\n'
        '<Worksheet ss:Name="Дубли"><Table>\n' + "\n".join(body) + "\n</Table></Worksheet></Workbook>\n"
    )


def mhtml_document() -> bytes:
    import quopri

    page = quopri.encodestring(html_document("utf-8").encode("utf-8")).decode("ascii")
    boundary = "----=_NextPart_dupmon_fixture"
    return (
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/related; boundary="{boundary}"; type="text/html"\r\n\r\n'
        f"--{boundary}\r\nContent-Location: file:///C:/dubli.htm\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        'Content-Type: text/html; charset="utf-8"\r\n\r\n'
        f"{page}\r\n--{boundary}--\r\n"
    ).encode("ascii")


def two_row_csv(delimiter: str) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow([TITLE])
    writer.writerow([PERIOD])
    writer.writerow([])
    writer.writerow(["№ п/п", "Управление", "ОО", "Населенный пункт", "Класс/группа",
                     "Промежутки пересечения", "Информация о дубле", "", ""])
    writer.writerow(["", "", "", "", "", "", "ОО", "Населенный пункт", "Класс/группа"])
    for number, pair in enumerate(TWO_ROW_PAIRS, 1):
        writer.writerow([number, *pair])
    return buffer.getvalue()


def convert(source: Path, target_suffix: str, filter_name: str, out: Path) -> None:
    if shutil.which("soffice") is None:
        raise SystemExit("soffice (LibreOffice) is needed to write the BIFF and ODS fixtures")
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            ["soffice", "--headless", f"-env:UserInstallation=file://{folder}/profile",
             "--convert-to", f"{target_suffix}:{filter_name}", "--outdir", folder, str(source)],
            check=True, capture_output=True, timeout=180,
        )
        shutil.copyfile(Path(folder) / f"{source.stem}.{target_suffix}", out)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    xlsx = OUT / "fourteen_column_17.10.2024.xlsx"
    write_xlsx(xlsx)
    convert(xlsx, "xls", "MS Excel 97", OUT / "fourteen_column_biff_17.10.2024.xls")
    convert(xlsx, "ods", "calc8", OUT / "fourteen_column_17.10.2024.ods")
    (OUT / "fourteen_column_17.10.2024.html").write_text(html_document("utf-8"), encoding="utf-8")
    (OUT / "fourteen_column_html_17.10.2024.xls").write_bytes(
        html_document("windows-1251").encode("cp1251")
    )
    (OUT / "fourteen_column_xml_17.10.2024.xls").write_text(spreadsheetml_document(), encoding="utf-8")
    (OUT / "fourteen_column_mhtml_17.10.2024.xls").write_bytes(mhtml_document())
    variants = {
        "two_row_utf8_semicolon.csv": (";", "utf-8"),
        "two_row_bom_comma.csv": (",", "utf-8-sig"),
        "two_row_cp1251_semicolon.csv": (";", "cp1251"),
        "two_row_utf8_tab.csv": ("\t", "utf-8"),
    }
    for name, (delimiter, encoding) in variants.items():
        (OUT / name).write_bytes(two_row_csv(delimiter).encode(encoding))
    for path in sorted(OUT.iterdir()):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
