"""dupmon.lookup.index_in against pyarrow's index_in, with and without the compiled module."""

from __future__ import annotations

import random
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from dupmon import lookup
from dupmon.text_arrays import string_buffers


@pytest.fixture(params=["compiled", "pyarrow"])
def way(request, monkeypatch):
    """Run a test once with the compiled module and once without it."""
    if request.param == "compiled" and lookup._lookup is None:
        pytest.skip("dupmon._lookup is not built: no C compiler at install")
    if request.param == "pyarrow":
        monkeypatch.setattr(lookup, "_lookup", None)
    return request.param


def expected(values, value_set) -> list[int]:
    positions = pc.index_in(values, value_set=value_set)
    return pc.fill_null(positions, -1).to_pylist()


def random_strings(rng: random.Random, count: int, alphabet: str, max_length: int) -> list[str]:
    return ["".join(rng.choices(alphabet, k=rng.randint(0, max_length))) for _ in range(count)]


def test_compiled_module_built_with_compiler():
    if shutil.which("cc") is None:
        pytest.skip("no C compiler, so the module is not expected")
    assert lookup._lookup is not None


@pytest.mark.parametrize("seed", range(5))
def test_random_strings_match_pyarrow(way, seed):
    rng = random.Random(seed)
    # A small alphabet and short strings give many repeats, empty strings
    # and strings that differ in one byte.
    alphabet = "ab€д\x00"
    value_set = pa.array(random_strings(rng, 3000, alphabet, 11))
    values = pa.array(random_strings(rng, 5000, alphabet, 11))

    positions = lookup.index_in(values, value_set)

    assert positions.dtype == np.int64
    assert positions.tolist() == expected(values, value_set)


def test_first_occurrence_wins(way):
    value_set = pa.array(["x", "y", "x", "z", "y"])

    assert lookup.index_in(pa.array(["y", "x", "z", "w"]), value_set).tolist() == [1, 0, 3, -1]


def test_keyed_hash_lengths(way):
    rng = random.Random(7)
    hashes = ["".join(rng.choices("0123456789abcdef", k=64)) for _ in range(20000)]
    # Same prefixes, other endings: each pair differs in its last character only.
    near = [h[:-1] + ("0" if h[-1] != "0" else "1") for h in hashes[:2000]]
    value_set = pa.array(hashes)
    values = pa.array(near + hashes[::-1] + [h[:12] for h in hashes[:100]])

    assert lookup.index_in(values, value_set).tolist() == expected(values, value_set)


@pytest.mark.parametrize("length", [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 200])
def test_string_lengths_around_words(way, length):
    # The hash reads eight bytes at a time, then the rest.
    base = "q" * length
    variants = [base, base + "r", base[:-1] + "r" if length else "r", "r" + base]
    value_set = pa.array(variants[:2])
    values = pa.array(variants)

    assert lookup.index_in(values, value_set).tolist() == expected(values, value_set)


def test_empty_inputs(way):
    empty = pa.array([], pa.string())
    some = pa.array(["a", ""])

    assert lookup.index_in(empty, some).tolist() == []
    assert lookup.index_in(some, empty).tolist() == [-1, -1]
    assert lookup.index_in(pa.array(["", "", "a"]), pa.array(["a", ""])).tolist() == [1, 1, 0]


def test_sliced_and_chunked_arrays(way):
    value_set = pa.chunked_array([["a", "b"], ["c", "a"], ["d"]])
    values = pa.array(["zz", "d", "c", "b", "a", "zz"]).slice(1, 4)
    chunked_values = pa.chunked_array([["d", "c"], [], ["b", "a"]])
    sliced_set = pa.array(["x", "a", "b", "c", "d"]).slice(1)

    assert lookup.index_in(values, value_set).tolist() == [4, 2, 1, 0]
    assert lookup.index_in(chunked_values, value_set).tolist() == [4, 2, 1, 0]
    assert lookup.index_in(values, sliced_set).tolist() == [3, 2, 1, 0]


@pytest.mark.parametrize("arrow_type", [pa.large_string(), pa.binary(), pa.large_binary()])
def test_other_string_types(way, arrow_type):
    value_set = pa.array(["a", "bb", "ccc"]).cast(arrow_type)
    values = pa.array(["ccc", "a", "d"]).cast(arrow_type)

    assert lookup.index_in(values, value_set).tolist() == [2, 0, -1]


def unaligned_large_strings(values: list[str]) -> pa.Array:
    """Build a large_string array whose offsets start 4 bytes past an aligned address."""
    data = "".join(values).encode()
    offsets = np.cumsum([0] + [len(v.encode()) for v in values]).astype(np.int64)
    shifted = bytearray(4) + bytearray(offsets.tobytes())
    return pa.LargeStringArray.from_buffers(
        len(values), pa.py_buffer(memoryview(shifted)[4:]), pa.py_buffer(data)
    )


