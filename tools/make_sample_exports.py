"""Write the bundled sample exports into include/sample_exports/.

Every pupil in them is invented. The files are committed; rerun this script
only to change them:

    .venv/bin/python tools/make_sample_exports.py
"""

from __future__ import annotations

import html
from pathlib import Path

import openpyxl
from openpyxl.styles import Alignment, Font

OUT = Path(__file__).resolve().parent.parent / "include" / "sample_exports"

OCTOBER_NAME = "Дубли_17.10.2024.xls"
JANUARY_NAME = "Список учащихся-дублей 17.01.2025.xlsx"

# Older 14-column layout, 17.10.2024: one pair in each of Южно-Сахалинск,
# Холмский and Южно-Курильский. The Южно-Сахалинск pair is printed from
# both accounts (rows A-B and B-A); the Южно-Курильский pupil has two
# intersections with the same duplicate, on two sub-rows.
OCTOBER_PUPILS = [
    {
        "authority": "Департамент образования администрации города Южно-Сахалинска",
        "name": "Примеров Борис Олегович",
        "id": "s100101",
        "sex": "М",
        "birth": "14.03.2012",
        "school": "МАОУ СОШ №1 г. Южно-Сахалинска",
        "district": "Городской округ \"город Южно-Сахалинск\"",
        "settlement": "Южно-Сахалинск",
        "classes": "6А",
        "subrows": [
            ("2.09.2024-30.09.2024 (s100102)", "МБОУ СОШ № 3 г. Южно-Сахалинска",
             "ГО «Город Южно-Сахалинск»", "Южно-Сахалинск"),
        ],
    },
    {
        "authority": "Департамент образования администрации города Южно-Сахалинска",
        "name": "Примеров Борис Олегович",
        "id": "s100102",
        "sex": "М",
        "birth": "14.03.2012",
        "school": "МБОУ СОШ № 3 г. Южно-Сахалинска",
        "district": "ГО «Город Южно-Сахалинск»",
        "settlement": "Южно-Сахалинск",
        "classes": "6Б",
        "subrows": [
            ("2.09.2024-30.09.2024 (s100101)", "МАОУ СОШ №1 г. Южно-Сахалинска",
             "Городской округ \"город Южно-Сахалинск\"", "Южно-Сахалинск"),
        ],
    },
    {
        "authority": "Управление образования Холмского городского округа",
        "name": "Тестова Алиса Игоревна",
        "id": "s100201",
        "sex": "Ж",
        "birth": "2.11.2009",
        "school": "МАОУ СОШ № 2 г. Холмска",
        "district": "Холмский городской округ",
        "settlement": "Холмск",
        "classes": "8А, 8Б",
        "subrows": [
            ("1.10.2024 – 15.10.2024 (s100202)", "МБОУ СОШ с. Чехов", "Холмский ГО", "Чехов"),
        ],
    },
    {
        "authority": "Управление образования Южно-Курильского городского округа",
        "name": "Выдумкина Вера Сергеевна",
        "id": "s100301",
        "sex": "Ж",
        "birth": "30.06.2014",
        "school": "МБОУ СОШ пгт Южно-Курильск",
        "district": "Южно-Курильский городской округ",
        "settlement": "Южно-Курильск",
        "classes": "4",
        "subrows": [
            ("2.09.2024-10.09.2024 (s100302)", "МБОУ ООШ с. Малокурильское",
             "Южно-Курильский ГО", "Малокурильское"),
            ("16.09.2024-20.09.2024 (s100302)", "МБОУ ООШ с. Малокурильское",
             "Южно-Курильский ГО", "Малокурильское"),
        ],
    },
]

OCTOBER_HEADER = [
    "№ п/п", "Управление", "ФИО ученика", "ID", "Пол", "Дата рождения", "ОО", "Район",
    "Населенный пункт", "Класс", "Промежутки пересечения", "ОО", "Район", "Населенный пункт",
]


