"""Files written past the page cache: the same bytes, flags restored, a fallback."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import mmap
import os
from pathlib import Path

import pytest
from dupmon import direct_io
from dupmon.delta import write_chunks_atomic
from dupmon.direct_io import ALIGNMENT, write_chunks_direct

# A small buffer keeps the cases quick; it stays a multiple of the alignment.
SMALL_BUFFER = 4 * ALIGNMENT


def pattern(size: int, seed: int = 0) -> bytes:
    return bytes((seed + i * 7) % 251 for i in range(size))


def write_file(path: Path, chunks) -> bool:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        return write_chunks_direct(descriptor, chunks)
    finally:
        os.close(descriptor)


def takes_o_direct(folder: Path) -> bool:
    probe = folder / "probe"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o600))
    except OSError:
        return False
    finally:
        probe.unlink(missing_ok=True)
    return True


def resident_pages(path: Path) -> list[bool]:
    """Return, for each page of the file, whether it is in the page cache (mincore)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    size = path.stat().st_size
    vector = ctypes.create_string_buffer(-(-size // mmap.PAGESIZE))
    # ctypes gives the address of a writable buffer only, so the map is
    # private. Mapping the file reads none of it.
    with (
        path.open("rb") as handle,
        mmap.mmap(handle.fileno(), size, access=mmap.ACCESS_COPY) as mapped,
    ):
        anchor = ctypes.c_char.from_buffer(mapped)
        try:
            if libc.mincore(ctypes.addressof(anchor), size, vector) != 0:
                raise OSError(ctypes.get_errno(), "mincore failed")
        finally:
            del anchor
    return [bool(byte & 1) for byte in vector.raw]


@pytest.fixture
def small_buffer(monkeypatch):
    monkeypatch.setattr(direct_io, "BUFFER_BYTES", SMALL_BUFFER)


CHUNK_CASES = {
    "no chunk": [],
    "empty chunks": [b"", b""],
    "under a block": [pattern(100)],
    "exactly one buffer": [pattern(SMALL_BUFFER)],
    "one byte over a buffer": [pattern(SMALL_BUFFER + 1)],
    "chunks across buffers": [pattern(5000, seed) for seed in range(9)],
    "one chunk of many buffers": [pattern(3 * SMALL_BUFFER + 123)],
    "memoryviews": [memoryview(pattern(7000)), memoryview(pattern(SMALL_BUFFER * 2))],
}


@pytest.mark.parametrize("chunks", CHUNK_CASES.values(), ids=CHUNK_CASES.keys())
def test_direct_write_keeps_bytes(tmp_path, small_buffer, chunks):
    path = tmp_path / "out.bin"

    write_file(path, chunks)

    assert path.read_bytes() == b"".join(bytes(chunk) for chunk in chunks)


def test_direct_write_restores_flags(tmp_path, small_buffer):
    path = tmp_path / "out.bin"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        before = fcntl.fcntl(descriptor, fcntl.F_GETFL)
        write_chunks_direct(descriptor, [pattern(SMALL_BUFFER * 2 + 10)])
        after = fcntl.fcntl(descriptor, fcntl.F_GETFL)
    finally:
        os.close(descriptor)

    assert after == before
    assert not after & os.O_DIRECT


def test_direct_write_skips_page_cache(tmp_path, small_buffer):
    if not takes_o_direct(tmp_path):
        pytest.skip(f"the file system of {tmp_path} does not take O_DIRECT")
    path = tmp_path / "out.bin"
    tail = 100

    used = write_file(path, [pattern(SMALL_BUFFER * 3 + tail)])

    assert used
    pages = resident_pages(path)
    full_buffer_pages = SMALL_BUFFER * 3 // mmap.PAGESIZE
    assert not any(pages[:full_buffer_pages])


def test_page_cache_write_is_resident(tmp_path):
    """The control for the test above: a plain write leaves its pages cached."""
    path = tmp_path / "out.bin"
    path.write_bytes(pattern(SMALL_BUFFER * 3))

    assert all(resident_pages(path))


def test_rejected_o_direct_falls_back(tmp_path, small_buffer, monkeypatch):
    real_fcntl = fcntl.fcntl

    def no_direct(descriptor, command, argument=0):
        if command == fcntl.F_SETFL and argument & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_fcntl(descriptor, command, argument)

    monkeypatch.setattr(fcntl, "fcntl", no_direct)
    path = tmp_path / "out.bin"
    data = pattern(SMALL_BUFFER * 2 + 77)

    used = write_file(path, [data])

    assert not used
    assert path.read_bytes() == data


def test_rejected_direct_write_falls_back(tmp_path, small_buffer, monkeypatch):
    """A device whose block size O_DIRECT's alignment misses fails the write with EINVAL."""
    if not takes_o_direct(tmp_path):
        pytest.skip(f"the file system of {tmp_path} does not take O_DIRECT")
    real_write = os.write
    rejected = []

    def reject_direct(descriptor, data):
        if fcntl.fcntl(descriptor, fcntl.F_GETFL) & os.O_DIRECT:
            rejected.append(len(data))
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(descriptor, data)

    monkeypatch.setattr(os, "write", reject_direct)
    path = tmp_path / "out.bin"
    data = pattern(SMALL_BUFFER * 3 + 5)

    used = write_file(path, [data])

    assert not used
    assert rejected == [SMALL_BUFFER]
    assert path.read_bytes() == data


def test_other_write_errors_propagate(tmp_path, small_buffer, monkeypatch):
    def full_disk(descriptor, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)

    with pytest.raises(OSError) as raised:
        write_file(tmp_path / "out.bin", [pattern(SMALL_BUFFER + 1)])

    assert raised.value.errno == errno.ENOSPC


@pytest.mark.parametrize("direct", [False, True])
def test_atomic_write_leaves_no_temporary(tmp_path, small_buffer, direct):
    path = tmp_path / "appendix2.csv"
    chunks = [pattern(3000, seed) for seed in range(20)]

    write_chunks_atomic(path, chunks, mode=0o644, direct=direct)

    assert path.read_bytes() == b"".join(chunks)
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["appendix2.csv"]


def test_failed_atomic_write_keeps_old_file(tmp_path, small_buffer):
    path = tmp_path / "appendix2.csv"
    path.write_bytes(b"old")

    def failing_chunks():
        yield pattern(SMALL_BUFFER * 2)
        raise RuntimeError("the generator failed")

    with pytest.raises(RuntimeError):
        write_chunks_atomic(path, failing_chunks(), direct=True)

    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["appendix2.csv"]


@pytest.fixture
def full_page_cache(monkeypatch):
    """Make every write without O_DIRECT fail as on a full disk."""
    real_write = os.write

    def full_without_direct(descriptor, data):
        if not fcntl.fcntl(descriptor, fcntl.F_GETFL) & os.O_DIRECT:
            # os.write keeps no reference to its buffer once it raises, so
            # this stand-in drops its own before raising.
            del data
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(descriptor, data)

    monkeypatch.setattr(os, "write", full_without_direct)


@pytest.mark.parametrize("size", [SMALL_BUFFER + 10, SMALL_BUFFER * 2])
def test_buffered_write_error_propagates(
    tmp_path, small_buffer, full_page_cache, monkeypatch, size
):
    """A full disk on a write through the page cache raises the OSError, not BufferError."""
    monkeypatch.setattr(direct_io, "_set_flags", lambda descriptor, flags: False)

    with pytest.raises(OSError) as raised:
        write_file(tmp_path / "out.bin", [pattern(size)])

    assert raised.value.errno == errno.ENOSPC


def test_tail_error_propagates(tmp_path, small_buffer, full_page_cache):
    if not takes_o_direct(tmp_path):
        pytest.skip(f"the file system of {tmp_path} does not take O_DIRECT")

    with pytest.raises(OSError) as raised:
        write_file(tmp_path / "out.bin", [pattern(SMALL_BUFFER * 2 + 10)])

    assert raised.value.errno == errno.ENOSPC


def test_caller_o_direct_kept(tmp_path, small_buffer):
    if not takes_o_direct(tmp_path):
        pytest.skip(f"the file system of {tmp_path} does not take O_DIRECT")
    path = tmp_path / "out.bin"
    data = pattern(SMALL_BUFFER * 2 + 10)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o600)
    try:
        write_chunks_direct(descriptor, [data])
        after = fcntl.fcntl(descriptor, fcntl.F_GETFL)
    finally:
        os.close(descriptor)

    assert path.read_bytes() == data
    assert after & os.O_DIRECT


def test_atomic_direct_write_skips_page_cache(tmp_path, small_buffer):
    if not takes_o_direct(tmp_path):
        pytest.skip(f"the file system of {tmp_path} does not take O_DIRECT")
    path = tmp_path / "appendix2.csv"

    write_chunks_atomic(path, [pattern(SMALL_BUFFER * 3 + 5)], direct=True)

    assert not any(resident_pages(path)[: SMALL_BUFFER * 3 // mmap.PAGESIZE])
