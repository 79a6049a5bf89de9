import hashlib
import logging
import platform
import random
import shutil
import stat
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from dupmon import pseudonymise
from dupmon.errors import ConfigError
from dupmon.pseudonymise import keyed_digests, keyed_hash, keyed_hashes, load_secret
from tests.conftest import run_python


def test_secret_created_once(tmp_path):
    path = tmp_path / "keys" / "secret"
    first = load_secret(None, path, tmp_path / "data")
    assert load_secret(None, path, tmp_path / "data") == first


def test_secret_file_owner_only(tmp_path):
    path = tmp_path / "keys" / "secret"
    load_secret(None, path, tmp_path / "data")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_secret_creation_logged(tmp_path, caplog):
    path = tmp_path / "keys" / "secret"
    with caplog.at_level(logging.WARNING, logger="dupmon.pseudonymise"):
        load_secret(None, path, tmp_path / "data")
    assert str(path) in caplog.text


def test_secret_inside_data_root_rejected(tmp_path):
    with pytest.raises(ConfigError, match="inside the data root"):
        load_secret(None, tmp_path / "data" / "secret", tmp_path / "data")


def test_short_secret_rejected(tmp_path):
    with pytest.raises(ConfigError, match="at least 32"):
        load_secret("short", tmp_path / "secret", tmp_path / "data")


def test_keyed_hash_depends_on_secret():
    assert keyed_hash(b"a" * 32, "x") != keyed_hash(b"b" * 32, "x")


def test_keyed_hash_parts_not_ambiguous():
    assert keyed_hash(b"a" * 32, "ab", "c") != keyed_hash(b"a" * 32, "a", "bc")


# --- many messages at once: the compiled module and hashlib -------------------

SECRETS = (b"k" * 32, b"a secret longer than BLAKE2b's 64-byte key limit " * 2)
# Around BLAKE2b's 128-byte block, where a message takes one block more.
LENGTHS = (1, 2, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1000)


def hashlib_digests(secret: bytes, messages: list[bytes]) -> bytes:
    key = secret if len(secret) <= 64 else hashlib.blake2b(secret, digest_size=64).digest()
    return b"".join(hashlib.blake2b(m, key=key, digest_size=32).digest() for m in messages)


@pytest.fixture(params=["compiled", "hashlib"])
def way(request, monkeypatch):
    """Run a test once with the compiled module and once without it."""
    if request.param == "compiled" and pseudonymise._blake2b is None:
        pytest.skip("dupmon._blake2b is not built: no C compiler at install")
    if request.param == "hashlib":
        monkeypatch.setattr(pseudonymise, "_blake2b", None)
    return request.param


def test_compiled_module_built_with_compiler():
    if shutil.which("cc") is None:
        pytest.skip("no C compiler, so the module is not expected")
    assert pseudonymise._blake2b is not None


@pytest.mark.parametrize("secret", SECRETS)
def test_digests_match_hashlib(way, secret):
    generator = random.Random(7)
    messages = [generator.randbytes(length) for length in LENGTHS]
    messages.append("accounts\x1fиванов\x1f2012-01-02".encode())

    digests = keyed_digests(secret, pa.array(messages, pa.binary()))

    assert digests == hashlib_digests(secret, messages)


def test_digests_of_slice_and_chunks(way):
    messages = [f"account\x1f{n}".encode() for n in range(10)]
    column = pa.array(messages, pa.binary())
    chunked = pa.chunked_array([column[:3], column[3:3], column[3:]])

    assert keyed_digests(SECRETS[0], column[4:7]) == hashlib_digests(SECRETS[0], messages[4:7])
    assert keyed_digests(SECRETS[0], chunked) == hashlib_digests(SECRETS[0], messages)


def test_empty_message_hashed(way):
    messages = [b"a", b"", b"b" * 200]

    digests = keyed_digests(SECRETS[0], pa.array(messages, pa.binary()))

    assert digests == hashlib_digests(SECRETS[0], messages)


def test_null_message_rejected(way):
    with pytest.raises(ValueError, match="1 of the messages to hash are null"):
        keyed_digests(SECRETS[0], pa.array([b"a", None], pa.binary()))


def test_keyed_hashes_same_either_way(monkeypatch):
    column = pa.array([f"row {n}" for n in range(300)] + [None, ""])
    compiled = keyed_hashes(SECRETS[1], "account", column)
    monkeypatch.setattr(pseudonymise, "_blake2b", None)

    assert keyed_hashes(SECRETS[1], "account", column).equals(compiled)
    assert compiled[0].as_py() == keyed_hash(SECRETS[1], "account", "row 0")


