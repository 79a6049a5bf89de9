"""Work files that one step writes whole and the next step maps into memory.

They are Arrow IPC files, uncompressed, so reading one costs next to
nothing. Their buffers are used as they lie on disk, so a damaged file
could crash the reading process, and every read checks the whole file
first (``Table.validate(full=True)``: about 0.16 s for a million pairs
on the benchmark machine).
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa

# At most this much of pyarrow's error text goes into a message, because a
# damaged file can put its raw bytes into the text.
_ERROR_TEXT_CHARS = 200


class DamagedWorkFileError(OSError):
    """A work file exists but is not a complete, valid Arrow IPC file."""


def write_table(table: pa.Table, path: Path, mode: int = 0o600) -> None:
    """Write ``table`` to ``path`` as an Arrow IPC file created with ``mode``.

    The file is written in place: callers that need readers to see the old
    or the new file, never a part, write to a temporary name and rename it.
    """
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with open(descriptor, "wb") as handle, pa.ipc.new_file(handle, table.schema) as writer:
        writer.write_table(table)


def read_table(path: Path, writer_step: str) -> pa.Table:
    """Map the Arrow IPC file at ``path`` into memory and return its table.

    A path ending in ``.parquet`` is read as Parquet: the work files of
    earlier versions, which a work folder from before an upgrade contains.
    ``writer_step`` names the step that writes the file, for the messages.
    Raises FileNotFoundError when it is missing and DamagedWorkFileError
    when it is truncated or its content is invalid.
    """
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        else:
            with pa.memory_map(str(path)) as source:
                table = pa.ipc.open_file(source).read_all()
        table.validate(full=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing; run the {writer_step} step first") from None
    except PermissionError:
        raise
    except (pa.ArrowException, OSError, ValueError) as error:
        detail = str(error)[:_ERROR_TEXT_CHARS]
        raise DamagedWorkFileError(
            f"the work file {path} is damaged ({type(error).__name__}: {detail}); run the "
            f"{writer_step} step again to rewrite it"
        ) from error
    return table
