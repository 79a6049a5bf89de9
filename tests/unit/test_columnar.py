"""The column-at-a-time paths against the scalar rules they replace.

Every vectorised function must give, cell by cell, what the scalar one
gives, including on the characters, dates and CSV quirks that push a cell
to the scalar fallback. The inputs are seeded random strings over an
alphabet of the troublesome characters, and hand-made rows.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from dupmon import layout
from dupmon.layout import parse_layout
from dupmon.pseudonymise import keyed_hash, keyed_hashes
from dupmon.readers import delimited
from dupmon.readers.delimited import read_csv
from dupmon.readers.grid import Grid
from dupmon.staging import STAGED_SCHEMA, stage_frame, stage_row
from dupmon.text import clean_display, match_key
from dupmon.text_arrays import SAFE_CHARS, clean_display_array, lower_array, match_key_array

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "exports"
SECRET = b"columnar-test-secret-" + b"0" * 20
# Characters that exercise every fold of match_key and every clean-up of
# clean_display: Latin look-alikes, ё, quotes, dashes, №, odd spaces,
# invisible and combining characters, and letters that Python and ICU-like
# tables lower differently.
ALPHABET = (
    list("абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ")
    + list("aceopxykmthbACEOPXKMTHBzZ0123456789")
    + list(" -–—‑«»\"'„“№.,()")
    + ["\u00a0", "\u200b", "\ufeff", "\t", "\n", "\u0306", "\u0301", "İ", "ß", "\u212a", "ǅ"]
    + ["  ", " - ", "№ ", "ё", "Ё"]
)


def random_cells(seed: int, count: int = 20000) -> list[str | None]:
    generator = random.Random(seed)
    cells: list[str | None] = [
        "".join(generator.choice(ALPHABET) for _ in range(generator.randrange(0, 14)))
        for _ in range(count)
    ]
    return [*cells, None]


# --- text -------------------------------------------------------------------


def test_safe_chars_stable_under_nfc_and_lower():
    unstable = [
        c
        for c in sorted(SAFE_CHARS)
        if unicodedata.normalize("NFC", c) != c
        or pc.utf8_lower(pa.array([c]))[0].as_py() != c.lower()
    ]
    assert unstable == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_clean_display_array_matches_scalar(seed):
    cells = random_cells(seed)
    result = clean_display_array(pa.array(cells)).to_pylist()
    assert result == [clean_display(cell) for cell in cells]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_match_key_array_matches_scalar(seed):
    cells = random_cells(seed)
    result = match_key_array(pa.array(cells)).to_pylist()
    assert result == [match_key(cell) for cell in cells]


@pytest.mark.parametrize("seed", [4, 5])
def test_lower_array_matches_scalar(seed):
    cells = random_cells(seed)
    result = lower_array(pa.array(cells)).to_pylist()
    assert result == [clean_display(cell).lower() for cell in cells]


def test_match_key_array_on_real_names():
    names = [
        "Городской округ «Охинский»",
        'городской округ "Oхинский"',
        "Северо - Курильский",
        "МБОУ СОШ №8",
        "Озёрский",
        "MAOU",
        "Иванова-Петрова Анна",
    ]
    assert match_key_array(pa.array(names)).to_pylist() == [match_key(n) for n in names]


# --- keyed hashes -------------------------------------------------------------


def test_keyed_hashes_match_keyed_hash():
    first = pa.array(["фамилия имя", "b", None, "", "c"])
    second = pa.array(["2012-01-02", "x", "y", "z", ""])
    result = keyed_hashes(SECRET, "pupil", first, second).to_pylist()
    assert result[0] == keyed_hash(SECRET, "pupil", "фамилия имя", "2012-01-02")
    assert result[1] == keyed_hash(SECRET, "pupil", "b", "x")
    assert result[2:] == [None, None, None]


def test_keyed_hashes_long_secret():
    secret = b"s" * 100
    result = keyed_hashes(secret, "account", pa.array(["s1"])).to_pylist()
    assert result == [keyed_hash(secret, "account", "s1")]


# --- CSV ----------------------------------------------------------------------


def csv_rows_both_ways(data: bytes) -> tuple[list[list[str]], list[list[str]]]:
    """Return the rows read by the columnar path and by the csv module.

    A blank line is a row of blank cells in one and an empty row in the
    other. The layout skips both, so they are compared as empty rows.
    """
    columnar = read_csv(data, columnar_min_bytes=0)
    scalar = read_csv(data, columnar_min_bytes=len(data) + 1)

    def rows(grids):
        return [[row if any(row) else [] for row in grid.rows] for grid in grids]

    return rows(columnar), rows(scalar)


def cells_like_rows_both_ways(data: bytes) -> list[tuple[int, int]]:
    """Return the lines of the rows that both paths list for a warning.

    Those are the rows of Grid.cells_like_rows with two filled cells or
    more. The whole lists, rows' indices and counts included, are checked
    to be the same on both paths first.
    """
    (columnar,) = read_csv(data, columnar_min_bytes=0)
    (scalar,) = read_csv(data, columnar_min_bytes=len(data) + 1)
    assert columnar.cells_like_rows == scalar.cells_like_rows
    assert columnar.rows_over_lines == scalar.rows_over_lines
    return [(line, end) for line, end, _, filled in scalar.cells_like_rows if filled > 1]


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.csv")), ids=lambda p: p.name)
def test_csv_fixture_same_both_ways(path):
    columnar, scalar = csv_rows_both_ways(path.read_bytes())
    assert columnar == scalar


TITLE = "Список учащихся-«дублей» (образовательные организации)\n"
HEADER = "№ п/п;Управление;ОО;Промежутки пересечения;ОО\n"


@pytest.mark.parametrize(
    "body",
    [
        '1;"УО; север";"МБОУ ""СОШ"" № 1";2.09.2024-1.10.2024;x\n',
        '2;"многострочная\nячейка";ОО;2.09.2024-1.10.2024;x\r\n3;a;b;c;d\r\n',
        '4;"abc"def;ОО;  два  пробела ;\u00a0x\u200b\n',
        "5;a;b;c;d\n\n6;a;b;c;d\n",
        "7;a;b;c;d\nИтого: 1\n",
        "8;a;b;c;d\n9;a;b;c;d;e\n",
        "10;a;b;c;d",
    ],
    ids=["quotes", "newline-in-value", "stray-quote-and-spaces", "blank-line", "short-footer",
         "long-row", "no-final-newline"],
)
def test_csv_quirks_same_both_ways(body):
    text = TITLE + "Период: 02.09.2024 - 17.01.2025\n" + HEADER + body
    for data in (text.encode("utf-8"), text.encode("cp1251", "replace"), b"\xef\xbb\xbf" + text.encode()):
        columnar, scalar = csv_rows_both_ways(data)
        assert columnar == scalar
        by_block = parse_layout(read_csv(data, columnar_min_bytes=0)).rows
        assert by_block == parse_layout(read_csv(data, columnar_min_bytes=len(data) + 1)).rows


def test_csv_large_file_takes_columnar_path():
    rows = "".join(f"{i};УО;ОО {i};2.09.2024-1.10.2024;x\n" for i in range(20))
    data = (TITLE + HEADER + rows).encode()
    grid = read_csv(data, columnar_min_bytes=0)[0]
    assert grid.block is not None
    assert grid.height == 22


@pytest.mark.parametrize(
    ("delimiter", "title", "note"),
    [
        (";", TITLE, "Примечание:" + "\tпункт" * 12 + "\n"),
        (";", "Список, период, дубли, учащиеся, ОО, район, город, класс, дата\n", ""),
        ("\t", "Сводка; период; дубли; учащиеся; ОО; район; город; класс\n", ""),
        (",", TITLE, "Исполнитель; отдел; телефон; адрес; почта; кабинет; подпись\n"),
    ],
    ids=["tabs-in-note", "commas-in-title", "semicolons-in-title", "semicolons-in-note"],
)
def test_delimiter_not_taken_from_one_line(delimiter, title, note):
    rows = [
        [str(n), "УО", f"Школа {n}, корпус 2", "2.09.2024-1.10.2024", "ОО"] for n in range(1, 4)
    ]
    lines = [HEADER.rstrip("\n").split(";"), *rows]
    body = "".join(delimiter.join(f'"{c}"' if "," in c else c for c in row) + "\n" for row in lines)
    data = (title + body + note).encode()
    columnar, scalar = csv_rows_both_ways(data)
    assert columnar == scalar
    assert scalar[0][1:5] == lines
    table = parse_layout(read_csv(data))
    assert [r["organisation"] for r in table.rows] == [row[2] for row in rows]


@pytest.mark.parametrize("delimiter", [";", "\t"], ids=["semicolon", "tab"])
def test_delimiter_found_by_header_row(delimiter):
    # Two title lines and a note with commas outnumber the rows of a table
    # of one pair, and split into three cells or more on commas.
    rows = [
        ["Список учащихся-«дублей» (образовательные организации, ДОО, СПО)"],
        ["Муниципальные образования: Долинский, Анивский, Холмский"],
        ["№ п/п", "Управление", "ФИО ученика", "ID", "Пол", "Дата рождения", "ОО", "Район",
         "Населенный пункт", "Класс", "Промежутки пересечения", "ОО", "Район", "Населенный пункт"],
        ["1", "Управление образования", "Примерова Анна Олеговна", "s100101", "Ж", "14.03.2012",
         "МБОУ СОШ с. Огоньки, корпус 2", "Анивский", "Огоньки", "5А, 5Б",
         "2.09.2024-30.09.2024 (s100102)", "МБОУ СОШ № 1 г. Анива", "Анивский", "Анива"],
        ["Исполнитель: Петрова А.А., методист, тел. 00-00-00"],
    ]
    data = "".join(delimiter.join(row) + "\r\n" for row in rows).encode("cp1251")
    columnar, scalar = csv_rows_both_ways(data)
    table = parse_layout(read_csv(data))
    assert columnar == scalar
    assert table.layout == "fourteen_column"
    assert [r["class_name"] for r in table.rows] == ["5А, 5Б"]


@pytest.mark.parametrize("delimiter", ["\t", ","], ids=["tab", "comma"])
def test_delimiter_not_taken_from_caption_line(delimiter):
    # A line of captions above the header splits on «;» into a header of
    # two captions, where the real one has five.
    rows = [HEADER.rstrip("\n").split(";"), *(row.split(";") for row in table_rows(3))]
    body = "".join(delimiter.join(row) + "\n" for row in rows)
    data = (TITLE + "ОО;Промежутки пересечения;Информация о дубле\n" + body).encode()
    table = parse_layout(read_csv(data))
    assert [r["row_number"] for r in table.rows] == ["1", "2", "3"]


def test_delimiter_of_trimmed_rows_with_commas():
    # The writer left out empty cells at the ends of rows, so each width is
    # that of a third of the rows, while every row splits on its comma in two.
    rows = [
        [str(n), "УО", f"Школа {n}, корпус 2", "2.09.2024-1.10.2024", "7А"][: 3 + n % 3]
        for n in range(1, 31)
    ]
    data = (TITLE + HEADER + "".join(";".join(row) + "\n" for row in rows)).encode()
    columnar, scalar = csv_rows_both_ways(data)
    assert columnar == scalar
    assert scalar[0][2:] == rows


def stray_quote_export(stray_row: int) -> bytes:
    """Return an export of 5,000 rows whose row ``stray_row`` opens a quote that is never closed."""
    rows = [f"{n};УО;ОО;2.09.2024-1.10.2024;7А\n" for n in range(1, 5001)]
    rows[stray_row - 1] = rows[stray_row - 1].replace(";7А", ';"7А')
    return (HEADER + "".join(rows)).encode()


def rejections_both_ways(data: bytes, error: type[Exception]) -> list[Exception]:
    """Return the ``error`` that the columnar path and the csv module path raise on ``data``."""
    caught = []
    for threshold in (0, len(data) + 1):
        with pytest.raises(error) as raised:
            read_csv(data, columnar_min_bytes=threshold)
        caught.append(raised.value)
    return caught


@pytest.mark.parametrize("stray_row", [300, 20])
def test_stray_quote_rejected_both_ways(stray_row):
    data = stray_quote_export(stray_row)
    for error in rejections_both_ways(data, delimited.CellTooLongError):
        assert error.line == stray_row + 1


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_quote_closed_below_rejected_both_ways(newline):
    # Row 300 opens a quote that the quoted class of row 310 closes, so the
    # merged row has the table's width and pyarrow reads it without an error.
    data = stray_quote_export(300).decode().replace("\n", newline)
    row_310 = f"310;УО;ОО;2.09.2024-1.10.2024;7А{newline}"
    data = data.replace(row_310, row_310.replace("7А", '"7Б"')).encode()
    for error in rejections_both_ways(data, delimited.CellContainsRowsError):
        assert error.line == 301
        assert error.end == 311


@pytest.mark.parametrize("closed_in", range(5))
@pytest.mark.parametrize("opened_in", range(5))
def test_quote_closed_next_row_rejected(opened_in, closed_in):
    # The quote takes in only parts of two rows, so no line inside the cell
    # is a whole row, but one row is lost all the same.
    rows = [[str(n), "УО", "ОО", "2.09.2024-1.10.2024", "7А"] for n in range(1, 5001)]
    rows[299][opened_in] = '"' + rows[299][opened_in]
    rows[300][closed_in] = '"' + rows[300][closed_in] + '"'
    data = (HEADER + "".join(";".join(row) + "\n" for row in rows)).encode()
    for error in rejections_both_ways(data, delimited.CellContainsRowsError):
        assert error.line == 301
        assert error.end == 302


def test_quote_in_title_rejected_both_ways():
    # The columnar path reads the title with the csv module, so it checks
    # the rows above the table too.
    rows = "".join(f"{n};УО;ОО;2.09.2024-1.10.2024;7А\n" for n in range(1, 3001))
    data = ('"' + TITLE + HEADER + rows.replace("1;УО", '1;"УО"', 1)).encode()
    for error in rejections_both_ways(data, delimited.CellContainsRowsError):
        assert error.line == 1
        assert error.end == 3


@pytest.mark.parametrize("title", ['"' + TITLE, 'Период;"02.09.2024\n'], ids=["title", "period"])
@pytest.mark.parametrize("count", [5, 600])
def test_quote_above_small_table_rejected(title, count):
    # The quote takes in the whole table, so no row outside its cell gives
    # the table's width.
    rows = "".join(f"{n};УО;ОО;2.09.2024-1.10.2024;7А\n" for n in range(1, count + 1))
    data = (title + HEADER + rows).encode()
    for error in rejections_both_ways(data, delimited.CellContainsRowsError):
        assert error.line == 1
        assert error.end == count + 2


@pytest.mark.parametrize("stray_row", [10, 2990])
def test_unclosed_quote_without_numbers_rejected(stray_row):
    # No line starts as a numbered row does, and the cell is shorter than
    # the csv module's limit, so only the quote left open shows the loss.
    rows = ["УО;ОО;2.09.2024-1.10.2024;7А\n"] * 3000
    rows[stray_row - 1] = 'УО;ОО;2.09.2024-1.10.2024;"7А\n'
    data = ("Управление;ОО;Промежутки пересечения;ОО\n" + "".join(rows)).encode()
    for error in rejections_both_ways(data, delimited.CellContainsRowsError):
        assert error.line == stray_row + 1
        assert error.end == 3001


@pytest.mark.parametrize("count", [3000, 20], ids=["columnar", "small"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_quote_open_in_last_row_rejected(count, newline):
    # The quote takes in only the file's last line break and the row's
    # later cells, so the row ends on the line where it starts, short of
    # the table's width. Both paths reject it and name that line.
    rows = ["УО;ОО;2.09.2024-1.10.2024;7А;5Б"] * count
    rows[-1] = 'УО;ОО;"2.09.2024-1.10.2024;7А;5Б'
    header = "Управление;ОО;Промежутки пересечения;Класс;Класс"
    data = newline.join([header, *rows, ""]).encode()
    for error in rejections_both_ways(data, delimited.CellContainsRowsError):
        assert error.line == count + 1
        assert error.end == count + 1


AUTHORITIES = ["Отдел образования МО «Холмский»", "УО Анивского ГО", "Управление образования"]


def unnumbered_rows(count: int) -> list[list[str]]:
    """Return ``count`` rows of an export without «№ п/п», three authorities in turn."""
    return [
        [AUTHORITIES[n % 3], f"МБОУ СОШ № {n % 7 + 1}", "2.09.2024-1.10.2024", f"{n % 11 + 1}А"]
        for n in range(count)
    ]


@pytest.mark.parametrize("delimiter", [";", ","])
@pytest.mark.parametrize("rows_below", [1, 4])
@pytest.mark.parametrize("closed_in", range(4))
@pytest.mark.parametrize("opened_in", range(4))
def test_quote_closed_below_without_numbers_rejected(opened_in, closed_in, rows_below, delimiter):
    # No line inside the cell starts with a row number, but the lines of
    # the rows it took in repeat the values of the rows' columns.
    rows = unnumbered_rows(3000)
    rows[99][opened_in] = '"' + rows[99][opened_in]
    closing = rows[99 + rows_below]
    closing[closed_in] = closing[closed_in][:4] + '"' + closing[closed_in][4:]
    header = delimiter.join(["Управление", "ОО", "Промежутки пересечения", "Класс"])
    data = (header + "\n" + "".join(delimiter.join(row) + "\n" for row in rows)).encode()
    for error in rejections_both_ways(data, delimited.CellContainsRowsError):
        assert error.line == 101
        assert error.end == 101 + rows_below


def test_school_name_over_lines_warned():
    # A school's name over lines with as many delimiters as a row, in an
    # export without «№ п/п»: its lines repeat no values of the columns, so
    # the file is read, with the cell's lines kept for a warning.
    rows = unnumbered_rows(3000)
    rows[1500][1] = '"МБОУ СОШ; корпус 2;\nвход со двора; «Лицей»;\nУО ГО"'
    header = "Управление;ОО;Промежутки пересечения;Класс\n"
    data = (header + "".join(";".join(row) + "\n" for row in rows)).encode()
    columnar, scalar = csv_rows_both_ways(data)
    assert columnar == scalar
    assert len(scalar[0]) == 3001
    assert scalar[0][1501][1].startswith("МБОУ СОШ; корпус 2;")
    assert cells_like_rows_both_ways(data) == [(1502, 1504)]
    assert read_csv(data)[0].block is not None
    assert read_csv(data)[0].cells_like_rows == [(1502, 1504, 1501, 4)]


def rows_with_quote_closed_below(opened_at: int, below: int, closed_in: int) -> list[list[str]]:
    """Return 3000 rows where a quote in the last cell of row ``opened_at`` closes further down.

    It closes ``below`` rows lower, in cell ``closed_in`` of a row that
    lacks the cells after that one, as a writer leaves out empty end
    cells. The rows taken in repeat no values.
    """
    rows = unnumbered_rows(3000)
    for n, row in enumerate(rows):
        row[1] = f"МБОУ СОШ № {n}"
    rows[opened_at][3] = '"' + rows[opened_at][3]
    rows[opened_at + below] = rows[opened_at + below][: closed_in + 1]
    rows[opened_at + below][closed_in] += '"'
    return rows


@pytest.mark.parametrize("opened_at", [100, 2997], ids=["inside", "at-end"])
def test_quote_closed_in_trimmed_row_listed(opened_at):
    # A quote opened in the last cell of a row closes two rows below, in a
    # row without its empty end cell: the merged row is as long as the
    # others, and the rows taken in repeat no values. The file is read,
    # two rows short, and the cell's lines are listed for a warning.
    rows = rows_with_quote_closed_below(opened_at, 2, 2)
    header = "Управление;ОО;Промежутки пересечения;Класс\n"
    data = (header + "".join(";".join(row) + "\n" for row in rows)).encode()
    columnar, scalar = csv_rows_both_ways(data)
    assert columnar == scalar
    assert len(scalar[0]) == 2999
    line = opened_at + 2
    assert cells_like_rows_both_ways(data) == [(line, line + 2)]


ROW = "{n},УО Анива,МБОУ СОШ № {n},Анива,5Б,1.09.2024 - 12.10.2024,МБОУ СОШ № 3,Оха,5А\n"
ONE_FILLED_CELL = {
    "paragraph-below": (
        "",
        '\n"Примечание: в отчёт включены учащиеся двух и более ОО, в том числе детских садов, '
        'колледжей, техникумов,\nорганизаций дополнительного образования, школ, лицеев, '
        'гимназий, интернатов."\n',
    ),
    "padded-title": (
        '"Список «дублей», МО: Анивский, Долинский, Корсаковский, Курильский, Невельский,\n'
        'Ногликский, Охинский, Поронайский, Смирныховский",,,,,,,\n',
        "",
    ),
}


@pytest.mark.parametrize(("above", "below"), ONE_FILLED_CELL.values(), ids=ONE_FILLED_CELL.keys())
def test_one_filled_cell_not_warned(above, below):
    # A title or a note is a row whose only filled cell runs over lines,
    # here with the commas of a row of eight cells: no warning.
    header = "Управление,ОО,Населенный пункт,Класс/группа,Промежутки пересечения,ОО,Н,К\n"
    rows = [ROW.format(n=n).split(",", 1)[1] for n in range(1, 1501)]
    data = (above + header + "".join(rows) + below).encode()
    columnar, scalar = csv_rows_both_ways(data)
    assert columnar == scalar
    assert cells_like_rows_both_ways(data) == []


def test_note_below_table_listed():
    # A note of two cells below the table, one over lines with a row's
    # delimiters, read with the columns.
    rows = "".join(";".join(row) + "\n" for row in unnumbered_rows(3000))
    note = 'Примечание;"Сверено: УО; ОО; период; класс\nповторно"\n'
    data = ("Управление;ОО;Промежутки пересечения;Класс\n" + rows + note).encode()
    columnar, scalar = csv_rows_both_ways(data)
    assert columnar == scalar
    assert scalar[0][-1][0] == "Примечание"
    assert cells_like_rows_both_ways(data) == [(3002, 3003)]
    assert read_csv(data)[0].block is not None
    assert read_csv(data)[0].cells_like_rows == [(3002, 3003, 3001, 2)]


def test_quote_over_authority_block_rejected():
    # Rows sorted by authority: the cell takes in a row of «УО Анивского
    # ГО» and closes in the next, so one such row is left outside, but the
    # other cells of its lines repeat the values of their columns.
    rows = unnumbered_rows(3000)
    for index, row in enumerate(rows):
        row[0] = "УО Анивского ГО" if index in (100, 101, 102) else "Управление образования"
    rows[99][1] = '"' + rows[99][1]
    rows[101][2] = rows[101][2][:4] + '"' + rows[101][2][4:]
    header = "Управление;ОО;Промежутки пересечения;Класс\n"
    data = (header + "".join(";".join(row) + "\n" for row in rows)).encode()
    for error in rejections_both_ways(data, delimited.CellContainsRowsError):
        assert error.line == 101
        assert error.end == 103


def layout_a_rows(count: int) -> list[list[str]]:
    """Return ``count`` rows of the two-row header layout without «№ п/п»."""
    towns = ["г. Анива", "г. Холмск", "с. Чехов", "г. Корсаков"]
    return [
        [
            AUTHORITIES[n % 3],
            f"МБОУ СОШ № {n % 7 + 1}",
            towns[n % 4],
            f"{n % 11 + 1}А",
            "2.09.2024-1.10.2024",
            f"МБОУ СОШ № {n % 5 + 8}",
            towns[(n + 1) % 4],
            f"{n % 11 + 1}Б",
        ]
        for n in range(count)
    ]


def test_quote_closed_in_only_row_rejected():
    # The quote opens the school of a row and closes in the school of the
    # only row of another authority. That row's line has one value of its
    # column, but the rest of the row where the quote opens has many.
    rows = layout_a_rows(3000)
    rows[100][0] = "Управление образования Курильского ГО"
    rows[99][1] = '"' + rows[99][1]
    rows[100][1] = rows[100][1][:4] + '"' + rows[100][1][4:]
    header = ";".join(["Управление", "ОО", "Населенный пункт", "Класс", "Промежутки пересечения"])
    header += ";ОО;Населенный пункт;Класс\n"
    data = (header + "".join(";".join(row) + "\n" for row in rows)).encode()
    for error in rejections_both_ways(data, delimited.CellContainsRowsError):
        assert error.line == 101
        assert error.end == 102


NOTE_CELLS = {
    "note-signed": (
        "Управление,ОО,Населенный пункт,Класс/группа\n",
        "УО Анивского ГО,МБОУ СОШ № 1,г. Анива,5А\n",
        '"Примечание: сведения сверены, дубли устранены, выгрузка не нужна,\n'
        'УО Анивского ГО",,,\n',
        1,
    ),
    "note-signed-with-phone": (
        "Управление,ОО,Населенный пункт,Класс/группа\n",
        "УО Анивского ГО,МБОУ СОШ № 1,г. Анива,5А\n",
        '"Примечание: сведения сверены, дубли устранены, выгрузка не нужна,\n'
        'УО Анивского ГО, тел. 5-12-34",,,\n',
        1,
    ),
    "one-cell-note": (
        "Управление,ОО,Населенный пункт,Класс/группа\n",
        "УО Анивского ГО,МБОУ СОШ № 1,г. Анива,5А\n",
        '"Примечание: сведения сверены, дубли устранены,\nУО Анивского ГО, тел. 5-12-34"\n',
        1,
    ),
    "school-name": (
        "Управление;ОО;Промежутки пересечения;Класс\n",
        "УО Анивского ГО;МБОУ СОШ № 1;2.09.2024-1.10.2024;5А\n",
        'УО Анивского ГО;"МБОУ СОШ; корпус 2;\nвход со двора; «Лицей»;\nУО Анивского ГО";'
        "2.09.2024-1.10.2024;6А\n",
        1,
    ),
    "signature-below": (
        "Управление,ОО,Населенный пункт,Класс/группа\n",
        "УО Анивского ГО,МБОУ СОШ № 1,г. Анива,5А\n",
        '"Исполнитель: специалист, тел. 5-12-34, e-mail uo@example.org,\n'
        'Начальник управления, И. И. Иванова",,,\nНачальник управления,,,И. И. Иванова\n',
        2,
    ),
    "numbered-school-with-body": (
        "Отдел образования МО «Холмский»,,,,\n№ п/п,Управление,ОО,Населенный пункт,Класс\n",
        "{n},Отдел образования МО «Холмский»,МБОУ СОШ № 1,г. Холмск,5А\n",
        '2001,Отдел образования МО «Холмский»,"МБОУ СОШ, корпус 2,\n'
        'Отдел образования МО «Холмский», тел. 5-12-34, каб. 5",г. Холмск,5А\n',
        1,
    ),
    "summary-by-authority": (
        "Управление,ОО,Населенный пункт,Класс\n",
        "УО Анивского ГО,МБОУ СОШ № 1,г. Анива,5А\n",
        '"Итоги сверки:\nУО Анивского ГО, дубли устранены, 2 уч.\n'
        'Управление образования, в работе, 1 уч.\nИсполнитель Петрова А. С.",,,\n',
        1,
    ),
    "summary-with-schools": (
        "Управление,ОО,Населенный пункт,Класс,Промежутки пересечения,ОО,Населенный пункт,Класс\n",
        "УО Анивского ГО,МБОУ СОШ № 1,г. Анива,5А,2.09.2024-1.10.2024,МБОУ СОШ № 2,г. Холмск,6Б\n",
        '"Итоги сверки:\nУО Анивского ГО, МБОУ СОШ № 1, устранено\n'
        "УО Анивского ГО, МБОУ СОШ № 2, устранено\nУО Анивского ГО, МБОУ СОШ № 1, в работе\n"
        'УО Анивского ГО, МБОУ СОШ № 2, в работе\nИсполнитель Петрова А. С.",,,,,,,\n',
        1,
    ),
    "summary-in-column-order": (
        "Управление,ОО,Населенный пункт,Класс,Промежутки пересечения,ОО,Населенный пункт,Класс\n",
        "УО Анивского ГО,МБОУ СОШ № 1,г. Анива,5А,2.09.2024-1.10.2024,МБОУ СОШ № 2,г. Холмск,6Б\n",
        '"Проверены:\nУО Анивского ГО, МБОУ СОШ № 1, г. Анива\n'
        "УО Анивского ГО, МБОУ СОШ № 2, г. Холмск\nУО Анивского ГО, МБОУ СОШ № 1, г. Анива\n"
        "УО Анивского ГО, МБОУ СОШ № 2, г. Холмск\nИсполнитель Петрова А. С.\",,,,,,,\n",
        1,
    ),
    "numbered-title-body": (
        "Отдел образования МО «Холмский»,,,,\n№ п/п,Управление,ОО,Населенный пункт,Класс\n",
        "{n},Отдел образования МО «Холмский»,МБОУ СОШ № 1,г. Холмск,5А\n",
        '"Сведения сверены с ОО, расхождения устранены, выгрузка повторная, копия в ОО,\n'
        'Отдел образования МО «Холмский», тел. 5-12-34",,,,\n',
        1,
    ),
}


@pytest.mark.parametrize(
    ("head", "row", "last", "last_rows"), NOTE_CELLS.values(), ids=NOTE_CELLS.keys()
)
def test_cells_naming_authorities_accepted(head, row, last, last_rows):
    # Lines of a note, a name or a signature over lines start with an
    # authority or a title, but do not split as rows taken in would, or go
    # on with text that is in no row.
    data = (head + "".join(row.format(n=n) for n in range(1, 2001)) + last).encode()
    columnar, scalar = csv_rows_both_ways(data)
    assert columnar == scalar
    filled = [cells for cells in scalar[0] if any(cells)]
    assert len(filled) == head.count("\n") + 2000 + last_rows
    # Both paths list the same rows with cells like rows.
    cells_like_rows_both_ways(data)


def test_small_numbered_summary_accepted():
    # Three numbered rows under a title that names the body: the title, the
    # header and the note outnumber the rows.
    title = "Дублирование учащихся,,,,\nОтдел образования МО «Холмский»,,,,\n"
    header = "№ п/п,Управление,ОО,Населенный пункт,Класс\n"
    row = "{},Отдел образования МО «Холмский»,МБОУ СОШ № 1,г. Холмск,5А\n"
    rows = "".join(row.format(n) for n in (1, 2, 3))
    note = (
        '"Итоги сверки:\nОтдел образования МО «Холмский», дубли устранены, 2 уч.\n'
        'УО Анивского ГО, в работе, 1 уч.\nМ.П.",,,,\n'
    )
    columnar, scalar = csv_rows_both_ways((title + header + rows + note).encode())
    assert columnar == scalar
    assert len(scalar[0]) == 7
    assert scalar[0][-1][0].startswith("Итоги сверки:")


@pytest.mark.parametrize(
    ("last_row", "columnar"),
    [
        ('3000;УО;"ОО; корпус 2\nвход";2.09.2024-1.10.2024;7А\n', True),
        ('3000;УО;"ОО ""Лицей""\r\nвход";2.09.2024-1.10.2024;"7А\r\n"\r\n', True),
        (
            '3000;УО;ОО;2.09.2024-1.10.2024;7А\n"Исполнитель: Петрова А.А.\nтел. 00-00-00";;;;\n',
            True,
        ),
        ('3000;УО;ОО;2.09.2024-1.10.2024;"7А\n', True),
    ],
    ids=["closed-over-lines", "crlf-in-quotes", "note-over-lines", "open-on-last-line"],
)
def test_quote_in_last_row_accepted(last_row, columnar):
    # Only a last row whose quote the csv module does not read as closed
    # sends the file to the csv module path.
    rows = [f"{n};УО;ОО;2.09.2024-1.10.2024;7А\n" for n in range(1, 3000)]
    data = (TITLE + HEADER + "".join(rows) + last_row).encode()
    by_columns, scalar = csv_rows_both_ways(data)
    assert by_columns == scalar
    assert scalar[0][3001][0] == "3000"
    assert (read_csv(data)[0].block is not None) == columnar


def test_commas_and_breaks_in_cells_accepted():
    # In a comma file, a title listing the municipalities and a school
    # name listing subjects have more commas than a row, over line breaks,
    # but no line inside them starts as a row does. The school's lines are
    # kept for a warning, the title's are not: it is a row of one cell.
    header = "№ п/п,Управление,ОО,Промежутки пересечения,ОО\n"
    title = '"Список «дублей»\nМО: Анивский, Долинский, Корсаковский, Курильский, Ногликский"\n'
    school = '"Лицей №1 (математика, физика, химия, биология, история)\nг. Холмск"'
    rows = [f"{n},УО,ОО,2.09.2024-1.10.2024,7А\n" for n in range(1, 3001)]
    rows[99] = f"100,УО,{school},2.09.2024-1.10.2024,7А\n"
    # A cell on one line that starts as a row does is no sign either.
    rows[199] = '200,УО,"5, 6, 7, 8, 9",2.09.2024-1.10.2024,7А\n'
    data = (title + header + "".join(rows)).encode()
    columnar, scalar = csv_rows_both_ways(data)
    assert columnar == scalar
    assert len(columnar[0]) == 3002
    assert columnar[0][101][2].startswith("Лицей №1")
    assert cells_like_rows_both_ways(data) == [(103, 104)]
    assert read_csv(data, columnar_min_bytes=0)[0].block is not None


@pytest.mark.parametrize(
    "number", ["", "{n}.", "{n})", "№ {n}", "1.{n}"], ids=["empty", "dot", "bracket", "sign", "sub"]
)
def test_stray_quote_with_other_numbers(number):
    rows = [[number.format(n=n), "УО", "ОО", "2.09.2024-1.10.2024", "7А"] for n in range(1, 3001)]
    rows[299][2] = '"ОО'
    data = (HEADER + "".join(";".join(row) + "\n" for row in rows)).encode()
    for error in rejections_both_ways(data, delimited.CellContainsRowsError):
        assert error.line == 301


def test_trimmed_rows_with_breaks_accepted():
    # A writer that leaves out empty cells at the ends of rows makes most
    # rows shorter than the header, so a full row with a two-line school
    # name is longer than most but no longer than the header.
    rows = [f"{n};УО;ОО;2.09.2024-1.10.2024\n" for n in range(1, 3001)]
    rows[99] = '100;УО;"МБОУ СОШ № 5\nг. Холмск";2.09.2024-1.10.2024;7А\n'
    data = (TITLE + HEADER + "".join(rows)).encode()
    columnar, scalar = csv_rows_both_ways(data)
    assert columnar == scalar
    assert len(columnar[0]) == 3002


def test_prose_with_commas_accepted():
    # Decimal commas and a postal code begin lines of a note in a comma
    # file, but no cell after them starts as «Управление» does.
    header = "№ п/п,Управление,ОО,Промежутки пересечения,ОО\n"
    rows = "".join(f"{n},УО,ОО,2.09.2024-1.10.2024,7А\n" for n in range(1, 3001))
    note = '"Устранено, %:\n37,5 Холмский, 12,5 Долинский,\n694620, г. Холмск, ул. Советская, 10"\n'
    data = (TITLE + header + rows + note).encode()
    columnar, scalar = csv_rows_both_ways(data)
    assert columnar == scalar
    assert columnar[0][-1][0].startswith("Устранено")


@pytest.mark.parametrize("opened_at", [100, 2997], ids=["inside", "at-end"])
def test_quote_short_of_row_listed(opened_at):
    # A quote opened in the last cell of a row closes in the next row's
    # third cell, that row lacking its empty last cell. The joined cell has
    # two delimiters, short of a row's three, so it gets no warning. Its
    # row is listed, as are rows above, in and below the table with a cell
    # over lines and a delimiter inside a line. A cell over lines without
    # one, or with one only beside a line break, is not listed.
    rows = rows_with_quote_closed_below(opened_at, 1, 2)
    rows[50][1] = '"МБОУ СОШ № 50\nкорпус 2"'
    rows[60][1] = '"МБОУ СОШ № 60; корпус 2\nвход со двора"'
    rows[70][1] = '"МБОУ СОШ № 70 ;\n; корпус 2"'
    title = '"Список; «дубли»\nМО «Анивский»"\n'
    header = "Управление;ОО;Промежутки пересечения;Класс\n"
    note = '"Примечание; см.\nвыше"\n'
    data = (title + header + "".join(";".join(row) + "\n" for row in rows) + note).encode()
    columnar, scalar = csv_rows_both_ways(data)
    assert columnar == scalar
    assert len(scalar[0]) == 3002
    assert cells_like_rows_both_ways(data) == []
    (grid,) = read_csv(data)
    assert grid.block is not None
    # Row n of the table is on line n + 4, and on a line more after each
    # of the three cells over lines above it.
    line = opened_at + 7
    assert grid.rows_over_lines == [
        (1, 2, 0),
        (65, 66, 62),
        (line, line + 1, opened_at + 2),
        (3007, 3008, 3001),
    ]


def test_delimiters_at_breaks_only_warned():
    # A cell with a row's delimiters, each beside a line break, is listed
    # for a warning with its lines, but not among the rows with a
    # delimiter inside a line.
    rows = unnumbered_rows(3000)
    rows[1500][1] = '"МБОУ СОШ ;\n ;корпус 2 ;\n ;вход со двора"'
    header = "Управление;ОО;Промежутки пересечения;Класс\n"
    data = (header + "".join(";".join(row) + "\n" for row in rows)).encode()
    assert cells_like_rows_both_ways(data) == [(1502, 1504)]
    (grid,) = read_csv(data)
    assert grid.block is not None
    assert grid.rows_over_lines == []


def test_rows_over_lines_listed_up_to_limit():
    # Both paths list the same first rows with a cell over lines and a
    # delimiter inside a line, up to the limit.
    rows = unnumbered_rows(3000)
    for row in rows[100:1300]:
        row[1] = '"МБОУ СОШ; корпус 2\nвход со двора"'
    header = "Управление;ОО;Промежутки пересечения;Класс\n"
    data = (header + "".join(";".join(row) + "\n" for row in rows)).encode()
    (columnar,) = read_csv(data, columnar_min_bytes=0)
    (scalar,) = read_csv(data, columnar_min_bytes=len(data) + 1)
    assert columnar.block is not None
    assert columnar.rows_over_lines == scalar.rows_over_lines
    assert len(scalar.rows_over_lines) == delimited.MAX_ROWS_OVER_LINES
    assert scalar.rows_over_lines[0] == (102, 103, 101)
    assert scalar.rows_over_lines[-1] == (2100, 2101, 1100)


def test_breaks_with_delimiters_read_both_ways():
    rows = [f"{n};УО;ОО;2.09.2024-1.10.2024;7А\n" for n in range(1, 3001)]
    rows[99] = '100;УО;"ОО; корпус 2; вход\r\nс улицы";"2.09.2024-1.10.2024;\n3.10.2024";7А\n'
    data = (TITLE + HEADER + "".join(rows)).encode()
    columnar, scalar = csv_rows_both_ways(data)
    assert columnar == scalar
    assert columnar[0][-1][0] == "3000"
    assert len(columnar[0]) == 3002
    assert read_csv(data, columnar_min_bytes=0)[0].block is not None


# A module built before line_count was added lacks the function.
@pytest.mark.parametrize("module", [None, SimpleNamespace()], ids=["missing", "stale"])
def test_line_count_without_compiled_module(monkeypatch, module):
    data = b"1;a\r\n2;b\r3;c\n\n4;d"
    expected = [delimited._line_count(data, start) for start in range(len(data) + 1)]
    monkeypatch.setattr(delimited, "_cells", module)
    assert [delimited._line_count(data, start) for start in range(len(data) + 1)] == expected
    assert expected[:2] == [5, 5]
    assert expected[-1] == 0


def test_long_cell_read_both_ways():
    rows = "".join(f"{i};УО;ОО;2.09.2024-1.10.2024;x\n" for i in range(3000))
    long_cell = "я" * 100_000
    data = (TITLE + HEADER + rows + f"3000;УО;{long_cell};2.09.2024-1.10.2024;x\n").encode()
    columnar, scalar = csv_rows_both_ways(data)
    assert columnar == scalar
    assert columnar[0][-1][2] == long_cell


def test_csv_path_chosen_by_size():
    row = "1;УО;ОО;2.09.2024-1.10.2024;x\n"
    small = (TITLE + HEADER + row).encode()
    large = (TITLE + HEADER + row * (delimited.COLUMNAR_MIN_BYTES // len(row) + 1)).encode()
    assert read_csv(small)[0].block is None
    assert read_csv(large)[0].block is not None
    assert len(large) < 1 << 20


@pytest.mark.parametrize(
    "below",
    [
        "Итого: 3000\n",
        "Итого: 3000\r\n\r\nИсполнитель: Петрова А.А.\r\n",
        '"Исполнитель: Петрова А.А.\nтел. 00-00-00"\n',
        "Итого;3000;;;;;\n",
        "\nИтого: 3000",
    ],
    ids=["footer", "blank-and-note", "note-over-lines", "longer-row", "no-final-newline"],
)
def test_short_rows_below_table_stay_columnar(below):
    rows = "".join(f"{n};УО;ОО;2.09.2024-1.10.2024;7А\n" for n in range(1, 3001))
    data = (TITLE + HEADER + rows + below).encode()
    by_columns, scalar = csv_rows_both_ways(data)
    grid = read_csv(data)[0]
    assert by_columns == scalar
    assert grid.block is not None
    assert grid.block.num_rows == 3001
    by_rows = parse_layout(read_csv(data, columnar_min_bytes=len(data) + 1))
    assert parse_layout([grid]).rows == by_rows.rows


def test_short_row_inside_table_read_by_rows():
    rows = [f"{n};УО;ОО;2.09.2024-1.10.2024;7А\n" for n in range(1, 3001)]
    rows.insert(1500, "Страница 2\n")
    data = (TITLE + HEADER + "".join(rows) + "Итого: 3000\n").encode()
    by_columns, scalar = csv_rows_both_ways(data)
    assert by_columns == scalar
    assert read_csv(data)[0].block is None


def table_rows(count: int) -> list[str]:
    return [f"{n};УО;ОО;2.09.2024-1.10.2024;7А" for n in range(1, count + 1)]


@pytest.mark.parametrize(
    ("below", "error", "line"),
    [
        ('"Примечание; см. выше\nещё строка\n', delimited.CellContainsRowsError, 3003),
        ("Примечание: " + "x" * 140000 + "\n", delimited.CellTooLongError, 3003),
    ],
    ids=["quote-never-closed", "over-field-limit"],
)
def test_faulty_note_below_rejected_both_ways(below, error, line):
    data = (TITLE + HEADER + "\n".join(table_rows(3000)) + "\n" + below).encode()
    for raised in rejections_both_ways(data, error):
        assert raised.line == line


def test_row_over_lines_inside_table_not_tail():
    # Counted from the end, the lines of the two-line row inside the table
    # start where a quote closes a cell of the row above the last.
    rows = table_rows(3000)
    note = '"Страница 2 из 3. Список учащихся-«дублей» (образовательные организации)\nпродолжение"'
    rows.insert(1500, note)
    rows[-2] = rows[-2][: -len("7А")] + '"7А\n"'
    rows[-1] = rows[-1].replace(";ОО;", ';"МБОУ ""Лицей""";', 1)
    data = (TITLE + HEADER + "\n".join(rows) + "\n\n").encode()
    by_columns, scalar = csv_rows_both_ways(data)
    rows_by_columns = parse_layout(read_csv(data, columnar_min_bytes=0)).rows
    assert by_columns == scalar
    assert rows_by_columns == parse_layout(read_csv(data, columnar_min_bytes=len(data) + 1)).rows
    assert [r["row_number"] for r in rows_by_columns][-2:] == ["2999", "3000"]


