"""Keyed hashes (BLAKE2b-256 in its keyed mode) that replace the pupils' personal data.

The secret never lives in the data root, so the snapshots alone cannot be
turned back into people (152-ФЗ: depersonalised data is not stored with the
key that reverses it).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from dupmon.errors import ConfigError

try:
    # Compiled from _blake2b.c at install when a C compiler is present.
    from dupmon import _blake2b
except ImportError:
    _blake2b = None

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

MIN_SECRET_LENGTH = 32
DIGEST_BYTES = 32
# An Arrow string array addresses its text with 32-bit offsets.
MAX_HEX_HASHES = (2**31 - 1) // (2 * DIGEST_BYTES)
# Minimum rows per thread in joined_hex_hashes. For fewer rows, starting a
# thread costs about as much as it saves.
MIN_ROWS_PER_THREAD = 50_000


def load_secret(secret: str | None, secret_file: Path, data_dir: Path) -> bytes:
    """Return the pair-key secret: the given one, else the one kept in ``secret_file``.

    Creates ``secret_file`` (mode 0600) with a new random secret the first
    time, and logs where. Raises ConfigError for a secret that is too short
    or a secret file inside the data root.
    """
    if secret:
        if len(secret) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"the pair-key secret is {len(secret)} characters long; "
                f"use at least {MIN_SECRET_LENGTH}, for example the output of "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`"
            )
        return secret.encode("utf-8")

    secret_file = secret_file.expanduser().resolve()
    if secret_file.is_relative_to(data_dir.resolve()):
        raise ConfigError(
            f"the secret file {secret_file} is inside the data root {data_dir}; "
            "keep the key apart from the data it depersonalises (set DUPMON_SECRET_FILE)"
        )
    if secret_file.exists():
        value = secret_file.read_text(encoding="utf-8").strip()
        if len(value) < MIN_SECRET_LENGTH:
            raise ConfigError(f"the secret file {secret_file} contains a secret that is too short")
        return value.encode("utf-8")

    secret_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_hex(32)
    descriptor = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    log.warning(
        "Created a new pair-key secret in %s (readable by its owner only). Back it up: "
        "pairs of later monitoring dates match earlier ones only under the same secret.",
        secret_file,
    )
    return value.encode("utf-8")


def _key(secret: bytes) -> bytes:
    # BLAKE2b takes a key of up to 64 bytes (RFC 7693, section 2.5), so a
    # longer secret is hashed down to 64 bytes first, as HMAC does.
    return secret if len(secret) <= 64 else hashlib.blake2b(secret, digest_size=64).digest()


def _keyed_state(key: bytes) -> hashlib.blake2b:
    return hashlib.blake2b(key=key, digest_size=DIGEST_BYTES)


def keyed_hash(secret: bytes, *parts: str) -> str:
    """Return the hex keyed BLAKE2b-256 of the parts joined by a unit separator."""
    state = _keyed_state(_key(secret))
    state.update("\x1f".join(parts).encode("utf-8"))
    return state.hexdigest()


def keyed_hashes(secret: bytes, kind: str, *columns: pa.Array) -> pa.Array:
    """Return ``keyed_hash(secret, kind, *parts)`` for each row of the string columns.

    A row with a null or empty part gets null.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    valid = None
    for column in columns:
        filled = pc.and_(pc.is_valid(column), pc.not_equal(column, ""))
        valid = filled if valid is None else pc.and_(valid, filled)
    valid = pc.fill_null(valid, False)
    if not pc.all(valid).as_py():
        columns = [column.filter(valid) for column in columns]

    dense = joined_hex_hashes(secret, kind, columns)
    if len(dense) == len(valid):
        return dense
    return pc.replace_with_mask(pa.nulls(len(valid), pa.string()), valid, dense)


def hex_hashes(secret: bytes, messages: pa.Array | pa.ChunkedArray) -> pa.StringArray:
    """Return the hex keyed BLAKE2b-256 of each message, as ``keyed_hash`` writes it.

    A message made of the kind and the parts joined by ``"\x1f"`` gets
    ``keyed_hash(secret, kind, *parts)``.
    """
    import numpy as np
    import pyarrow as pa

    if len(messages) > MAX_HEX_HASHES:
        raise ValueError(
            f"{len(messages)} messages are too many to hash at once: their hex hashes would "
            f"not fit one Arrow string array; hash at most {MAX_HEX_HASHES} at a time"
        )
    digests = keyed_digests(secret, messages)
    # One hex string for all digests, cut into 64-character cells, is much
    # faster than a million Python strings.
    text = digests.hex().encode("ascii")
    offsets = np.arange(0, len(text) + 1, 2 * DIGEST_BYTES, dtype=np.int32)
    return pa.StringArray.from_buffers(len(messages), pa.py_buffer(offsets), pa.py_buffer(text))