def test_unaligned_offsets(way):
    values = unaligned_large_strings(["b", "zz", "a"])
    value_set = pa.array(["a", "b"], pa.large_string())

    assert values.buffers()[1].address % 8 != 0
    assert lookup.index_in(values, value_set).tolist() == [1, -1, 0]


def test_nulls_as_in_pyarrow(way):
    value_set = pa.array(["a", None, "b"])
    values = pa.array([None, "b", "c"])

    assert lookup.index_in(values, value_set).tolist() == [1, 2, -1]
    assert lookup.index_in(values, pa.array(["b"])).tolist() == [-1, 0, -1]


def test_is_in(way):
    assert lookup.is_in(pa.array(["a", "b"]), pa.array(["b"])).tolist() == [False, True]


def test_other_types_through_pyarrow(way):
    assert lookup.index_in(pa.array([3, 1, 5]), pa.array([1, 2, 3])).tolist() == [2, 0, -1]
    mixed = lookup.index_in(pa.array(["b", "c"]), pa.array(["a", "b"]).cast(pa.large_string()))
    assert mixed.tolist() == [1, -1]


def bounds(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((bounds(0, 4), b"abc", bounds(0, 1), b"a", 0), "string 0 of the values: invalid offsets"),
        ((bounds(0, 1), b"abc", bounds(2, 1), b"abc", 0), "string 0 of the set: invalid offsets"),
        ((bounds(-1, 1), b"abc", bounds(0, 1), b"a", 0), "invalid offsets -1 to 1"),
        ((bounds(), b"abc", bounds(0, 1), b"a", 0), "must hold at least one integer"),
        (
            (np.array([0, 1], dtype=np.int32), b"a", bounds(0, 1), b"a", 0),
            "must be a one-dimensional array of 64-bit integers",
        ),
    ],
)
def test_compiled_module_checks_arguments(arguments, message):
    if lookup._lookup is None:
        pytest.skip("dupmon._lookup is not built: no C compiler at install")

    with pytest.raises(ValueError, match=message):
        lookup._lookup.index_in(*arguments)


def test_compiled_module_any_seed():
    if lookup._lookup is None:
        pytest.skip("dupmon._lookup is not built: no C compiler at install")
    arguments = (bounds(0, 1, 3, 3), b"abc", bounds(0, 2, 3), b"bcx")

    for seed in (0, 1, 2**63, 2**64 - 1):
        found = np.frombuffer(lookup._lookup.index_in(*arguments, seed), dtype=np.int64)
        assert found.tolist() == [-1, 0, -1]


@pytest.mark.parametrize("hash_bits", [0, 1, 3, 64])
def test_strings_sharing_hash(hash_bits):
    # With few hash bits, strings that differ share a hash. The lookup's first
    # pass then finds another string's slot, and the comparison must go on.
    if lookup._lookup is None:
        pytest.skip("dupmon._lookup is not built: no C compiler at install")
    rng = random.Random(hash_bits)
    value_set = pa.array(random_strings(rng, 400, "abc", 4))
    values = pa.array(random_strings(rng, 600, "abcd", 4))

    found = lookup._lookup.index_in(
        *string_buffers(values), *string_buffers(value_set), 12345, hash_bits
    )

    assert np.frombuffer(found, dtype=np.int64).tolist() == expected(values, value_set)


@pytest.mark.parametrize("hash_bits", [-1, 65])
def test_compiled_module_checks_hash_bits(hash_bits):
    if lookup._lookup is None:
        pytest.skip("dupmon._lookup is not built: no C compiler at install")
    arguments = (bounds(0, 1), b"a", bounds(0, 1), b"a", 0, hash_bits)

    with pytest.raises(ValueError, match="hash_bits must be from 0 to 64"):
        lookup._lookup.index_in(*arguments)


def test_set_larger_than_prefetch_distance(way):
    # The loops prefetch 16 rows ahead, so lengths around that and far past
    # it take every branch of those loops.
    rng = random.Random(11)
    for count in (15, 16, 17, 33, 5000):
        value_set = pa.array(random_strings(rng, count, "xyz", 6))
        values = pa.array(random_strings(rng, count + 3, "xyz", 6))

        assert lookup.index_in(values, value_set).tolist() == expected(values, value_set)


@pytest.mark.parametrize("seed", range(3))
def test_first_occurrence_codes_match_factorize(way, seed):
    rng = random.Random(seed)
    strings = random_strings(rng, 4000, "ab€", 5)
    strings[7] = strings[300] = None
    values = pa.chunked_array([strings[:1000], strings[1000:]])
    expected_codes, _ = pd.factorize(np.array(strings, dtype=object), use_na_sentinel=False)

    codes, first_rows = lookup.first_occurrence_codes(values)

    assert codes.tolist() == expected_codes.tolist()
    assert first_rows.tolist() == np.unique(expected_codes, return_index=True)[1].tolist()


def test_first_occurrence_codes_empty():
    codes, first_rows = lookup.first_occurrence_codes(pa.array([], pa.string()))

    assert codes.tolist() == []
    assert first_rows.tolist() == []