def test_trimmed_rows_not_tail():
    # Every row lacks the header's last cell, so pyarrow skips them all.
    rows = [
        f"{n};УО;МБОУ «Средняя общеобразовательная школа № {n}»;2.09.2024-1.10.2024"
        for n in range(1, 1001)
    ]
    rows[299] = rows[299].rsplit(";", 1)[0] + ';"2.09.2024-1.10.2024'
    rows[300] += '"'
    data = (TITLE + HEADER + "\n".join(rows) + "\n").encode()
    for raised in rejections_both_ways(data, delimited.CellContainsRowsError):
        assert (raised.line, raised.end) == (302, 303)


def test_quote_in_note_below_rejected():
    # The note's quote takes in the last row of the table, so the note is
    # one row over lines that the columnar path leaves to the csv module.
    rows = [f"{n};УО;ОО;2.09.2024-1.10.2024;7А\n" for n in range(1, 3001)]
    data = (TITLE + HEADER + "".join(rows[:-1]) + '"Итого\n' + rows[-1] + 'конец"\n').encode()
    for error in rejections_both_ways(data, delimited.CellContainsRowsError):
        assert error.line == 3002


# --- layout -------------------------------------------------------------------


def block_grid(rows: list[list[str]], head: int) -> Grid:
    """Build a grid whose rows from ``head`` on are a column block (all of equal width)."""
    width = len(rows[head])
    names = [f"c{i}" for i in range(width)]
    columns = [pa.array([row[c] for row in rows[head:]], pa.string()) for c in range(width)]
    return Grid(name="block", rows=[list(r) for r in rows[:head]], block=pa.table(columns, names=names))


