"""The compiled scans of text cells against the regular expressions they replace.

``dupmon.staging._one_range`` reads intersection cells, and
``dupmon.text_arrays._untidy`` marks the cells for the scalar clean-up,
with ``dupmon._cells`` when it is built and with RE2 otherwise. Both ways
must give the same columns on every cell, near misses included.
"""

from __future__ import annotations

import datetime as dt
import mmap
import platform
import random
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import pyarrow.compute as pc
from dupmon import staging, text_arrays
from dupmon.text_arrays import string_buffers

from tests.unit.test_columnar import ALPHABET, SECRET, STAGING_ROWS, staging_table

needs_module = pytest.mark.skipif(
    staging._cells is None, reason="dupmon._cells is not built: no C compiler at install"
)
# Each part of a cell is mostly one the pattern takes, sometimes one it
# does not: other dashes and spaces, digit runs of other lengths, digits of
# other scripts.
DASHES = (["-", "–", "—", "‐", "‑", "‒"], ["―", "−", "--", ""])
SPACES = (["", " ", "  ", "\t", "\n", "\f", "\r"], ["\v", "\u00a0"])
DAYS = (["1", "9", "01", "28", "29", "30", "31"], ["0", "00", "123", "٣", "1a", ""])
MONTHS = (["1", "2", "02", "9", "12"], ["0", "13", "00", "123", ""])
YEARS = (
    ["2024", "2000", "1900", "2023"],
    ["1000", "0999", "9999", "202", "20245", "２０２４", ""],
)
INSIDE = ["s1", "Б2", " ", "\t", "\n", "\v", "\u00a0", "(", ")", "a b", ";", ""]


def pick(rng: random.Random, choices: tuple[list[str], list[str]]) -> str:
    usual, odd = choices
    return rng.choice(usual if rng.random() < 0.9 else odd)


def random_date(rng: random.Random) -> str:
    return f"{pick(rng, DAYS)}.{pick(rng, MONTHS)}.{pick(rng, YEARS)}"


def random_cell(rng: random.Random) -> str:
    """A cell near the pattern: a range, maybe an account, maybe one change."""
    cell = (
        random_date(rng) + pick(rng, SPACES) + pick(rng, DASHES) + pick(rng, SPACES)
        + random_date(rng)
    )
    if rng.random() < 0.7:
        account = "".join(rng.choice(INSIDE) for _ in range(rng.randrange(0, 4)))
        cell += pick(rng, SPACES) + "(" + account + ")"
    if rng.random() < 0.2:
        # One character inserted, removed or replaced anywhere.
        at = rng.randrange(len(cell) + 1)
        piece = rng.choice([".", "(", ")", " ", "\n", "1", "x", "—", ";"])
        cut = rng.choice([0, 1])
        cell = cell[:at] + rng.choice([piece, ""]) + cell[at + cut :]
    return cell


def assert_same_as_pattern(text: pa.Array) -> dict[str, pa.Array]:
    compiled = staging._one_range(text)
    by_pattern = staging._one_range_by_pattern(text)
    assert compiled.keys() == by_pattern.keys()
    for name, column in by_pattern.items():
        assert compiled[name].type == column.type, name
        assert compiled[name].to_pylist() == column.to_pylist(), name
    return compiled


def test_compiled_module_built_with_compiler():
    if shutil.which("cc") is None:
        pytest.skip("no C compiler, so the module is not expected")
    assert staging._cells is not None


@needs_module
@pytest.mark.parametrize("seed", range(4))
def test_random_cells_match_pattern(seed):
    rng = random.Random(seed)
    text = pa.array([random_cell(rng) for _ in range(20_000)])

    compiled = assert_same_as_pattern(text)

    # The cells must reach every outcome: ranges with and without real
    # dates, with and without an account, and cells that are no range.
    valid = compiled["valid"].to_pylist()
    shown = compiled["shown"].to_pylist()
    accounts = compiled["account"].to_pylist()
    assert 2_000 < sum(valid) < 18_000
    assert sum(1 for v, s in zip(valid, shown) if s is not None and not v) > 500
    assert sum(1 for s in shown if s is None) > 2_000
    assert sum(1 for v, a in zip(valid, accounts) if v and a) > 500