def offsets(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((b"k", 32, offsets(0, 2, 1), b"abc"), "message 1: invalid offsets 2 to 1"),
        ((b"k", 32, offsets(0, 4), b"abc"), "message 0: invalid offsets 0 to 4"),
        ((b"k", 32, offsets(-1, 2), b"abc"), "message 0: invalid offsets -1 to 2"),
        ((b"k", 32, offsets(0, 0), b"abc"), "must be non-empty"),
        ((b"k", 32, offsets(), b"abc"), "at least one 64-bit integer"),
        ((b"k", 32, b"\0" * 16, b"abc"), "format 'B' with 1 dimensions of 1-byte"),
        ((b"k", 32, np.array([0, 3], np.int32), b"abc"), "format 'i' with 1 dimensions"),
        ((b"k", 32, np.array([0.0, 3.0]), b"abc"), "format 'd' with 1 dimensions"),
        ((b"k", 32, np.array([[0, 1], [2, 3]], np.int64), b"abc"), "with 2 dimensions"),
        ((b"k", 32, np.frombuffer(bytearray(17), np.int64, 2, 1), b"abc"), "aligned to 8 bytes"),
        ((b"", 32, offsets(0, 1), b"abc"), "the key must be 1 to 64 bytes"),
        ((b"k" * 65, 32, offsets(0, 1), b"abc"), "the key must be 1 to 64 bytes"),
        ((b"k", 0, offsets(0, 1), b"abc"), "digest_size must be 1 to 64"),
        ((b"k", 65, offsets(0, 1), b"abc"), "digest_size must be 1 to 64"),
    ],
)
def test_compiled_module_checks_arguments(arguments, message):
    if pseudonymise._blake2b is None:
        pytest.skip("dupmon._blake2b is not built: no C compiler at install")

    with pytest.raises(ValueError, match=message):
        pseudonymise._blake2b.keyed_digests(*arguments)


def test_compiled_module_other_digest_sizes():
    if pseudonymise._blake2b is None:
        pytest.skip("dupmon._blake2b is not built: no C compiler at install")
    key = b"k" * 64

    for size in (1, 16, 64):
        digest = pseudonymise._blake2b.keyed_digests(key, size, offsets(0, 3), b"abc")
        assert digest == hashlib.blake2b(b"abc", key=key, digest_size=size).digest()


# keyed_digests and keyed_joined_hex hash without the interpreter lock, so
# another thread may rewrite a writable offsets array meanwhile. Each offset
# must be checked as it is read, or the hash reads outside data. The case
# runs in a child interpreter, so a crash fails this test instead of ending
# pytest. The script calls the function named by the test's parameter.
OFFSETS_REWRITTEN_WHILE_HASHING = """
import sys, threading, time
import numpy as np
from dupmon import _blake2b

count = 2_000_000
bounds = np.arange(count + 1, dtype=np.int64)
data = b"x" * count
calls = {
    "keyed_digests": lambda: _blake2b.keyed_digests(b"k", 32, bounds, data),
    "keyed_joined_hex": lambda: _blake2b.keyed_joined_hex(
        b"k", 32, b"p", b"|", [(bounds, data), (bounds, data)], 0
    ),
}

def rewrite():
    time.sleep(0.05)
    bounds[count // 2 + 1 :] = 1 << 40

threading.Thread(target=rewrite).start()
try:
    calls[sys.argv[1]]()
except ValueError:
    pass
"""