LAYOUT_ROWS = [
    ["Список учащихся-«дублей»", "", "", "", ""],
    ["Период: 02.09.2024 - 17.01.2025", "", "", "", ""],
    ["№ п/п", "Управление", "ОО", "Промежутки пересечения", "ОО"],
    ["1", "2", "3", "4", "5"],
    ["1", "УО", "Школа 1", "2.09.2024-1.10.2024 (s1)", "Школа 2"],
    ["", "", "", "", ""],
    ["№ п/п", "Управление", "ОО", "Промежутки пересечения", "ОО"],
    ["2", "УО", "Школа 3", "2.09.2024-1.10.2024 (s2)", "Школа 4"],
    ["12", "3", "", "", ""],
    ["Итoгo", "2", "", "", ""],
    ["3", "УО", "после итога", "2.09.2024-1.10.2024", "x"],
]


def test_layout_same_for_block_and_rows():
    by_rows = parse_layout([Grid(name="rows", rows=[list(r) for r in LAYOUT_ROWS])])
    by_block = parse_layout([block_grid(LAYOUT_ROWS, head=2)])
    assert by_block.rows == by_rows.rows
    assert [r["source_row"] for r in by_rows.rows] == [5, 8, 9]


def test_grid_columns_of_block_not_copied():
    grid = block_grid(LAYOUT_ROWS, head=2)

    columns, lengths = grid.columns(3)

    assert columns[2].to_pylist()[:3] == ["3", "Школа 1", ""]
    assert list(lengths[:2]) == [5, 5]
    # Only block rows are asked for, so each column is a slice of the block's.
    assert columns[2].buffers()[2].address == grid.block.column(2).chunk(0).buffers()[2].address