@needs_module
def test_hand_made_cells_match_pattern():
    cells = [row[3] for row in STAGING_ROWS] + [
        "",
        "1.1.2024-2.2.2024",
        "1.1.2024-2.2.2024\n",
        "1.1.2024 -2.2.2024 ( a b \t)",
        "1.1.2024-2.2.2024 (   )",
        "1.1.2024-2.2.2024()",
        "1.1.2024-2.2.2024 (a\nb)",
        "1.1.2024-2.2.2024 (\u00a0x\u00a0)",
        "1.1.2024-2.2.2024 (x)) ",
        "1.1.2024-2.2.2024 ((x)",
        "1.1.2024-2.2.2024 x",
        "1.1.2024-2.2.2024 (",
        "1.1.2024-2.2.2024)",
        "1.1.2024\u2015 2.2.2024",
        "1.1.2024\u2014\u20142.2.2024",
        "29.02.2024-29.02.2023",
        "29.02.2000-29.02.1900",
        "31.12.9999-1.1.1000",
        "1.1.20245-2.2.2024",
        "1.1.2024-2.2.20245",
        "1.1.2024-2.2.2024\x00",
        "1.1.2024-2.2.2024 (\x00)",
    ]
    assert_same_as_pattern(pa.array(cells))


@needs_module
def test_dates_of_leap_and_common_years():
    # Days 0 to 32 of months 0 to 13, in years whose February differs.
    cells, expected = [], []
    for year in (1000, 1600, 1900, 2000, 2023, 2024, 2100, 9999):
        for month in range(14):
            for day in range(33):
                cells.append(f"{day}.{month}.{year}-{day:02d}.{month:02d}.{year}")
                try:
                    expected.append(dt.date(year, month, day))
                except ValueError:
                    expected.append(None)
    text = pa.array(cells)

    compiled = assert_same_as_pattern(text)

    assert compiled["start"].to_pylist() == expected
    assert compiled["end"].to_pylist() == expected
    assert compiled["valid"].to_pylist() == [date is not None for date in expected]


@needs_module
def test_sliced_large_and_empty_columns():
    rng = random.Random(7)
    text = pa.array([random_cell(rng) for _ in range(500)])

    assert_same_as_pattern(text.slice(123, 200))
    assert_same_as_pattern(pa.array([], pa.string()))
    # RE2's path has no kernel for the large type, so it reads the cells as
    # plain strings.
    large = staging._one_range(text.cast(pa.large_string()).slice(5, 300))
    plain = staging._one_range_by_pattern(text.slice(5, 300))
    assert {name: column.to_pylist() for name, column in large.items()} == {
        name: column.to_pylist() for name, column in plain.items()
    }


def test_nulls_go_to_pattern(monkeypatch):
    def reject(*args):
        raise AssertionError("the compiled module got a column with nulls")

    monkeypatch.setattr(staging, "_cells", type("Rejecting", (), {"one_range": reject}))
    ranges = staging._one_range(pa.array(["1.1.2024-2.2.2024 (s1)", None]))

    assert ranges["valid"].to_pylist() == [True, False]
    assert ranges["account"].to_pylist() == ["s1", ""]


@needs_module
def test_scannable_types():
    cells = pa.array(["1.1.2024-2.2.2024 (s1)", " x"])

    assert text_arrays.scannable(cells)
    assert text_arrays.scannable(cells.cast(pa.large_string()))
    # A view's buffers are laid out otherwise, so the module must not read them.
    assert not text_arrays.scannable(cells.cast(pa.string_view()))
    assert not text_arrays.scannable(cells.cast(pa.binary()))
    assert not text_arrays.scannable(pa.array(["a", None]))


@needs_module
def test_offsets_outside_data_rejected():
    offsets, data = string_buffers(pa.array(["1.1.2024-2.2.2024"]))
    beyond = offsets.copy()
    beyond[-1] = len(data) + 1

    with pytest.raises(ValueError, match="must lie within"):
        staging._cells.one_range(beyond, data)
    with pytest.raises(ValueError, match="64-bit integers"):
        staging._cells.one_range(offsets.astype(np.int32), data)