@pytest.mark.parametrize("function", ["keyed_digests", "keyed_joined_hex"])
def test_compiled_module_offsets_rewritten_while_hashing(function):
    if pseudonymise._blake2b is None:
        pytest.skip("dupmon._blake2b is not built: no C compiler at install")
    import subprocess
    import sys

    child = subprocess.run(
        [sys.executable, "-c", OFFSETS_REWRITTEN_WHILE_HASHING, function],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert child.returncode == 0, f"exit code {child.returncode}: {child.stderr[-1000:]}"


def test_too_many_hex_hashes_rejected(monkeypatch):
    monkeypatch.setattr(pseudonymise, "MAX_HEX_HASHES", 2)

    with pytest.raises(ValueError, match="3 messages are too many to hash at once"):
        pseudonymise.hex_hashes(SECRETS[0], pa.array([b"a", b"b", b"c"]))


# --- joined messages: keyed_hash of several columns per row -------------------


def joined_by_python(secret: bytes, kind: str, rows: list[list[str]], ordered_pair) -> list[str]:
    """Return keyed_hash of each row, its two sides sorted as Python sorts strings."""
    hashes = []
    for row in rows:
        parts = list(row)
        if ordered_pair is not None:
            sides = sorted(parts[ordered_pair : ordered_pair + 2])
            parts[ordered_pair : ordered_pair + 2] = sides
        hashes.append(keyed_hash(secret, kind, *parts))
    return hashes


def random_text(generator: random.Random, length: int) -> str:
    return "".join(generator.choices("ab€дЁ \x1e", k=length))


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("ordered_pair", [None, 0, 1])
def test_joined_hashes_match_keyed_hash(way, secret, ordered_pair):
    generator = random.Random(11)
    rows = []
    for length in (*LENGTHS, 0, 3, 3):
        first = random_text(generator, length)
        # Equal sides, a side that is a prefix of the other, and unrelated ones.
        second = generator.choice([first, first + "a", first[:-1], random_text(generator, 5)])
        rows.append([first, second, random_text(generator, generator.randint(0, 140))])
    columns = [pa.array([row[i] for row in rows]) for i in range(3)]

    hashes = pseudonymise.joined_hex_hashes(secret, "pupil", columns, ordered_pair)

    assert hashes.type == pa.string()
    assert hashes.to_pylist() == joined_by_python(secret, "pupil", rows, ordered_pair)


def test_joined_hashes_of_slices_and_chunks(way):
    rows = [[f"a{n}", f"b{n % 3}"] for n in range(12)]
    first = pa.array([row[0] for row in rows])
    second = pa.chunked_array([[row[1] for row in rows[:5]], [], [row[1] for row in rows[5:]]])

    sliced = pseudonymise.joined_hex_hashes(SECRETS[0], "accounts", [first[3:9], second[3:9]], 0)
    chunked = pseudonymise.joined_hex_hashes(SECRETS[0], "accounts", [first, second], 0)

    assert sliced.to_pylist() == joined_by_python(SECRETS[0], "accounts", rows[3:9], 0)
    assert chunked.to_pylist() == joined_by_python(SECRETS[0], "accounts", rows, 0)


@pytest.fixture
def hash_calls(monkeypatch):
    """Record the thread and row count of each call of the compiled joined hash.

    Ranges of at least 10 rows get a thread of their own.
    """
    if pseudonymise._blake2b is None:
        pytest.skip("dupmon._blake2b is not built: no C compiler at install")
    monkeypatch.setattr(pseudonymise, "MIN_ROWS_PER_THREAD", 10)
    calls = []
    hash_rows = pseudonymise._blake2b.keyed_joined_hex

    def recording(*arguments):
        first_offsets = arguments[4][0][0]
        calls.append((threading.current_thread().name, len(first_offsets) - 1))
        return hash_rows(*arguments)

    monkeypatch.setattr(pseudonymise._blake2b, "keyed_joined_hex", recording)
    return calls


@pytest.mark.parametrize("threads", [2, 3, 7])
def test_joined_hashes_in_threads(hash_calls, threads):
    generator = random.Random(3)
    # 71 rows over the threads leave ranges of unequal length, and a slice
    # of the columns starts the rows past their buffers' beginning.
    rows = [[random_text(generator, n % 9), random_text(generator, 30)] for n in range(80)]
    columns = [pa.array([row[i] for row in rows])[9:] for i in range(2)]

    hashes = pseudonymise.joined_hex_hashes(SECRETS[0], "accounts", columns, 0, threads=threads)

    assert hashes.to_pylist() == joined_by_python(SECRETS[0], "accounts", rows[9:], 0)
    assert len(hash_calls) == threads
    assert sum(count for _, count in hash_calls) == 71
    assert all(name.startswith("dupmon-hash") for name, _ in hash_calls)


@pytest.mark.parametrize("threads", [1, 2])
def test_joined_hashes_parts_of_other_lengths(hash_calls, threads):
    # Each thread slices the rows of the first part, so a longer later part
    # must be rejected before, not cut short.
    columns = [pa.array([f"a{n}" for n in range(20)]), pa.array([f"b{n}" for n in range(21)])]

    with pytest.raises(ValueError, match="part 1 has 21 rows, part 0 has 20"):
        pseudonymise.joined_hex_hashes(SECRETS[0], "accounts", columns, 0, threads=threads)


def test_joined_hashes_few_rows_one_thread(hash_calls):
    columns = [pa.array([f"a{n}" for n in range(19)])]

    hashes = pseudonymise.joined_hex_hashes(SECRETS[0], "account", columns, threads=4)

    assert hashes.to_pylist() == [keyed_hash(SECRETS[0], "account", f"a{n}") for n in range(19)]
    assert hash_calls == [(threading.current_thread().name, 19)]


def test_joined_hashes_same_either_way(monkeypatch):
    generator = random.Random(5)
    columns = [pa.array([random_text(generator, 40) for _ in range(500)]) for _ in range(2)]
    compiled = pseudonymise.joined_hex_hashes(SECRETS[1], "accounts", columns, 0)
    monkeypatch.setattr(pseudonymise, "_blake2b", None)

    assert pseudonymise.joined_hex_hashes(SECRETS[1], "accounts", columns, 0).equals(compiled)


def test_joined_hashes_unaligned_offsets(way):
    data = b"abcd"
    offsets = np.array([0, 1, 4], dtype=np.int64)
    shifted = bytearray(4) + bytearray(offsets.tobytes())
    column = pa.LargeStringArray.from_buffers(
        2, pa.py_buffer(memoryview(shifted)[4:]), pa.py_buffer(data)
    )

    hashes = pseudonymise.joined_hex_hashes(SECRETS[0], "account", [column])

    assert hashes.to_pylist() == [keyed_hash(SECRETS[0], "account", v) for v in ("a", "bcd")]


def test_joined_hashes_with_nulls(way):
    columns = [pa.array(["a", "b"]), pa.array(["b", None])]

    with pytest.raises(ValueError, match="part 1 of the messages to hash has 1 nulls"):
        pseudonymise.joined_hex_hashes(SECRETS[0], "accounts", columns, 0)


def test_joined_hashes_too_many_rejected(monkeypatch):
    monkeypatch.setattr(pseudonymise, "MAX_HEX_HASHES", 2)
    columns = [pa.array(["a", "b", "c"])]

    with pytest.raises(ValueError, match="3 messages are too many to hash at once"):
        pseudonymise.joined_hex_hashes(SECRETS[0], "x", columns)


def part(*values: int, data: bytes = b"abc") -> tuple[np.ndarray, bytes]:
    return offsets(*values), data


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((b"k", 32, b"p", b"|", [part(0, 2, 1)], -1), "row 1 of part 0: invalid offsets 2 to 1"),
        ((b"k", 32, b"p", b"|", [part(0, 4)], -1), "row 0 of part 0: invalid offsets 0 to 4"),
        ((b"k", 32, b"p", b"|", [part(0, 1), part(-1, 1)], -1), "row 0 of part 1: invalid"),
        ((b"k", 32, b"p", b"|", [part(0, 1), part(0, 1, 2)], -1), "part 1 has 2 rows, part 0"),
        ((b"k", 32, b"p", b"|", [], -1), "parts must hold 1 to 8 columns, not 0"),
        ((b"k", 32, b"p", b"|", [part(0, 1)] * 9, -1), "parts must hold 1 to 8 columns, not 9"),
        ((b"k", 32, b"p", b"|", [part(0, 1)], 0), "invalid ordered_pair 0"),
        ((b"k", 32, b"p", b"|", [part(0, 1)] * 2, 1), "invalid ordered_pair 1"),
        ((b"k", 32, b"p", b"|", [part(0, 1)] * 2, -2), "invalid ordered_pair -2"),
        ((b"k", 32, b"", b"|", [part(0, 1)], -1), "the prefix must be non-empty"),
        ((b"", 32, b"p", b"|", [part(0, 1)], -1), "the key must be 1 to 64 bytes"),
        ((b"k", 65, b"p", b"|", [part(0, 1)], -1), "digest_size must be 1 to 64"),
        (
            (b"k", 32, b"p", b"|", [(np.array([0, 1], np.int32), b"a")], -1),
            "offsets of part 0 must be a one-dimensional",
        ),
    ],
)
def test_joined_module_checks_arguments(arguments, message):
    if pseudonymise._blake2b is None:
        pytest.skip("dupmon._blake2b is not built: no C compiler at install")

    with pytest.raises(ValueError, match=message):
        pseudonymise._blake2b.keyed_joined_hex(*arguments)


