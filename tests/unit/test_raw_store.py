"""The raw area: copies of inbox files named by their SHA-256, and the maps the readers take."""

from __future__ import annotations

import errno
import hashlib
import mmap
import os
import stat
from pathlib import Path

import pytest
from dupmon import raw_store
from dupmon.ingest import read_export
from dupmon.raw_store import MappedFile, RawStore
from dupmon.readers import UnreadableExportError, detect_format
from dupmon.readers.delimited import read_csv

from tests.conftest import ROOT, SAMPLES

FIXTURE_EXPORTS = sorted((ROOT / "tests" / "fixtures" / "exports").iterdir()) + sorted(
    SAMPLES.iterdir()
)


def inbox_file(tmp_path: Path, data: bytes, name: str = "export.csv") -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    path = inbox / name
    path.write_bytes(data)
    return path


def mapped(tmp_path: Path, data: bytes) -> MappedFile:
    path = tmp_path / "mapped.bin"
    path.write_bytes(data)
    with path.open("rb") as handle:
        return MappedFile(handle.fileno(), 0, access=mmap.ACCESS_READ)


def stray_files(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith("."))


def test_put_file_stores_copy(tmp_path):
    data = "№;ОО\n1;Школа\n".encode() * 1000
    source = inbox_file(tmp_path, data)
    store = RawStore(tmp_path / "raw")

    record, is_new, content = store.put_file(source, "export.csv")

    assert is_new
    assert record.sha256 == hashlib.sha256(data).hexdigest()
    assert record.size == len(data)
    assert record.suffix == ".csv"
    assert record.original_names == ["export.csv"]
    assert store.path_of(record).read_bytes() == data
    assert stat.S_IMODE(store.path_of(record).stat().st_mode) == 0o600
    assert isinstance(content, MappedFile)
    assert content[:] == data
    assert store.get(record.sha256) == record
    assert stray_files(store.root) == []
    assert source.read_bytes() == data


def test_put_file_same_bytes_twice(tmp_path):
    data = b"a;b\n1;2\n"
    store = RawStore(tmp_path / "raw")
    first, _, _ = store.put_file(inbox_file(tmp_path, data, "one.csv"), "one.csv")

    record, is_new, content = store.put_file(inbox_file(tmp_path, data, "two.csv"), "two.csv")

    assert not is_new
    assert record.sha256 == first.sha256
    assert record.original_names == ["one.csv", "two.csv"]
    assert store.get(first.sha256).original_names == ["one.csv", "two.csv"]
    assert content[:] == data
    assert stray_files(store.root) == []
    assert len([p for p in store.root.iterdir() if p.suffix == ".csv"]) == 1


def test_put_file_rerun_syncs_no_copy(tmp_path, monkeypatch):
    data = b"a;b\n1;2\n" * 100
    store = RawStore(tmp_path / "raw")
    store.put_file(inbox_file(tmp_path, data), "export.csv")
    synced = []

    def recording_fsync(descriptor):
        synced.append(os.readlink(f"/proc/self/fd/{descriptor}"))

    monkeypatch.setattr(raw_store.os, "fsync", recording_fsync)

    _, is_new, content = store.put_file(inbox_file(tmp_path, data), "export.csv")

    assert not is_new
    assert content[:] == data
    assert [path for path in synced if ".incoming." in path] == []
    assert stray_files(store.root) == []


def test_put_file_empty_file(tmp_path):
    store = RawStore(tmp_path / "raw")

    record, is_new, content = store.put_file(inbox_file(tmp_path, b""), "export.csv")

    assert is_new
    assert content == b""
    assert record.sha256 == hashlib.sha256(b"").hexdigest()
    assert store.path_of(record).read_bytes() == b""