@pytest.mark.parametrize("way", ["compiled", "pattern"])
def test_stage_frame_same_either_way(way, monkeypatch):
    if way == "compiled" and staging._cells is None:
        pytest.skip("dupmon._cells is not built: no C compiler at install")
    if way == "pattern":
        monkeypatch.setattr(staging, "_cells", None)
    table = staging_table()

    staged = staging.stage_frame(table, "sha", SECRET)

    expected = [row for record in table.rows for row in staging.stage_row(record, "sha", SECRET)]
    assert staged.to_pylist() == pa.Table.from_pylist(
        expected, schema=staging.STAGED_SCHEMA
    ).to_pylist()


# --- untidy cells -------------------------------------------------------------

# Characters at and around the edges of the safe ranges, and above the
# Basic Multilingual Plane.
EDGES = [
    chr(code)
    for first, last in text_arrays.SAFE_RANGES
    for code in (first - 1, first, last, last + 1)
] + ["\x00", "\x7f", "\u0483", "\u0489", "\U0001f600", "\U0010ffff", "\ud7ff", "\ue000"]


def random_text(rng: random.Random, alphabet: list[str]) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 14)))


def untidy_by_pattern(cells: pa.Array) -> list[bool]:
    return pc.match_substring_regex(cells, text_arrays._UNTIDY).to_pylist()


@needs_module
@pytest.mark.parametrize("seed", range(3))
def test_untidy_matches_pattern(seed):
    rng = random.Random(seed)
    alphabet = ALPHABET + EDGES + [" ", " ", "  "]
    cells = pa.array([random_text(rng, alphabet) for _ in range(5_000)] + EDGES + ["", " ", "a"])

    marks = text_arrays._untidy(cells).to_pylist()

    assert marks == untidy_by_pattern(cells)
    assert 500 < sum(marks) < len(marks) - 500


@needs_module
def test_untidy_of_sliced_and_dictionary_columns():
    rng = random.Random(11)
    cells = pa.array([random_text(rng, ALPHABET) for _ in range(2_000)])

    assert text_arrays._untidy(cells.slice(300, 900)).to_pylist() == untidy_by_pattern(
        cells.slice(300, 900)
    )
    dictionary = cells.dictionary_encode().dictionary
    assert text_arrays._untidy(dictionary).to_pylist() == untidy_by_pattern(dictionary)


@needs_module
def test_untidy_marks_bytes_that_are_not_utf8():
    cells = [
        b"ok",
        b"\xff",
        b"a\xc3",
        b"\xc0\xaf",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"\xd0\xb0",
    ]
    offsets, data = string_buffers(pa.array(cells, pa.binary()))

    marks = staging._cells.untidy(offsets, data, text_arrays._SAFE_RANGE_WORDS)

    assert list(marks) == [0, 1, 1, 1, 1, 1, 0]


@needs_module
def test_untidy_rejects_odd_ranges():
    offsets, data = string_buffers(pa.array(["a"]))

    with pytest.raises(ValueError, match="pairs of 32-bit integers"):
        staging._cells.untidy(offsets, data, b"\x20\x00\x00\x00")


# untidy's quick path checks runs of tidy cells 32 bytes at a time. Its
# marks must equal the scalar check's on every run: characters at the edges
# of each safe range and just outside, bytes that are not UTF-8, and
# characters cut by the end of a cell.
UNTIDY_PIECES = [
    *(chr(code).encode() for first, last in text_arrays.SAFE_RANGES for code in (first, last)),
    *(chr(code).encode() for code in (0x1F, 0x7F, 0xAA, 0xAC, 0xBA, 0xBC, 0x3FF, 0x483, 0x489)),
    *(chr(code).encode() for code in (0x500, 0x200F, 0x2020, 0x2115, 0x2117, 0x1F600)),
    "№".encode(),
    "Ґ".encode(),
    b" ",
    b"  ",
    b"\x80",
    b"\xbf",
    b"\xc2",
    b"\xd0",
    b"\xd2",
    b"\xd3",
    b"\xe2",
    b"\xe2\x80",
    b"\xe2\x84",
    b"\xe2\x80\xa0",
    b"\xe2\x84\x95",
    b"\xc0\xaf",
    b"\xff",
]
TIDY_PIECES = [b"a", b"Z", b"1", b"-", "Я".encode(), "ё".encode(), "«".encode(), "»".encode()]
TIDY_PIECES += ["№".encode(), "—".encode(), "Ґ".encode(), "ӿ".encode(), b"a b"]