def test_grid_columns_join_rows_and_block():
    grid = block_grid(LAYOUT_ROWS, head=4)

    columns, lengths = grid.columns(3)

    assert columns[2].to_pylist()[:3] == ["3", "Школа 1", ""]
    assert len(lengths) == len(LAYOUT_ROWS) - 3


def test_grid_rows_after_block():
    tail = [["Итого: 2"], [], ["Исполнитель", "", "", "", "", "подпись"]]
    block = block_grid(LAYOUT_ROWS[:5], 3).block
    grid = Grid(name="tail", rows=[list(r) for r in LAYOUT_ROWS[:3]], block=block, tail=tail)

    columns, lengths = grid.columns(4)

    assert (grid.height, grid.width) == (8, 6)
    assert grid.head(7)[-2:] == tail[:2]
    assert columns[0].to_pylist() == ["1", "Итого: 2", "", "Исполнитель"]
    assert columns[5].to_pylist() == ["", "", "", "подпись"]
    assert list(lengths) == [5, 1, 0, 6]
    assert grid.rows[-3:] == tail


def test_layout_footer_with_latin_letters_stops():
    table = parse_layout([block_grid(LAYOUT_ROWS, head=2)])
    assert all(r["organisation"] != "после итога" for r in table.rows)


# Rows of column numbers and footers, with digits of other scripts, other
# numeric characters, Latin look-alikes and near misses, among data rows.
NUMBER_CELLS = ["1", "2", "12", "007", "١", "٣", "²", "Ⅻ", "1²", "", "1a", "1 ", "½", "-1", "x"]
FOOTER_CELLS = ["Итого", "ВСЕГО:", "Итoгo", "итог", "Всёго", "Bcего", "Итого 5", " Итого", "Итог"]
DATA_CELLS = ["УО", "Школа 1", "2.09.2024-1.10.2024 (s1)", "s10", "Ж", "x y"]
# Rows below the table: notes, and rows that only look like them.
NOTE_ROWS = [
    ["Исполнитель: Петрова А.А., тел. 00-00-00", "", "", "", ""],
    ["Дата формирования: 18.01.2025", "", "", "", ""],
    ["x", "", "", "", ""],
    ["", "Подпись", "", "", ""],
    ["Период 2.09.2024-1.10.2024", "", "", "", ""],
    ["12 УО Школа", "", "", "", ""],
]
COLUMN_NUMBER_ROWS = [
    ["1", "2", "3", "4", "5"],
    ["١", "٢", "٣", "٤", "٥"],
    ["1", "2", "", "٣", "4"],
    ["1", "2", "3", "4", "5²"],
]