@pytest.mark.parametrize("failure", ["exdev", "missing"])
def test_put_file_without_kernel_copy(tmp_path, monkeypatch, failure):
    data = os.urandom(3 << 20)

    if failure == "exdev":
        calls = []

        def copy_file_range(source, target, count):
            calls.append(count)
            if len(calls) > 1:
                raise OSError(errno.EXDEV, "Invalid cross-device link")
            # Copy the first MiB, as a call before the failing one may have.
            copied = os.write(target, os.pread(source, 1 << 20, 0))
            os.lseek(source, copied, os.SEEK_SET)
            return copied

        monkeypatch.setattr(raw_store.os, "copy_file_range", copy_file_range)
    else:
        monkeypatch.delattr(raw_store.os, "copy_file_range", raising=False)
    store = RawStore(tmp_path / "raw")

    record, _, content = store.put_file(inbox_file(tmp_path, data), "export.csv")

    assert store.path_of(record).read_bytes() == data
    assert content[:] == data
    if failure == "exdev":
        assert len(calls) == 2


def test_put_file_failure_leaves_nothing(tmp_path, monkeypatch):
    def failing_fsync(descriptor):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(raw_store.os, "fsync", failing_fsync)
    store = RawStore(tmp_path / "raw")

    with pytest.raises(OSError, match="Input/output error"):
        store.put_file(inbox_file(tmp_path, b"a;b\n"), "export.csv")

    assert list(store.root.iterdir()) == []


def test_map_outlives_removed_copy(tmp_path):
    data = b"kept;after\nremoval;\n"
    store = RawStore(tmp_path / "raw")
    record, _, content = store.put_file(inbox_file(tmp_path, data), "export.csv")

    store.path_of(record).unlink()

    assert content[:] == data


def test_mapped_file_bytes_methods(tmp_path):
    content = mapped(tmp_path, b"\xef\xbb\xbf  text\n")

    assert content.startswith(b"\xef\xbb\xbf")
    assert content.startswith((b"PK", b"\xef\xbb"))
    assert not content.startswith((b"PK", b"\xd0\xcf"))
    assert not content.startswith(b"\xef\xbb\xbf  text\n and more")
    assert content.strip() == b"\xef\xbb\xbf  text"
    assert content.decode("utf-8-sig") == "  text\n"
    assert content.decode("ascii", "replace") == "\ufffd\ufffd\ufffd  text\n"


@pytest.mark.parametrize("path", FIXTURE_EXPORTS, ids=lambda p: p.name)
def test_read_export_same_from_map(tmp_path, path):
    data = path.read_bytes()
    content = mapped(tmp_path, data)

    assert detect_format(content) == detect_format(data)
    from_bytes = read_export(data, 64 << 20)
    from_map = read_export(content, 64 << 20)
    assert from_map[0] == from_bytes[0]
    assert from_map[1].rows == from_bytes[1].rows


@pytest.mark.parametrize(
    "data",
    [
        "Список;\n№;ОО;Период\n1;Школа;\"2.09.2024\n-1.10.2024\"\n2;ОО;x\n".encode(),
        "Список;\n№;ОО;Период\n1;Школа;2.09.2024-1.10.2024\n".encode("cp1251"),
        b"\xef\xbb\xbf" + "Список;\n№;ОО;Период\n1;Школа;x\n".encode(),
        "Список,\n№,ОО,Период\n1,Школа,x\n2,ОО,y".encode(),
    ],
    ids=["utf8-quoted-newline", "cp1251", "bom", "comma-no-final-newline"],
)
def test_columnar_csv_same_from_map(tmp_path, data):
    from_bytes = read_csv(data, columnar_min_bytes=0)
    from_map = read_csv(mapped(tmp_path, data), columnar_min_bytes=0)

    assert from_map[0].block is not None
    assert from_map[0].block.equals(from_bytes[0].block)
    # Reading the rows moves the block into them, so they come last.
    assert [grid.rows for grid in from_map] == [grid.rows for grid in from_bytes]


def test_detect_format_blank_map(tmp_path):
    content = mapped(tmp_path, b" " * 5000 + b"\n\n")

    with pytest.raises(UnreadableExportError, match="the file is empty"):
        detect_format(content)
