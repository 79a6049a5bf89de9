"""Russian number agreement, dates and decimals as the справка prints them.

The templates call these through Jinja filters, so the words themselves stay
in the templates and only the grammar lives here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

# Prepositional case (о ком? о чём?) of the numerals, as spoken after «в»:
# «в одном», «в двух», «в пяти», «в сорока», «в ста», «в двухстах».
_UNITS = ("", "одном", "двух", "трёх", "четырёх", "пяти", "шести", "семи", "восьми", "девяти")
_TEENS = (
    "десяти",
    "одиннадцати",
    "двенадцати",
    "тринадцати",
    "четырнадцати",
    "пятнадцати",
    "шестнадцати",
    "семнадцати",
    "восемнадцати",
    "девятнадцати",
)
_TENS = (
    "",
    "",
    "двадцати",
    "тридцати",
    "сорока",
    "пятидесяти",
    "шестидесяти",
    "семидесяти",
    "восьмидесяти",
    "девяноста",
)
_HUNDREDS = (
    "",
    "ста",
    "двухстах",
    "трёхстах",
    "четырёхстах",
    "пятистах",
    "шестистах",
    "семистах",
    "восьмистах",
    "девятистах",
)
_VOWELS = set("аеёиоуыэюя")


def plural(n: int, one: str, few: str, many: str) -> str:
    """Return the form of a noun that agrees with ``n``: «1 дубль», «2 дубля», «5 дублей».

    ``one`` is used for 1, 21, 101 …; ``few`` for 2–4, 22–24 …; ``many`` for
    0, 5–20, 25–30 … and for 11–14 of every hundred.
    """
    n = abs(int(n))
    if n % 100 in (11, 12, 13, 14):
        return many
    if n % 10 == 1:
        return one
    if n % 10 in (2, 3, 4):
        return few
    return many


def one_or_many(n: int, singular: str, plural_form: str) -> str:
    """Return ``singular`` for exactly one and ``plural_form`` otherwise.

    For words that refer to a list without a numeral before them: «в
    следующем муниципальном образовании» for one, «в следующих …» for 21,
    where ``plural`` would agree with the numeral 21 and pick the singular.
    """
    return singular if abs(int(n)) == 1 else plural_form


def count_phrase(n: int, forms: Sequence[str]) -> str:
    """Return ``n`` and the agreeing noun form: «2 дубля» for ``(2, ("дубль", "дубля", "дублей"))``.

    ``forms`` is the (one, few, many) triple that ``plural`` takes.
    """
    one, few, many = _three_forms(forms)
    return f"{n} {plural(n, one, few, many)}"


def prepositional_numeral(n: int, feminine: bool = False) -> str:
    """Spell a number from 1 to 999 in the prepositional case: 16 → «шестнадцати», 21 → «одном».

    Only the last word is returned, because that word alone decides the
    ending written after the digits (21 is «двадцати одном»). Only «один»
    changes with the noun's gender: ``feminine`` gives «одной» («в одной
    организации»).
    """
    if not 0 < n < 1000:
        raise ValueError(f"cannot spell {n} in the prepositional case; use a number from 1 to 999")
    tens_and_units = n % 100
    if 10 <= tens_and_units <= 19:
        return _TEENS[tens_and_units - 10]
    if tens_and_units % 10 == 1 and feminine:
        return "одной"
    if tens_and_units % 10:
        return _UNITS[tens_and_units % 10]
    if tens_and_units:
        return _TENS[tens_and_units // 10]
    return _HUNDREDS[n // 100]


def numeral_increment(n: int, feminine: bool = False) -> str:
    """Write a number with its prepositional ending after a hyphen: «2-х», «16-ти», «1-м», «40-ка».

    The ending follows the rule Russian style guides give for ordinal
    numbers written in digits. It is one letter when the letter before the
    last is a vowel («двух» → «2-х», «одном» → «1-м»). Otherwise it is two
    letters («пяти» → «5-ти», «семи» → «7-ми», «сорока» → «40-ка»).
    From 1000 on the number is written without an ending, as style guides
    recommend for cardinal numbers in general. ``feminine`` gives «1-й» and
    «21-й» for a feminine noun.

    NOTE: style guides regulate these endings for ordinals only, so usage for
    40, 90 and 100 varies in official letters («40-а» is also seen).
    """
    if n <= 0 or n >= 1000:
        return str(n)
    word = prepositional_numeral(n, feminine)
    length = 1 if word[-2] in _VOWELS else 2
    return f"{n}-{word[-length:]}"


def locative_phrase(
    n: int, singular: str, plural_form: str, preposition: str = "в", feminine: bool = False
) -> str:
    """Return «в 2-х муниципальных образованиях», «в 1-м муниципальном образовании».

    ``singular`` and ``plural_form`` are the prepositional forms of the
    noun phrase. The singular follows numbers ending in 1 except 11
    («в 21-м муниципальном образовании»). Set ``feminine`` for a feminine
    noun: «в 1-й образовательной организации».
    """
    noun = singular if n % 10 == 1 and n % 100 != 11 else plural_form
    return f"{preposition} {numeral_increment(n, feminine)} {noun}".strip()


def format_date_ru(value: dt.date | str) -> str:
    """Format a date (or an ISO date string) as the справка prints it: «17.01.2025 г.»."""
    return f"{format_date_plain(value)} г."


def format_date_plain(value: dt.date | str) -> str:
    """Format a date (or an ISO date string) as «17.01.2025»."""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    return value.strftime("%d.%m.%Y")


def decimal_comma(value: float | int | str | Decimal, places: int = 1) -> str:
    """Round half up to ``places`` decimals and write with a decimal comma: 66.666 → «66,7»."""
    quantum = Decimal(1).scaleb(-places)
    rounded = Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP)
    return f"{rounded}".replace(".", ",")


def upper_first(text: str) -> str:
    """Capitalise only the first letter, unlike str.capitalize, which lowers the rest."""
    return text[:1].upper() + text[1:]


def _three_forms(forms: Sequence[str]) -> tuple[str, str, str]:
    if isinstance(forms, str) or len(forms) != 3:
        raise ValueError(
            f"noun forms {forms!r} are invalid; give three forms for 1, 2 and 5, "
            "such as ('дубль', 'дубля', 'дублей')"
        )
    return forms[0], forms[1], forms[2]
