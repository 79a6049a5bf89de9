"""Column-at-a-time forms of ``dupmon.text``, for tables of a million cells.

Each function gives, cell by cell, exactly what its scalar twin in
``dupmon.text`` returns. Cells made only of the characters in ``SAFE_CHARS``
take the vectorised path with pyarrow compute. On those characters, its RE2
regular expressions and Unicode tables agree with Python's, and the tests
check this character by character. Every other cell is passed to the scalar
function, so rare characters cost time, never correctness.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dupmon.text import clean_display, match_key

try:
    # Compiled from _cells.c at install when a C compiler is present.
    from dupmon import _cells
except ImportError:
    _cells = None

# Printable ASCII and the space, the Cyrillic block without its combining
# marks (U+0483-U+0489), «», №, the dashes and the typographic quotes. NFC
# leaves each of them unchanged, and Python's str.lower and utf8_lower
# agree on them.
SAFE_RANGES = (
    (0x20, 0x7E),
    (0x400, 0x482),
    (0x48A, 0x4FF),
    (0xAB, 0xAB),
    (0xBB, 0xBB),
    (0x2010, 0x201F),
    (0x2116, 0x2116),
)
SAFE_CHARS = frozenset(chr(c) for first, last in SAFE_RANGES for c in range(first, last + 1))
_SAFE_CLASS = "".join(
    f"\\x{{{first:x}}}" if first == last else f"\\x{{{first:x}}}-\\x{{{last:x}}}"
    for first, last in SAFE_RANGES
)
_UNSAFE_CHAR = f"[^{_SAFE_CLASS}]"
_UNTIDY = f"{_UNSAFE_CHAR}|  |^ | $"
# SAFE_RANGES as dupmon._cells.untidy takes them. The quick path of untidy
# takes exactly these characters (PLAIN_RANGES in _cells.c), and is not
# taken when the ranges it is given leave out any of them.
_SAFE_RANGE_WORDS = np.array(SAFE_RANGES, dtype=np.uint32).tobytes()
# Columns this long are sampled for how many distinct values they have.
_DISTINCT_MIN_ROWS = 50_000
_DISTINCT_SAMPLE = 10_000
# A word that has a Cyrillic letter and a Latin look-alike, which match_key
# folds word by word (see dupmon.text._LATIN_LOOKALIKES).
_MIXED_WORD = "[а-яё][^ ]*[aceopxykmthb]|[aceopxykmthb][^ ]*[а-яё]"
_FOLDED = f"ё|[\"'«»„“”‟‘’`№]| -|- |[‐‑‒–—―]|{_MIXED_WORD}"


def one_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Return the values as one array, taking a single chunk as it is.

    ``ChunkedArray.combine_chunks`` copies even a single chunk.
    """
    if not isinstance(values, pa.ChunkedArray):
        return values
    return values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()


def scannable(values: pa.Array) -> bool:
    """Tell whether the compiled ``dupmon._cells`` can scan a column.

    It reads string or large_string arrays without nulls.
    """
    plain = pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
    return _cells is not None and plain and not values.null_count


def string_buffers(values: pa.Array) -> tuple[np.ndarray, pa.Buffer | bytes]:
    """Return the int64 offsets and the data buffer of a string or binary array.

    dupmon's C modules read them so, whatever the width of the array's own
    offsets.
    """
    large = pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64 if large else np.int32)
    offsets = offsets[values.offset : values.offset + len(values) + 1]
    data = values.buffers()[2]
    # The modules read the offsets as aligned 64-bit integers. An array built
    # from foreign buffers may have them unaligned, so those are copied.
    offsets = np.require(offsets.astype(np.int64, copy=False), requirements=["A", "C"])
    return offsets, data if data is not None else b""


def as_strings(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Return the values as one string array with nulls turned into ``""``."""
    values = one_array(values)
    if values.type != pa.string():
        values = values.cast(pa.string())
    return pc.fill_null(values, "")


def clean_display_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Return ``clean_display`` of every cell; nulls become ``""``."""

    def clean(cells: pa.Array) -> pa.Array:
        return _patch_from(cells, cells, _untidy(cells), clean_display)

    return _by_distinct(as_strings(values), clean)


def lower_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Return ``clean_display(cell).lower()`` of every cell."""

    def lower(cells: pa.Array) -> pa.Array:
        return _patch_from(pc.utf8_lower(cells), cells, _untidy(cells), _clean_lower)

    return _by_distinct(as_strings(values), lower)


def match_key_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Return ``match_key`` of every cell; nulls become ``""``."""

    def key(cells: pa.Array) -> pa.Array:
        # A tidy cell of safe characters needs only lower case, unless it
        # has one of the things match_key folds: ё, quotes, №, a dash other
        # than a bare hyphen, or a word mixing Cyrillic and Latin letters.
        # The check runs before lower case, which would hide a character
        # such as «İ» that Python lowers differently.
        special = pc.or_(
            _untidy(cells), pc.match_substring_regex(cells, _FOLDED, ignore_case=True)
        )
        return _patch_from(pc.utf8_lower(cells), cells, special, match_key)

    return _by_distinct(as_strings(values), key)


def _clean_lower(value: str) -> str:
    return clean_display(value).lower()


def _untidy(cells: pa.Array) -> pa.Array:
    """Mark the cells with a character outside the safe set, two spaces in a row
    or a space at either end: those go to the scalar function.

    The compiled ``dupmon._cells`` scans the cells. Without it, or for
    another type or nulls, RE2 runs ``_UNTIDY``.
    """
    if not scannable(cells):
        return pc.match_substring_regex(cells, _UNTIDY)
    marks = _cells.untidy(*string_buffers(cells), _SAFE_RANGE_WORDS)
    return pa.array(np.frombuffer(marks, dtype=np.uint8).view(bool))


def _by_distinct(values: pa.Array, transform) -> pa.Array:
    """Apply ``transform`` to the distinct values only, when a sample shows few of them.

    Columns such as municipalities repeat a few dozen names over a million
    rows, and encoding them costs less than one regular expression pass.
    """
    if len(values) >= _DISTINCT_MIN_ROWS:
        sample = values.slice(0, _DISTINCT_SAMPLE)
        if pc.count_distinct(sample).as_py() * 10 < len(sample):
            encoded = values.dictionary_encode()
            transformed = transform(encoded.dictionary)
            # A transform that changed no value returns its input, and then
            # the column needs no copy.
            if transformed is encoded.dictionary:
                return values
            return transformed.take(encoded.indices)
    return transform(values)


def _patch_from(result: pa.Array, source: pa.Array, mask: pa.Array, function) -> pa.Array:
    """Replace the masked cells of ``result`` by ``function`` of the same cells of ``source``.

    ``function`` runs once per distinct value among the masked cells.
    """
    if not pc.any(mask).as_py():
        return result
    positions = pa.array(np.flatnonzero(mask.to_numpy(zero_copy_only=False)))
    encoded = source.take(positions).dictionary_encode()
    distinct = pa.array([function(value) for value in encoded.dictionary.to_pylist()], pa.string())
    return pc.replace_with_mask(result, mask, distinct.take(encoded.indices))