def test_joined_module_part_not_tuple():
    if pseudonymise._blake2b is None:
        pytest.skip("dupmon._blake2b is not built: no C compiler at install")

    with pytest.raises(TypeError, match="part 0 must be an \\(offsets, data\\) tuple"):
        pseudonymise._blake2b.keyed_joined_hex(b"k", 32, b"p", b"|", [[offsets(0, 1), b"a"]], -1)


def test_joined_module_digest_sizes():
    if pseudonymise._blake2b is None:
        pytest.skip("dupmon._blake2b is not built: no C compiler at install")
    key = b"k" * 64

    for size in (1, 16, 64):
        text = pseudonymise._blake2b.keyed_joined_hex(key, size, b"p", b"|", [part(0, 3)], -1)
        assert text == hashlib.blake2b(b"p|abc", key=key, digest_size=size).hexdigest().encode()


def joined_offsets(values: list[bytes]) -> tuple[np.ndarray, bytes]:
    return np.cumsum([0, *map(len, values)], dtype=np.int64), b"".join(values)


@pytest.mark.parametrize("lanes", [True, False], ids=["four-lanes", "one-at-a-time"])
@pytest.mark.parametrize("digest_size", [1, 20, 32, 64])
def test_joined_hex_lanes_match_hashlib(lanes, digest_size):
    if pseudonymise._blake2b is None:
        pytest.skip("dupmon._blake2b is not built: no C compiler at install")
    generator = random.Random(digest_size)
    # Messages of one, two and three blocks mixed at random, so that a
    # message of another length often falls between those that wait for the
    # other lanes. Those left waiting at the end are hashed one at a time.
    lengths = [0, 1, 7, 60, 100, 121, 122, 200]
    first = [generator.randbytes(generator.choice(lengths)) for _ in range(1003)]
    second = [generator.randbytes(generator.randint(0, 130)) for _ in range(1003)]
    # Messages of 127 to 129 and 255 to 257 bytes: "pair", two separators
    # and 60 bytes make 66 of them.
    for total in (127, 128, 129, 255, 256, 257) * 4:
        first.append(generator.randbytes(60))
        second.append(generator.randbytes(total - 66))
    for key in (b"k", b"k" * 32, b"k" * 64):
        hex_text = pseudonymise._blake2b.keyed_joined_hex(
            key, digest_size, b"pair", b"\x1f",
            [joined_offsets(first), joined_offsets(second)], 0, lanes,
        )

        expected = [
            hashlib.blake2b(
                b"\x1f".join([b"pair", min(a, b), max(a, b)]), key=key, digest_size=digest_size
            ).hexdigest()
            for a, b in zip(first, second)
        ]
        width = 2 * digest_size
        assert [hex_text[i : i + width].decode() for i in range(0, len(hex_text), width)] == expected