def untidy_both_ways(cells: list[bytes]) -> tuple[bytes, bytes]:
    """Return untidy's marks of the cells with the quick path, then without it."""
    offsets, data = string_buffers(pa.array(cells, pa.binary()))
    safe = text_arrays._SAFE_RANGE_WORDS
    return (
        staging._cells.untidy(offsets, data, safe, True),
        staging._cells.untidy(offsets, data, safe, False),
    )


@needs_module
@pytest.mark.parametrize("seed", range(3))
def test_untidy_quick_path_matches_scalar(seed):
    rng = random.Random(seed)
    wrong = []
    for _ in range(1_500):
        cells = []
        for _ in range(rng.randrange(1, 70)):
            cell = b"".join(rng.choice(TIDY_PIECES) for _ in range(rng.randrange(0, 30)))
            if rng.random() < 0.08:
                at = rng.randrange(len(cell) + 1)
                cell = cell[:at] + rng.choice(UNTIDY_PIECES) + cell[at:]
            cells.append(cell)
        quick, scalar = untidy_both_ways(cells)
        if quick != scalar:
            wrong.append(cells)
    assert wrong == []


@needs_module
def test_untidy_quick_path_edges():
    # Each piece at every place of a run of tidy cells that crosses two
    # blocks of 32 bytes, at the start or end of a cell or inside it, and
    # the pieces of a character split between two cells.
    tidy = [b"ab" * 3, "Ян".encode() * 2, b"", b"x" * 13, "«№»".encode()] * 3
    different = []
    for piece in UNTIDY_PIECES + TIDY_PIECES:
        for index in range(len(tidy)):
            for at in range(len(tidy[index]) + 1):
                cells = list(tidy)
                cells[index] = cells[index][:at] + piece + cells[index][at:]
                quick, scalar = untidy_both_ways(cells)
                if quick != scalar:
                    different.append((piece, index, at))
    unmarked = []
    for character in ("Я", "«", "№", "—"):
        encoded = character.encode()
        for cut in range(1, len(encoded)):
            cells = list(tidy)
            cells[3] += encoded[:cut]
            cells[4] = encoded[cut:] + cells[4]
            quick, scalar = untidy_both_ways(cells)
            if quick != scalar:
                different.append((character, cut))
            if not quick[3]:
                unmarked.append((character, cut))
    # A character cut by the end of a run that fills whole blocks, where
    # nothing follows it in the scan.
    for end in (b"\xd0", b"\xc2", b"\xe2", b"\xe2\x80", b"\xe2\x84"):
        for size in (32, 64):
            cells = [b"a" * 10, b"b" * (size - 10 - len(end)) + end]
            quick, scalar = untidy_both_ways(cells)
            if quick != scalar:
                different.append((end, size))
            if quick != b"\x00\x01":
                unmarked.append((end, size))

    assert different == []
    assert unmarked == []


@needs_module
def test_untidy_quick_path_every_character():
    # The quick path has the safe characters as byte rules, and the scalar
    # check takes them from the ranges given. Each character of the Basic
    # Multilingual Plane and some beyond, alone and between letters, is
    # marked alike.
    codes = [c for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF] + [0x10000, 0x1F600]
    cells = [chr(c).encode() for c in codes] + [b"a" + chr(c).encode() + b"b" for c in codes]

    quick, scalar = untidy_both_ways(cells)

    assert quick == scalar
    # Between letters, since a cell of one space is untidy for its edges.
    tidy = {codes[i] for i, mark in enumerate(quick[len(codes) :]) if not mark}
    assert tidy == {c for c in codes if chr(c) in text_arrays.SAFE_CHARS}


@needs_module
def test_untidy_quick_path_back_off():
    # Stretches with no, few and many untidy cells, so that the quick path
    # is skipped after failures and taken again after a tidy run.
    rng = random.Random(7)
    cells = []
    for density in [0, 0.5, 0, 0.02, 1, 0, 0.2, 0] * 40:
        for _ in range(rng.randrange(1, 400)):
            cell = "Фамилия Имя «№ 5»".encode()
            if rng.random() < density:
                cell += rng.choice(UNTIDY_PIECES)
            cells.append(cell)

    quick, scalar = untidy_both_ways(cells)

    assert quick == scalar
    assert 0 < sum(quick) < len(cells) // 2