@pytest.mark.parametrize("seed", range(4))
def test_layout_number_rows_and_footers(seed):
    rng = random.Random(seed)
    rows = [list(r) for r in LAYOUT_ROWS[:4]]
    for number in range(1, 400):
        kind = rng.random()
        if kind < 0.05:
            row = rng.choice(COLUMN_NUMBER_ROWS)
        elif kind < 0.15:
            row = [rng.choice(NUMBER_CELLS) for _ in range(5)]
        elif kind < 0.17:
            first = rng.choice(FOOTER_CELLS + NUMBER_CELLS[:3])
            row = [first, "", "", "", rng.choice(["", "2"])]
        else:
            row = [str(number)] + [rng.choice(DATA_CELLS) for _ in range(4)]
        rows.append(row)
    rows += rng.sample(NOTE_ROWS, rng.randrange(len(NOTE_ROWS) + 1))

    by_rows = parse_layout([Grid(name="rows", rows=[list(r) for r in rows])])
    by_block = parse_layout([block_grid(rows, head=2)])

    assert by_block.rows == by_rows.rows
    assert [r["source_row"] for r in by_block.rows] == rows_kept_by_rule(rows, first_data=4)
    # A row of column numbers beyond ASCII was generated, which the cheap
    # test must let through to the exact one.
    assert any(row in COLUMN_NUMBER_ROWS[1:3] for row in rows)