def joined_hex_hashes(
    secret: bytes,
    kind: str,
    parts: Sequence[pa.Array | pa.ChunkedArray],
    ordered_pair: int | None = None,
    threads: int = 1,
) -> pa.StringArray:
    """Return ``keyed_hash(secret, kind, *row)`` for each row of the string columns ``parts``.

    With ``ordered_pair`` i, the values of parts i and i + 1 of each row go
    in byte order first, the smaller one first, so that a pair hashes the
    same whichever way round it is given. The compiled ``dupmon._blake2b``
    builds each message in a small buffer and writes the hex digest, where
    joining the columns with pyarrow first takes memory of several times
    their size. It releases the interpreter lock, so with ``threads`` above
    1 it hashes ranges of rows side by side, at least
    ``MIN_ROWS_PER_THREAD`` rows each. Without the module, pyarrow joins the
    columns in one thread. Raises ValueError for a part with nulls or with
    another number of rows than the first.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from dupmon.text_arrays import one_array

    parts = [one_array(part) for part in parts]
    rows = len(parts[0])
    if rows > MAX_HEX_HASHES:
        raise ValueError(
            f"{rows} messages are too many to hash at once: their hex hashes would "
            f"not fit one Arrow string array; hash at most {MAX_HEX_HASHES} at a time"
        )
    for number, part in enumerate(parts):
        if part.null_count:
            raise ValueError(f"part {number} of the messages to hash has {part.null_count} nulls")
        # Checked here because each thread gets a slice of the first part's
        # rows, which would cut a longer part short.
        if len(part) != rows:
            raise ValueError(f"part {number} has {len(part)} rows, part 0 has {rows}")
    if _blake2b is None:
        # pyarrow joins only columns of the kind's type, string.
        parts = [
            part.cast(pa.string()) if pa.types.is_large_string(part.type) else part
            for part in parts
        ]
        if ordered_pair is not None:
            first, second = parts[ordered_pair], parts[ordered_pair + 1]
            parts[ordered_pair] = pc.min_element_wise(first, second)
            parts[ordered_pair + 1] = pc.max_element_wise(first, second)
        return hex_hashes(secret, pc.binary_join_element_wise(pa.scalar(kind), *parts, "\x1f"))
    columns = []
    for part in parts:
        column = part.cast(pa.large_binary())
        offsets = np.frombuffer(column.buffers()[1], dtype=np.int64)
        offsets = offsets[column.offset : column.offset + len(column) + 1]
        # An array built from foreign buffers may have unaligned offsets,
        # which the module rejects, so those are copied.
        offsets = np.require(offsets, requirements=["A", "C"])
        data = column.buffers()[2]
        columns.append((offsets, data if data is not None else b""))

    def hash_rows(start: int, stop: int) -> bytes:
        # The offsets are positions in the whole data buffer, so a slice of
        # them selects the rows from start to stop.
        return _blake2b.keyed_joined_hex(
            _key(secret),
            DIGEST_BYTES,
            kind.encode("utf-8"),
            b"\x1f",
            [(offsets[start : stop + 1], data) for offsets, data in columns],
            -1 if ordered_pair is None else ordered_pair,
        )

    count = max(1, min(threads, rows // MIN_ROWS_PER_THREAD))
    bounds = [rows * number // count for number in range(count + 1)]
    if count == 1:
        text = hash_rows(0, rows)
    else:
        with ThreadPoolExecutor(max_workers=count, thread_name_prefix="dupmon-hash") as pool:
            text = b"".join(pool.map(hash_rows, bounds[:-1], bounds[1:]))
    offsets = np.arange(0, len(text) + 1, 2 * DIGEST_BYTES, dtype=np.int32)
    return pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(text))


def keyed_digests(secret: bytes, messages: pa.Array | pa.ChunkedArray) -> bytes:
    """Return the keyed BLAKE2b-256 digest of each message, back to back.

    The compiled ``dupmon._blake2b`` hashes a whole column in one call.
    Without it, the keyed state is set up once and copied per message, the
    cheapest way to hash a million short messages with hashlib.
    """
    import pyarrow as pa

    if messages.null_count:
        raise ValueError(f"{messages.null_count} of the messages to hash are null")
    chunks = messages.chunks if isinstance(messages, pa.ChunkedArray) else [messages]
    key = _key(secret)
    return b"".join(_chunk_digests(key, chunk) for chunk in chunks if len(chunk))


def _chunk_digests(key: bytes, messages: pa.Array) -> bytes:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    lengths = pc.binary_length(messages)
    # The compiled module takes no empty message, which no caller here has.
    if _blake2b is not None and pc.min(lengths).as_py() > 0:
        column = messages.cast(pa.large_binary())
        offsets_buffer, data = column.buffers()[1:3]
        offsets = np.frombuffer(offsets_buffer, dtype=np.int64)
        offsets = offsets[column.offset : column.offset + len(column) + 1]
        return _blake2b.keyed_digests(key, DIGEST_BYTES, offsets, data)
    keyed = _keyed_state(key)
    digests = []
    append = digests.append
    for message in messages.cast(pa.binary()).to_pylist():
        state = keyed.copy()
        state.update(message)
        append(state.digest())
    return b"".join(digests)