@needs_module
def test_untidy_quick_path_narrow_safe_ranges():
    # With a narrower safe set the quick path would let Cyrillic through,
    # so it is not taken.
    ascii_only = np.array([(0x20, 0x7E)], dtype=np.uint32).tobytes()
    cells = ["Ромашка", "ok", "«a»"] * 20
    offsets, data = string_buffers(pa.array(cells))

    for vector in (True, False):
        marks = staging._cells.untidy(offsets, data, ascii_only, vector)
        assert list(marks) == [1, 0, 1] * 20
    with pytest.raises(TypeError, match="takes 3 or 4 arguments"):
        staging._cells.untidy(offsets, data, ascii_only, True, True)


def test_clean_up_same_without_module(monkeypatch):
    rng = random.Random(5)
    cells = pa.array([random_text(rng, ALPHABET + EDGES) for _ in range(3_000)])
    functions = (
        text_arrays.clean_display_array,
        text_arrays.lower_array,
        text_arrays.match_key_array,
    )
    with_module = [function(cells).to_pylist() for function in functions]

    monkeypatch.setattr(text_arrays, "_cells", None)

    assert [function(cells).to_pylist() for function in functions] == with_module


# --- UTF-8 of a whole export ------------------------------------------------------

# Characters of each length and byte strings that break each rule:
# overlong forms, surrogates, code points above U+10FFFF, bytes that never
# start a character, lone continuations and characters cut short.
UTF8_PIECES = [
    b"a",
    b";",
    "И".encode(),
    "я".encode(),
    "—".encode(),
    "\U0001f600".encode(),
    "\ud7ff".encode(),
    "\ue000".encode(),
    "\u0800".encode(),
    "\U00010000".encode(),
    "\U0010ffff".encode(),
    b"\xc0\x80",
    b"\xc1\xbf",
    b"\xe0\x9f\xbf",
    b"\xed\xa0\x80",
    b"\xed\xbf\xbf",
    b"\xf0\x8f\xbf\xbf",
    b"\xf4\x90\x80\x80",
    b"\xf5\x80\x80\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\xfe",
    b"\xff",
    b"\x80",
    b"\xbf",
    b"\xc3",
    b"\xe2\x82",
    b"\xf0\x9f\x98",
]
# Each byte string is checked both ways: 32 bytes at a time where the
# machine can, and one character at a time.
UTF8_WAYS = [True, False]


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@needs_module
@pytest.mark.parametrize("seed", range(3))
def test_utf8_valid_matches_decoder(seed):
    rng = random.Random(seed)
    wrong = []
    for _ in range(20_000):
        if rng.random() < 0.5:
            data = b"".join(rng.choice(UTF8_PIECES) for _ in range(rng.randrange(40)))
        else:
            data = bytes(
                rng.randrange(256) if rng.random() < 0.3 else rng.choice(b"a\xd0\x98\x80\xe2")
                for _ in range(rng.randrange(100))
            )
        start = rng.randrange(len(data) + 1)
        for vector in UTF8_WAYS:
            if staging._cells.utf8_valid(data, start, vector) != is_utf8(data[start:]):
                wrong.append((data[start:], vector))
    assert wrong == []


@needs_module
def test_utf8_valid_at_block_edges():
    # Every lead byte with every second byte, and the three- and four-byte
    # forms near their limits, placed so that they cross the end of a block
    # of 32 bytes at each point, after ASCII and after Cyrillic text.
    sequences = [bytes([lead, second]) for lead in range(0xC0, 0x100) for second in range(256)]
    sequences += [
        bytes([lead, second, third, fourth])
        for lead in range(0xE0, 0xF8)
        for second in range(0x7F, 0xC1)
        for third in (0x41, 0x80, 0xBF, 0xC0)
        for fourth in (0x41, 0x80, 0xBF)
    ]
    wrong = []
    for sequence in sequences:
        for before in (b"x" * 29, b"x" * 31, "Я".encode() * 15, "Я".encode() * 15 + b"x"):
            for after in (b"", b"y", b"y" * 40):
                data = before + sequence + after
                for vector in UTF8_WAYS:
                    if staging._cells.utf8_valid(data, 0, vector) != is_utf8(data):
                        wrong.append((data, vector))
    assert wrong == []