def rows_kept_by_rule(rows: list[list[str]], first_data: int) -> list[int]:
    """Return the numbers (from 1) of the data rows parse_layout keeps, one row at a
    time: up to the first footer, without blank rows and rows of column numbers."""
    numbers = []
    for index, row in enumerate(rows[first_data:], start=first_data):
        first = next((cell for cell in row if cell), None)
        if first is not None and layout._FOOTER.match(match_key(first)):
            break
        if first is not None and not layout._is_column_numbers(row):
            numbers.append(index + 1)
    # Notes below the last row of the table: only the first cell is filled,
    # with a letter first and no date range.
    while len(numbers) > 1 and is_note(rows[numbers[-1] - 1]):
        numbers.pop()
    return numbers


def is_note(row: list[str]) -> bool:
    texts = {cell for cell in row if cell}
    letters_first = all(text[0].isalpha() and ".20" not in text for text in texts)
    return bool(row[0]) and len(texts) <= 2 and letters_first


@pytest.mark.parametrize(
    ("tail", "kept"),
    [
        ([NOTE_ROWS[0], NOTE_ROWS[1]], [5]),
        ([NOTE_ROWS[0], ["", "", "", "", ""], NOTE_ROWS[2]], [5]),
        ([NOTE_ROWS[0], LAYOUT_ROWS[4], NOTE_ROWS[1]], [5, 6, 7]),
        ([NOTE_ROWS[3]], [5, 6]),
        ([NOTE_ROWS[4], NOTE_ROWS[0]], [5, 6]),
        ([NOTE_ROWS[5]], [5, 6]),
        ([["«Исполнитель»", "", "", "", ""]], [5]),
        ([["Исполнитель: Петрова А.А."] * 5], [5]),
        ([["Исполнитель:", "", "", "Петрова А.А.", ""]], [5]),
        ([["______ Петрова А.А.", "", "", "", ""]], [5]),
        ([["Исполнитель:", "отдел", "Петрова А.А.", "", ""]], [5, 6]),
        ([["1) Исполнитель", "", "", "", ""]], [5, 6]),
    ],
    ids=["two-notes", "blank-between", "note-above-a-row", "not-first-column", "date-range",
         "starts-with-number", "quoted", "merged-range", "signature", "line-to-sign",
         "three-texts", "numbered"],
)
def test_layout_notes_below_table_dropped(tail, kept):
    rows = [list(r) for r in LAYOUT_ROWS[:5]] + [list(r) for r in tail]
    by_rows = parse_layout([Grid(name="rows", rows=rows)])
    assert [r["source_row"] for r in by_rows.rows] == kept
    assert parse_layout([block_grid(rows, head=2)]).rows == by_rows.rows


