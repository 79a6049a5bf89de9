"""Write the exports of the invented test region «Северная область» into
tests/fixtures/severnaya_exports/.

The region's configuration is tests/fixtures/regions/severnaya/. Its two
monitoring dates are those of the Sakhalin samples, 17.10.2024 and
17.01.2025, in the two-row layout, which has no personal data: October as
a Windows-1251 CSV with «;», January as .xlsx. One pair (Северогорск and
Озёрный) is in both, so it counts as not eliminated. The files are
committed; rerun only to change them:

    .venv/bin/python tools/make_region_fixtures.py
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import openpyxl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_test_fixtures import TITLE  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "severnaya_exports"
MINISTRY = "Министерство образования Северной области"
HEADER_TOP = ["№ п/п", "Управление", "ОО", "Населенный пункт", "Класс/группа",
              "Промежутки пересечения", "Информация о дубле", "", ""]
HEADER_BOTTOM = ["", "", "", "", "", "", "ОО", "Населенный пункт", "Класс/группа"]

# (authority, school, settlement, class, intersection, duplicate school,
# duplicate settlement, duplicate class)
KEPT = ("Управление образования администрации города Северогорска", "МБОУ СОШ № 4 г. Северогорска",
        "Северогорск", "6А", "9.09.2024 - 30.09.2024", "МКОУ СОШ с. Лесное", "Лесное", "6")
OCTOBER_PAIRS = [
    KEPT,
    ("Управление образования Тундрового района", "МБОУ «Тундровская СОШ»", "Тундровка", "3Б",
     "1.10.2024 - 10.10.2024", "МБОУ ООШ п. Полярный", "Полярный", "3"),
    ("Севминобр", "ГБОУ «Северная школа-интернат»", "Северогорск", "10",
     "2.09.2024 - 16.09.2024", "МАОУ СОШ № 1 с. Прибрежное", "Прибрежное", "10А"),
]
JANUARY_PAIRS = [
    KEPT,
    ("Комитет образования Прибрежного городского округа", "МАОУ СОШ № 1 с. Прибрежное",
     "Прибрежное", "4В", "13.01.2025 - 15.01.2025", "МБОУ НОШ п. Маячный", "Маячный", "4"),
]


def october_csv() -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([TITLE])
    writer.writerow([MINISTRY])
    writer.writerow(["Период: 02.09.2024 - 17.10.2024"])
    writer.writerow([])
    writer.writerow(HEADER_TOP)
    writer.writerow(HEADER_BOTTOM)
    for number, pair in enumerate(OCTOBER_PAIRS, 1):
        writer.writerow([number, *pair])
    return buffer.getvalue().encode("cp1251")


def write_january(path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Отчёт"
    sheet["A1"] = TITLE
    sheet["A2"] = f"Орган управления образованием: {MINISTRY}"
    sheet["A3"] = "Период: 02.09.2024 - 17.01.2025"
    for column, caption in enumerate(HEADER_TOP[:7], 1):
        sheet.cell(row=5, column=column, value=caption)
    for column in range(1, 7):
        sheet.merge_cells(start_row=5, start_column=column, end_row=6, end_column=column)
    sheet.merge_cells(start_row=5, start_column=7, end_row=5, end_column=9)
    for column, caption in enumerate(HEADER_BOTTOM[6:], 7):
        sheet.cell(row=6, column=column, value=caption)
    for offset, pair in enumerate(JANUARY_PAIRS):
        for column, value in enumerate([offset + 1, *pair], 1):
            sheet.cell(row=7 + offset, column=column, value=value)
    workbook.save(path)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    october = OUT / "Дубли_Северная_17.10.2024.csv"
    january = OUT / "Дубли_Северная_17.01.2025.xlsx"
    october.write_bytes(october_csv())
    write_january(january)
    print(f"wrote {october}\nwrote {january}")


if __name__ == "__main__":
    main()