def write_october(path: Path) -> None:
    """Write the 14-column layout as the report engine's HTML, saved under an .xls name."""
    cell = html.escape
    lines = [
        "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1251\">",
        "<title>Список учащихся-«дублей»</title></head><body>",
        "<p><b>Список учащихся-«дублей» (образовательные организации)</b></p>",
        "<p>Министерство образования Сахалинской области</p>",
        "<table border=\"1\">",
        "<tr>" + "".join(f"<th>{cell(c)}</th>" for c in OCTOBER_HEADER) + "</tr>",
    ]
    for number, pupil in enumerate(OCTOBER_PUPILS, 1):
        span = len(pupil["subrows"])
        first = [
            f"{number}", pupil["authority"], pupil["name"], pupil["id"], pupil["sex"],
            pupil["birth"], pupil["school"], pupil["district"], pupil["settlement"],
            pupil["classes"],
        ]
        for index, (intersection, school, district, settlement) in enumerate(pupil["subrows"]):
            cells = []
            if index == 0:
                cells = [f"<td rowspan=\"{span}\">{cell(value)}</td>" for value in first]
            cells += [f"<td>{cell(v)}</td>" for v in (intersection, school, district, settlement)]
            lines.append("<tr>" + "".join(cells) + "</tr>")
    lines += ["</table>", "</body></html>"]
    path.write_bytes("\n".join(lines).encode("cp1251"))


JANUARY_ROWS = [
    [1, "Сахминобр", "СГКСУВОУ зт", "Костромское", 8, "24.12.2024 - 1.01.2025",
     "МАОУ СОШ №8 им. генерал-лейтенанта В.Г. Асапова города Южно-Сахалинска",
     "Южно-Сахалинск", "8В"],
    [2, "МКУ Управление ОКС МО ГО \"Долинский\"", "МБОУ СОШ №2 г.Долинск", "Долинск", "7Б",
     "9.01.2025 - 12.01.2025", "МБОУ СОШ № 1", "Долинск", "7А"],
]


def write_january(path: Path) -> None:
    """Write the two-row merged-header layout as .xlsx, with the report's header block."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Отчёт"
    bold = Font(bold=True)
    centre = Alignment(horizontal="center", vertical="center", wrap_text=True)

    sheet["A1"] = "Список учащихся-«дублей» (образовательные организации)"
    sheet["A1"].font = bold
    sheet.merge_cells("A1:I1")
    sheet["A2"] = "Орган управления образованием: Министерство образования Сахалинской области"
    sheet.merge_cells("A2:I2")
    sheet["A3"] = "Период: 02.09.2024 - 17.01.2025"
    sheet.merge_cells("A3:I3")

    top = ["№ п/п", "Управление", "ОО", "Населенный пункт", "Класс/группа",
           "Промежутки пересечения", "Информация о дубле"]
    for column, caption in enumerate(top, 1):
        sheet.cell(row=5, column=column, value=caption)
    for column in range(1, 7):
        sheet.merge_cells(start_row=5, start_column=column, end_row=6, end_column=column)
    sheet.merge_cells(start_row=5, start_column=7, end_row=5, end_column=9)
    for column, caption in enumerate(["ОО", "Населенный пункт", "Класс/группа"], 7):
        sheet.cell(row=6, column=column, value=caption)
    for row in sheet.iter_rows(min_row=5, max_row=6):
        for item in row:
            item.font = bold
            item.alignment = centre

    for offset, values in enumerate(JANUARY_ROWS):
        for column, value in enumerate(values, 1):
            sheet.cell(row=7 + offset, column=column, value=value)
    sheet.cell(row=7 + len(JANUARY_ROWS), column=1, value=f"Всего: {len(JANUARY_ROWS)}")

    widths = [7, 28, 30, 18, 12, 24, 40, 18, 12]
    for column, width in enumerate(widths, 1):
        sheet.column_dimensions[openpyxl.utils.get_column_letter(column)].width = width
    workbook.save(path)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    write_october(OUT / OCTOBER_NAME)
    write_january(OUT / JANUARY_NAME)
    print(f"wrote {OUT / OCTOBER_NAME}\nwrote {OUT / JANUARY_NAME}")


if __name__ == "__main__":
    main()