def test_layout_only_notes_kept():
    rows = [list(r) for r in LAYOUT_ROWS[:4]] + [NOTE_ROWS[0], NOTE_ROWS[1]]
    table = parse_layout([Grid(name="rows", rows=rows)])
    assert [r["source_row"] for r in table.rows] == [5, 6]


def test_layout_short_rows_not_taken_as_header():
    rows = [list(r) for r in LAYOUT_ROWS[:5]] + [["№ п/п", "Управление", "ОО", "Промежутки пересечения"]]
    table = parse_layout([Grid(name="rows", rows=rows)])
    assert [r["row_number"] for r in table.rows] == ["1", "№ п/п"]


# --- staging ------------------------------------------------------------------

STAGING_ROWS = [
    ("Иванов Иван", "01.02.2012", "S1", "2.09.2024-1.10.2024 (s2)"),
    ("Петрова Анна", "1.2.2012", "s3", "02.09.2024 – 15.10.2024 ( s4 )"),
    ("Сидоров", "31.02.2012", "s5", "2.09.2024-1.10.2024"),
    ("Кузнецов", "01.02.0999", "s6", "2.09.2024-1.10.2024 (s7)"),
    ("Смирнов", "٠١.٠٢.٢٠١٢", "s8", "2.09.2024-1.10.2024 (s9)"),
    ("Попов", "01.02.2012", "s10", "2.09.2024-1.10.2024 (s11); 5.10.2024-9.10.2024 (s12)"),
    ("Волков", "01.02.2012", "s13", "31.09.2024-1.10.2024 (s14)"),
    ("Лебедев", "01.02.2012", "s15", "без дат (s16)"),
    ("Козлов", "01.02.2012", "ИД17", "1.11.2024-1.10.2024 (Ид18)"),
    ("", "", "", ""),
    ("Новиков", "01.02.2012", "s19", "2.09.2024-1.10.2024 (s20) хвост"),
    ("Морозов", "01.02.2012", "s21", "2.09.0999-1.10.2024 (s22)"),
]


def staging_table() -> object:
    from dupmon.layout import ExportTable

    frame = pa.table(
        {
            "row_number": [str(i + 1) for i in range(len(STAGING_ROWS))],
            "authority": ["УО"] * len(STAGING_ROWS),
            "pupil_name": [r[0] for r in STAGING_ROWS],
            "birth_date": [r[1] for r in STAGING_ROWS],
            "account_id": [r[2] for r in STAGING_ROWS],
            "organisation": ["Школа"] * (len(STAGING_ROWS) - 1) + [""],
            "intersections": [r[3] for r in STAGING_ROWS],
            "source_row": list(range(3, 3 + len(STAGING_ROWS))),
        }
    )
    return ExportTable(layout="fourteen_column", frame=frame)


def test_stage_frame_matches_stage_row():
    table = staging_table()
    staged = stage_frame(table, "sha", SECRET)
    expected = [row for record in table.rows for row in stage_row(record, "sha", SECRET)]
    assert staged.schema == STAGED_SCHEMA
    assert staged.to_pylist() == pa.Table.from_pylist(expected, schema=STAGED_SCHEMA).to_pylist()


def test_stage_frame_sliced_rows():
    # A slice keeps its offset into the column's buffers, and the nulls
    # made from empty cells must respect it.
    table = staging_table()
    table.frame = table.frame.slice(3)
    staged = stage_frame(table, "sha", SECRET)
    expected = [row for record in table.rows for row in stage_row(record, "sha", SECRET)]
    staged.validate(full=True)
    assert staged.to_pylist() == pa.Table.from_pylist(expected, schema=STAGED_SCHEMA).to_pylist()


@pytest.mark.parametrize("start", [0, 1, 7])
def test_empty_cells_as_nulls(start):
    from dupmon.staging import _empty_as_null

    generator = random.Random(start)
    cells = [generator.choice(["", "Школа", "a", "", "1"]) for _ in range(70)]
    values = pa.array(cells).slice(start)

    nulled = _empty_as_null(values)

    nulled.validate(full=True)
    assert nulled.to_pylist() == [cell or None for cell in cells[start:]]
    # The text is not copied.
    assert nulled.buffers()[2].address == values.buffers()[2].address
    for other in (pa.array(["", None, "x"]), pa.array(["x", "y"]), pa.array(["", ""])):
        assert _empty_as_null(other).to_pylist() == [c or None for c in other.to_pylist()]


