"""Russian captions of the export and the English column names used everywhere else.

This is the one place that maps between them: the readers use it to name
the columns they find, and the error messages and templates use it to print
a column back the way the clerk sees it in the file.
"""

from __future__ import annotations

from collections.abc import Iterable

from dupmon.text import match_key

# Column of the pupil's side -> the captions it is printed under.
PUPIL_CAPTIONS: dict[str, tuple[str, ...]] = {
    "row_number": ("№ п/п", "№", "n п/п", "номер"),
    "authority": ("Управление", "Орган управления образованием", "УО"),
    "pupil_name": ("ФИО ученика", "ФИО", "ФИО учащегося", "ФИО обучающегося"),
    "account_id": ("ID", "Идентификатор", "ID ученика"),
    "sex": ("Пол",),
    "birth_date": ("Дата рождения", "Д.р.", "Дата рожд."),
    "organisation": ("ОО", "Образовательная организация", "Организация"),
    "municipality": ("Район", "Муниципалитет", "Муниципальное образование", "МО"),
    "settlement": ("Населенный пункт", "Населённый пункт", "Нас. пункт"),
    "class_name": ("Класс/группа", "Класс / группа", "Класс", "Группа"),
    "intersections": ("Промежутки пересечения", "Промежуток пересечения", "Пересечение"),
}
# Caption of the group of the duplicate's columns in the two-row header.
DUPLICATE_GROUP = "Информация о дубле"
# Columns printed again for the duplicate account, right of the intersections.
DUPLICATE_SIDE = ("organisation", "municipality", "settlement", "class_name")

# Caption a column name is shown with in messages and documents.
CAPTIONS: dict[str, str] = {name: captions[0] for name, captions in PUPIL_CAPTIONS.items()}
CAPTIONS.update(
    {f"duplicate_{name}": f"{DUPLICATE_GROUP}: {CAPTIONS[name]}" for name in DUPLICATE_SIDE}
)

# Personal data of the pupil: hashed or dropped as soon as a file is read.
PERSONAL_COLUMNS = ("pupil_name", "account_id", "sex", "birth_date")

# Every column of a parsed export, in order.
EXPORT_COLUMNS = (
    "row_number",
    "authority",
    "pupil_name",
    "account_id",
    "sex",
    "birth_date",
    "organisation",
    "municipality",
    "settlement",
    "class_name",
    "intersections",
    "duplicate_organisation",
    "duplicate_municipality",
    "duplicate_settlement",
    "duplicate_class_name",
)

_BY_KEY = {match_key(c): name for name, captions in PUPIL_CAPTIONS.items() for c in captions}


def column_for_caption(caption: str) -> str | None:
    """Return the column a header caption denotes, or None for an unknown caption."""
    return _BY_KEY.get(match_key(caption))


# Columns whose captions mark the header row of the table.
HEADER_COLUMNS = ("organisation", "intersections")


def is_header_row(cells: Iterable[str]) -> bool:
    """Return whether a row of cells is the table's header: it names every one of HEADER_COLUMNS."""
    found = {column_for_caption(cell) for cell in cells if cell}
    return all(column in found for column in HEADER_COLUMNS)


def is_duplicate_group(caption: str) -> bool:
    return match_key(caption) == match_key(DUPLICATE_GROUP)
