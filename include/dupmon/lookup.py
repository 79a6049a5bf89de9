"""Positions of strings in a set of strings, for columns of a million keyed hashes.

``index_in`` returns what ``pyarrow.compute.index_in`` returns, as a numpy
array with -1 for a value not in the set. The compiled ``dupmon._lookup``
builds a hash table of 16 bytes per slot that points into the Arrow
buffers, where pyarrow copies every string of the set. For a million
64-character hashes in one process, pyarrow's lookup took 0.6 to 0.8 s after
a 5 s pause on the benchmark machine, most of it system time for fresh
memory. Without the compiled module, or for values with nulls, pyarrow
does the lookup.
"""

from __future__ import annotations

import secrets

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dupmon.text_arrays import one_array, string_buffers

try:
    # Compiled from _lookup.c at install when a C compiler is present.
    from dupmon import _lookup
except ImportError:
    _lookup = None


def index_in(
    values: pa.Array | pa.ChunkedArray, value_set: pa.Array | pa.ChunkedArray
) -> np.ndarray:
    """Return the position of each value's first occurrence in ``value_set``, or -1.

    A null value matches a null in the set, as in ``pyarrow.compute.index_in``.
    The compiled module takes string and binary columns of one type without
    nulls, and pyarrow the others.
    """
    values, value_set = one_array(values), one_array(value_set)
    if not len(values) or not len(value_set):
        return np.full(len(values), -1, dtype=np.int64)
    if (
        _lookup is None
        or values.null_count
        or value_set.null_count
        or values.type != value_set.type
        or not _is_text(values.type)
    ):
        positions = pc.index_in(values, value_set=value_set)
        return np.asarray(pc.fill_null(positions, -1), dtype=np.int64)
    found = _lookup.index_in(
        *string_buffers(values), *string_buffers(value_set), secrets.randbits(64)
    )
    return np.frombuffer(found, dtype=np.int64)


def is_in(values: pa.Array | pa.ChunkedArray, value_set: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Return whether each value occurs in ``value_set``, as a numpy bool array."""
    return index_in(values, value_set) >= 0


def first_occurrence_codes(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Number the distinct values 0, 1, … in the order of their first appearance.

    Returns the code of every value and the position of each code's first
    value, as ``pandas.factorize`` and ``numpy.unique(return_index=True)``
    would give them, but with a null numbered like any other value. On a
    million keyed hashes this took 0.08 s on the benchmark machine, where
    ``pandas.factorize`` took 0.24 to 0.6 s.
    """
    positions = index_in(values, values)
    is_first = positions == np.arange(len(positions))
    first_rows = np.flatnonzero(is_first)
    codes = np.cumsum(is_first) - 1
    return codes[positions].astype(np.intp, copy=False), first_rows


def _is_text(arrow_type: pa.DataType) -> bool:
    return (
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_binary(arrow_type)
        or pa.types.is_large_binary(arrow_type)
    )