def test_lanes_used_where_built():
    cpuinfo = Path("/proc/cpuinfo")
    if pseudonymise._blake2b is None or platform.machine() != "x86_64" or not cpuinfo.exists():
        pytest.skip("the four-lane hash is built for x86-64 only, and read here from Linux")
    assert pseudonymise._blake2b.LANES == (" avx2" in cpuinfo.read_text())


@pytest.mark.parametrize("shift", [38, 39])
def test_joined_hex_huge_message_memory_error(tmp_path, shift):
    # One row of eight parts, each a sparse file of 2**(shift - 3) bytes:
    # a message just over 2**shift bytes, whose number of blocks does not
    # fit a C int. It must fail to allocate, not go into a lane. The limit
    # on the address space makes the allocation fail on any machine, and
    # no byte of the files is read.
    if pseudonymise._blake2b is None:
        pytest.skip("dupmon._blake2b is not built: no C compiler at install")
    sparse = tmp_path / "sparse"
    with sparse.open("wb") as handle:
        handle.truncate(1 << (shift - 3))

    printed = run_python(
        f"""
        import mmap, resource
        import numpy as np
        from dupmon import _blake2b

        size = 1 << ({shift} - 3)
        resource.setrlimit(resource.RLIMIT_AS, (size + (8 << 30), resource.RLIM_INFINITY))
        with open({str(sparse)!r}, "rb") as handle:
            data = mmap.mmap(handle.fileno(), size, access=mmap.ACCESS_READ)
        offsets = np.array([0, size], dtype=np.int64)
        try:
            _blake2b.keyed_joined_hex(b"k", 32, b"p", b"", [(offsets, data)] * 8, -1, True)
        except MemoryError:
            print("MemoryError")
        """
    )

    assert printed == "MemoryError"
