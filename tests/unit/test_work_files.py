"""Arrow IPC work files: written whole, read back, and damaged ones rejected with a clear error."""

from __future__ import annotations

import struct

import pyarrow as pa
import pytest

from dupmon.work_files import DamagedWorkFileError, read_table, write_table


def sample() -> pa.Table:
    schools = pa.array(["МБОУ СОШ № 1", "МБОУ СОШ № 2", "МБОУ СОШ № 1"]).dictionary_encode()
    return pa.table({"organisation": schools, "pair_key": ["a" * 64, "b" * 64, "c" * 64]})


def test_table_read_back(tmp_path):
    path = tmp_path / "work.arrow"

    write_table(sample(), path)

    assert read_table(path, "normalise").equals(sample())
    assert path.stat().st_mode & 0o777 == 0o600


def test_missing_file_names_step(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the normalise step first"):
        read_table(tmp_path / "pairs.arrow", "normalise")


@pytest.mark.parametrize("size", [0, 100, -50])
def test_truncated_file_rejected(tmp_path, size):
    path = tmp_path / "work.arrow"
    write_table(sample(), path)
    data = path.read_bytes()
    path.write_bytes(data[:size])

    with pytest.raises(DamagedWorkFileError) as raised:
        read_table(path, "ingest")

    assert str(path) in str(raised.value)
    assert "run the ingest step again" in str(raised.value)


def test_bad_offset_rejected(tmp_path):
    path = tmp_path / "work.arrow"
    write_table(sample(), path)
    # Point the second value offset of the schools' dictionary far past its data,
    # which code reading the mapped buffers would follow out of the file.
    with pa.memory_map(str(path)) as source:
        start = source.read_buffer(1).address
        dictionary = pa.ipc.open_file(source).read_all()["organisation"].chunk(0).dictionary
        at = dictionary.buffers()[1].address - start + 4 * (dictionary.offset + 1)
    data = bytearray(path.read_bytes())
    data[at : at + 4] = struct.pack("<i", 10**8)
    path.write_bytes(bytes(data))

    with pytest.raises(DamagedWorkFileError, match="run the delta step again"):
        read_table(path, "delta")
