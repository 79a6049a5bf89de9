"""Russian agreement, dates and decimals of dupmon.russian."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from dupmon.russian import (
    count_phrase,
    decimal_comma,
    format_date_plain,
    format_date_ru,
    locative_phrase,
    numeral_increment,
    one_or_many,
    plural,
    prepositional_numeral,
    upper_first,
)

DUPLICATE = ("дубль", "дубля", "дублей")
MUNICIPALITY = ("муниципальном образовании", "муниципальных образованиях")
ORGANISATION = ("образовательной организации", "образовательных организациях")


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "дублей"),
        (1, "дубль"),
        (2, "дубля"),
        (3, "дубля"),
        (4, "дубля"),
        (5, "дублей"),
        (10, "дублей"),
        (11, "дублей"),
        (12, "дублей"),
        (13, "дублей"),
        (14, "дублей"),
        (15, "дублей"),
        (20, "дублей"),
        (21, "дубль"),
        (22, "дубля"),
        (25, "дублей"),
        (101, "дубль"),
        (111, "дублей"),
        (112, "дублей"),
        (122, "дубля"),
        (1001, "дубль"),
    ],
)
def test_plural_forms(n, expected):
    assert plural(n, *DUPLICATE) == expected


@pytest.mark.parametrize(
    ("n", "expected"),
    [(1, "1 дубль"), (2, "2 дубля"), (5, "5 дублей"), (11, "11 дублей"), (21, "21 дубль")],
)
def test_count_phrase(n, expected):
    assert count_phrase(n, DUPLICATE) == expected


@pytest.mark.parametrize("forms", [("дубль", "дубля"), "дубль", ("a", "b", "c", "d")])
def test_count_phrase_rejects_invalid_forms(forms):
    with pytest.raises(ValueError, match="three forms"):
        count_phrase(2, forms)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, "одном"),
        (4, "четырёх"),
        (16, "шестнадцати"),
        (21, "одном"),
        (40, "сорока"),
        (90, "девяноста"),
        (100, "ста"),
        (200, "двухстах"),
        (310, "десяти"),
    ],
)
def test_prepositional_numeral(n, expected):
    assert prepositional_numeral(n) == expected


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, "1-м"),
        (2, "2-х"),
        (3, "3-х"),
        (4, "4-х"),
        (5, "5-ти"),
        (6, "6-ти"),
        (7, "7-ми"),
        (8, "8-ми"),
        (9, "9-ти"),
        (10, "10-ти"),
        (11, "11-ти"),
        (12, "12-ти"),
        (13, "13-ти"),
        (14, "14-ти"),
        (15, "15-ти"),
        (16, "16-ти"),
        (17, "17-ти"),
        (18, "18-ти"),
        (19, "19-ти"),
        (20, "20-ти"),
        (21, "21-м"),
        (22, "22-х"),
        (27, "27-ми"),
        (30, "30-ти"),
        (40, "40-ка"),
        (50, "50-ти"),
        (90, "90-та"),
        (100, "100-та"),
        (101, "101-м"),
        (111, "111-ти"),
        (200, "200-х"),
        (1000, "1000"),
    ],
)
def test_numeral_increment(n, expected):
    assert numeral_increment(n) == expected


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, "в 1-м муниципальном образовании"),
        (2, "в 2-х муниципальных образованиях"),
        (11, "в 11-ти муниципальных образованиях"),
        (16, "в 16-ти муниципальных образованиях"),
        (18, "в 18-ти муниципальных образованиях"),
        (21, "в 21-м муниципальном образовании"),
        (40, "в 40-ка муниципальных образованиях"),
        (100, "в 100-та муниципальных образованиях"),
    ],
)
def test_locative_phrase(n, expected):
    assert locative_phrase(n, *MUNICIPALITY) == expected


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, "в 1-й образовательной организации"),
        (2, "в 2-х образовательных организациях"),
        (5, "в 5-ти образовательных организациях"),
        (11, "в 11-ти образовательных организациях"),
        (21, "в 21-й образовательной организации"),
        (31, "в 31-й образовательной организации"),
        (111, "в 111-ти образовательных организациях"),
    ],
)
def test_locative_phrase_feminine(n, expected):
    assert locative_phrase(n, *ORGANISATION, feminine=True) == expected


@pytest.mark.parametrize(("n", "expected"), [(1, "одной"), (21, "одной"), (11, "одиннадцати")])
def test_prepositional_numeral_feminine(n, expected):
    assert prepositional_numeral(n, feminine=True) == expected


@pytest.mark.parametrize(
    ("n", "expected"),
    [(0, "следующих"), (1, "следующем"), (2, "следующих"), (5, "следующих"), (11, "следующих"),
     (21, "следующих")],
)
def test_one_or_many(n, expected):
    assert one_or_many(n, "следующем", "следующих") == expected


def test_prepositional_numeral_rejects_zero():
    with pytest.raises(ValueError, match="from 1 to 999"):
        prepositional_numeral(0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.date(2025, 1, 17), "17.01.2025 г."),
        ("2025-01-24", "24.01.2025 г."),
        (dt.date(2024, 9, 2), "02.09.2024 г."),
    ],
)
def test_format_date_ru(value, expected):
    assert format_date_ru(value) == expected


def test_format_date_plain():
    assert format_date_plain("2024-10-17") == "17.10.2024"


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (100, 1, "100,0"),
        (66.666, 1, "66,7"),
        ("33.35", 1, "33,4"),
        (Decimal("0.05"), 1, "0,1"),
        (2.5, 0, "3"),
        (12.345, 2, "12,35"),
    ],
)
def test_decimal_comma(value, places, expected):
    assert decimal_comma(value, places) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("в 16-ти муниципальных образованиях", "В 16-ти муниципальных образованиях"),
        ("1 дубль в ГО «Долинский»", "1 дубль в ГО «Долинский»"),
        ("", ""),
    ],
)
def test_upper_first(text, expected):
    assert upper_first(text) == expected