@pytest.mark.parametrize("seed", range(3))
def test_birth_dates_with_empty_cells(seed):
    from dupmon.staging import _day_first, _day_first_of

    generator = random.Random(seed)
    dates = ["01.02.2012", "1.2.2012", "31.02.2012", "01.02.0999", "٠١.٠٢.٢٠١٢", "x", "1.13.2012"]
    for empty_share in (0.0, 0.5, 0.95, 1.0):
        cells = [
            "" if generator.random() < empty_share else generator.choice(dates)
            for _ in range(300)
        ]
        for text in (pa.array(cells), pa.array(cells).slice(5)):
            parsed, every_cell = _day_first(text), _day_first_of(text)
            assert parsed["date"].to_pylist() == every_cell["date"].to_pylist()
            assert parsed["unsure"].to_pylist() == every_cell["unsure"].to_pylist()
    text = pa.array(["", None, "01.02.2012", "٠١.٠٢.٢٠١٢"])
    assert _day_first(text)["unsure"].to_pylist() == _day_first_of(text)["unsure"].to_pylist()


def test_stage_frame_splits_accounts_in_order():
    staged = stage_frame(staging_table(), "sha", SECRET).to_pylist()
    rows = [r["source_row"] for r in staged]
    assert rows == sorted(rows)
    assert rows.count(8) == 2


def test_stage_frame_all_fast_rows():
    table = staging_table()
    table.frame = table.frame.slice(0, 2)
    staged = stage_frame(table, "sha", SECRET).to_pylist()
    assert staged[1]["intersections"] == "02.09.2024 - 15.10.2024"
    assert staged[1]["intersection_end"] == dt.date(2024, 10, 15)
    assert staged[1]["duplicate_account_token"] == keyed_hash(SECRET, "account", "s4")


def test_pupil_hash_only_without_both_accounts():
    staged = stage_frame(staging_table(), "sha", SECRET).to_pylist()
    both = [r for r in staged if r["account_token"] and r["duplicate_account_token"]]
    # «Лебедев» (row 10) has no readable duplicate's account, but a name and birth date.
    (lebedev,) = [r for r in staged if r["source_row"] == 10]
    assert both
    assert all(r["pupil_token"] is None for r in both)
    assert lebedev["duplicate_account_token"] is None
    assert lebedev["pupil_token"] == keyed_hash(SECRET, "pupil", "лебедев", "2012-02-01")


@pytest.mark.parametrize("seed", [1, 2])
def test_one_range_account_as_lazy_pattern(seed):
    # The range pattern takes the account greedily and strips it after. A
    # lazy account between two space groups, the plain way to write it,
    # must give the same accounts.
    from dupmon.staging import _date_groups, _one_range

    lazy = (
        rf"^{_date_groups('1')}\s*[-‐‑‒–—]\s*{_date_groups('2')}"
        r"(?:\s*\(\s*(?P<account>[^()]*?)\s*\))?$"
    )
    generator = random.Random(seed)
    inside = ["a", "Б", "1", " ", "\t", "\v", "\r", "\f", "\u00a0", "(", ")", "\n"]
    cells = []
    for _ in range(3000):
        account = "".join(generator.choice(inside) for _ in range(generator.randrange(0, 7)))
        spaces = generator.choice(["", " ", "  ", "\t"])
        cells.append(f"2.09.2024 -{spaces}5.10.2024{spaces}({account})")
    cells += ["2.09.2024-5.10.2024", "2.09.2024-5.10.2024 ()", "2.09.2024-5.10.2024 ( )"]
    text = pa.array(cells)
    expected = pc.extract_regex(text, lazy)

    ranges = _one_range(text)

    matched = pc.is_valid(expected)
    expected_accounts = pc.fill_null(pc.struct_field(expected, "account"), "")
    assert ranges["valid"].equals(matched)
    assert sum(matched.to_pylist()) > 1000
    assert ranges["account"].filter(matched).equals(expected_accounts.filter(matched))


def test_pupil_unparsed_with_both_accounts(monkeypatch):
    # Rows 6 and 7 («Кузнецов», «Смирнов») have both accounts and birth dates
    # the column-wise parser leaves to stage_row. Their pair keys never read
    # the pupil, so they stay on the column-wise path. Row 5 («Сидоров») has
    # no duplicate's account, so its impossible birth date still goes to
    # stage_row.
    from dupmon import staging

    scalar_rows = []

    def recording_stage_row(row, sha256, secret):
        scalar_rows.append(row["source_row"])
        return stage_row(row, sha256, secret)

    monkeypatch.setattr(staging, "stage_row", recording_stage_row)

    staged = stage_frame(staging_table(), "sha", SECRET).to_pylist()

    assert 5 in scalar_rows
    assert 6 not in scalar_rows
    assert 7 not in scalar_rows
    assert [r["pupil_token"] for r in staged if r["source_row"] in (6, 7)] == [None, None]


def test_pupil_hash_of_row_without_duplicate_account():
    (row,) = stage_row(
        {"source_row": 3, "pupil_name": "Сидоров", "birth_date": "01.02.2012",
         "account_id": "s5", "intersections": "2.09.2024-1.10.2024"},
        "sha",
        SECRET,
    )
    assert row["duplicate_account_token"] is None
    assert row["pupil_token"] == keyed_hash(SECRET, "pupil", "сидоров", "2012-02-01")


def test_clean_display_array_keeps_tidy_column():
    values = pa.array(["Школа № 1", "Школа № 2"] * 30_000)
    cleaned = clean_display_array(values)
    assert cleaned.equals(values)
    # Nothing to tidy, so the text is not copied.
    assert cleaned.buffers()[2].address == values.buffers()[2].address


@pytest.mark.parametrize(
    "cell",
    ["Школа\u00a0№ 1", "a\u200bb", "два  пробела", " край", "край ", "ok", "№ 5 «Ромашка» – филиал"],
)
def test_csv_tidy_check_per_cell(cell):
    rows = "".join(f"{i};УО;{cell};2.09.2024-1.10.2024;x\n" for i in range(5))
    data = (TITLE + HEADER + rows).encode()
    columnar, scalar = csv_rows_both_ways(data)
    assert columnar == scalar


def test_csv_cp1251_columnar():
    rows = "".join(f"{i};УО;Школа № {i};2.09.2024-1.10.2024;x\n" for i in range(5))
    data = (TITLE + HEADER + rows).encode("cp1251")
    grid = read_csv(data, columnar_min_bytes=0)[0]
    assert grid.block is not None
    assert grid.rows[3][2] == "Школа № 1"


@pytest.mark.parametrize("vector", [True, False], ids=["vector-check", "pyarrow-check"])
@pytest.mark.parametrize("encoding", ["utf-8", "cp1251"])
def test_csv_text_after_head_same_both_ways(vector, encoding, monkeypatch):
    # The ASCII head decodes as UTF-8 in either encoding, so the Cyrillic
    # rows after it decide the encoding. Whether they are checked 32 bytes
    # at a time or by pyarrow, a Windows-1251 file is read again as such.
    if vector and not delimited._VECTOR_UTF8:
        pytest.skip("the vector check needs dupmon._cells on a machine with AVX2")
    monkeypatch.setattr(delimited, "_VECTOR_UTF8", vector)
    monkeypatch.setattr(delimited, "_HEAD_PREFIX_BYTES", 120)
    head = "".join(f"{i};a;b;c;d\n" for i in range(20))
    rows = "".join(f"{i};УО;Школа № {i} «Ромашка»;2.09.2024-1.10.2024;x\n" for i in range(20, 60))
    data = (head + rows).encode(encoding)

    columnar, scalar = csv_rows_both_ways(data)

    assert columnar == scalar
    assert columnar[0][25][2] == "Школа № 25 «Ромашка»"


def test_csv_body_checked_once(monkeypatch):
    if not delimited._VECTOR_UTF8:
        pytest.skip("the vector check needs dupmon._cells on a machine with AVX2")
    checks = []
    read = delimited.pacsv.read_csv

    def recording(*args, **kwargs):
        checks.append(kwargs["convert_options"].check_utf8)
        return read(*args, **kwargs)

    monkeypatch.setattr(delimited.pacsv, "read_csv", recording)
    rows = "".join(f"{i};УО;Школа № {i};2.09.2024-1.10.2024;x\n" for i in range(5))

    read_csv((TITLE + HEADER + rows).encode(), columnar_min_bytes=0)
    read_csv((TITLE + HEADER + rows).encode("cp1251"), columnar_min_bytes=0)

    # Checked here before pyarrow parses, and not at all after Python's
    # encoder wrote the text of the Windows-1251 file.
    assert checks == [False, False]


def test_csv_invalid_bom_file_same_error():
    data = b"\xef\xbb\xbf" + (TITLE + HEADER + "1;a;b;c;d\n").encode() + b"\xff\xfe;x;y;z;w\n"
    with pytest.raises(UnicodeDecodeError):
        read_csv(data, columnar_min_bytes=0)
