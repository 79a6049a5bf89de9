import datetime as dt

import pytest

from dupmon.dates import IntersectionError, parse_day_first, parse_intersections


def test_day_first_without_leading_zero():
    assert parse_day_first("1.01.2025") == dt.date(2025, 1, 1)


def test_day_first_never_month_first():
    assert parse_day_first("12.01.2025") == dt.date(2025, 1, 12)


def test_invalid_date_is_none():
    assert parse_day_first("31.02.2025") is None


@pytest.mark.parametrize(
    "text",
    ["24.12.2024 - 1.01.2025", "24.12.2024-1.01.2025", "24.12.2024 – 1.01.2025",
     "24.12.2024—1.01.2025", "24.12.2024 - 01.01.2025"],
)
def test_range_separators(text):
    (item,) = parse_intersections(text)
    assert (item.start, item.end) == (dt.date(2024, 12, 24), dt.date(2025, 1, 1))


def test_range_with_account_id():
    (item,) = parse_intersections("24.12.2024-1.01.2025 (s98765)")
    assert item.account_id == "s98765"


def test_several_ranges_in_one_cell():
    items = parse_intersections("2.09.2024-5.09.2024 (s1), 9.09.2024-12.09.2024 (s2)")
    assert [i.account_id for i in items] == ["s1", "s2"]


def test_range_with_invalid_date_raises():
    with pytest.raises(IntersectionError):
        parse_intersections("24.13.2024 - 1.01.2025")


def test_text_without_range_raises():
    with pytest.raises(IntersectionError):
        parse_intersections("нет данных")