@needs_module
def test_utf8_valid_long_text_and_buffers(tmp_path):
    text = ("1;УО;Школа № 1 «Ромашка»;2.09.2024—1.10.2024\n" * 5_000).encode()
    path = tmp_path / "export.csv"
    path.write_bytes(text + b"\xd0")

    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        for vector in UTF8_WAYS:
            assert staging._cells.utf8_valid(text, 0, vector)
            assert staging._cells.utf8_valid(memoryview(text)[7:], 0, vector)
            assert staging._cells.utf8_valid(mapped, len(mapped) - 1, vector) is False
            assert staging._cells.utf8_valid(mapped, len(mapped), vector)
            assert staging._cells.utf8_valid(b"", 0, vector)
            # A bad byte in the last block, and one in the first, both found.
            assert not staging._cells.utf8_valid(text[:-1] + b"\xff", 0, vector)
            assert not staging._cells.utf8_valid(b"\xff" + text, 0, vector)


@needs_module
def test_utf8_valid_rejects_bad_arguments():
    with pytest.raises(ValueError, match="invalid start 4: it must be 0 to the 3 bytes"):
        staging._cells.utf8_valid(b"abc", 4, True)
    with pytest.raises(ValueError, match="invalid start -1"):
        staging._cells.utf8_valid(b"abc", -1, True)
    with pytest.raises(TypeError, match="takes 3 arguments"):
        staging._cells.utf8_valid(b"abc", 0)
    with pytest.raises(TypeError):
        staging._cells.utf8_valid("abc", 0, True)
    with pytest.raises(TypeError, match="cannot be interpreted as an integer"):
        staging._cells.utf8_valid(b"abc", 1.0, True)
    assert staging._cells.utf8_valid(b"\xffabc", np.int64(1), True)


def test_utf8_vector_used_where_built():
    cpuinfo = Path("/proc/cpuinfo")
    if staging._cells is None or platform.machine() != "x86_64" or not cpuinfo.exists():
        pytest.skip("the vector check is built for x86-64 only, and read here from Linux")
    assert staging._cells.UTF8_VECTOR == (" avx2" in cpuinfo.read_text())


def lines_by_counting(data: bytes) -> int:
    if not data:
        return 0
    breaks = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
    return breaks + (0 if data.endswith((b"\n", b"\r")) else 1)


@needs_module
@pytest.mark.parametrize("seed", range(2))
def test_line_count_matches_bytes_count(seed):
    # Line ends are dense, so that CR LF pairs straddle each 32-byte block.
    rng = random.Random(seed)
    wrong = []
    for _ in range(20_000):
        data = bytes(rng.choice(b"\r\n;a\xd0") for _ in range(rng.randrange(120)))
        start = rng.randrange(len(data) + 1)
        for vector in UTF8_WAYS:
            if staging._cells.line_count(data, start, vector) != lines_by_counting(data[start:]):
                wrong.append((data[start:], vector))
    assert wrong == []


@needs_module
def test_line_count_of_buffers(tmp_path):
    text = '1;УО;Школа № 1;2.09.2024—1.10.2024\r\n2;УО;"две\rстроки";x\n'.encode() * 3_000
    path = tmp_path / "export.csv"
    path.write_bytes(text + b"3;tail")
    with (
        path.open("rb") as handle,
        mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped,
    ):
        for vector in UTF8_WAYS:
            assert staging._cells.line_count(mapped, 0, vector) == 9_001
            assert staging._cells.line_count(memoryview(text)[1:], 0, vector) == 9_000
            assert staging._cells.line_count(text, len(text), vector) == 0
    with pytest.raises(ValueError, match="invalid start 4: it must be 0 to the 3 bytes"):
        staging._cells.line_count(b"abc", 4, True)
    with pytest.raises(TypeError, match="takes 3 arguments"):
        staging._cells.line_count(b"abc", 0)
