"""The raw area: every export exactly as it arrived, named by its SHA-256.

Folders are 0700 and files 0600, because the raw exports hold personal
data of minors. Each file has a JSON sidecar with its original names and the
monitoring date it was assigned to.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import mmap
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

# Bytes per call of os.copy_file_range, and the buffer of a copy without it.
_KERNEL_COPY_BYTES = 1 << 30
_BUFFER_BYTES = 1 << 20


@dataclass
class RawRecord:
    """Sidecar record of one stored export."""

    sha256: str
    suffix: str
    size: int
    first_seen: str
    original_names: list[str] = field(default_factory=list)
    file_format: str | None = None
    monitoring_date: str | None = None
    date_source: str | None = None
    expired_on: str | None = None


def make_private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write a file so that readers see either the old or the whole new content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class RawStore:
    def __init__(self, root: Path):
        self.root = root
        make_private_dir(root)

    def path_of(self, record: RawRecord) -> Path:
        return self.root / f"{record.sha256}{record.suffix}"

    def _sidecar(self, sha256: str) -> Path:
        return self.root / f"{sha256}.json"

    def get(self, sha256: str) -> RawRecord | None:
        sidecar = self._sidecar(sha256)
        if not sidecar.exists():
            return None
        return RawRecord(**json.loads(sidecar.read_text(encoding="utf-8")))

    def save(self, record: RawRecord) -> None:
        payload = json.dumps(asdict(record), ensure_ascii=False, indent=1).encode("utf-8")
        write_atomic(self._sidecar(record.sha256), payload)

    def put_file(
        self, source: Path, original_name: str
    ) -> tuple[RawRecord, bool, MappedFile | bytes]:
        """Copy a file into the raw area unless the same bytes are stored already.

        Returns the record, whether the bytes were new, and the bytes that
        were hashed: a read-only map of the copy, or ``b""`` for an empty
        file. The map keeps its pages after the copy is renamed or removed.
        On Linux the kernel makes the copy (``os.copy_file_range``), so
        neither the copy nor the readers need memory of the file's size
        beyond the page cache. The copy is hashed before it is synced, and
        the copy of bytes stored already is removed unsynced, so that a rerun
        over the same inbox writes next to nothing to the disk.
        """
        descriptor, temporary = tempfile.mkstemp(dir=self.root, prefix=".incoming.", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "r+b") as copy:
                with source.open("rb") as original:
                    _copy_file(original, copy)
                copy.flush()
                size = os.fstat(copy.fileno()).st_size
                content = MappedFile(copy.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
                sha256 = hashlib.sha256(content).hexdigest()
                record = self._known(sha256, original_name)
                if record is None:
                    os.fsync(copy.fileno())
            if record is not None:
                Path(temporary).unlink()
                return record, False, content
            record = self._new_record(sha256, size, original_name)
            os.replace(temporary, self.path_of(record))
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self._stored(record)
        return record, True, content

    def _known(self, sha256: str, original_name: str) -> RawRecord | None:
        """Return the record of stored bytes with ``original_name`` added, or None if not stored."""
        record = self.get(sha256)
        if record is None:
            return None
        if record.expired_on:
            log.info(
                "Not storing %s again: its raw copy expired on %s (DUPMON_RAW_RETENTION_DAYS)",
                original_name,
                record.expired_on[:10],
            )
        if original_name not in record.original_names:
            record.original_names.append(original_name)
            self.save(record)
        return record

    @staticmethod
    def _new_record(sha256: str, size: int, original_name: str) -> RawRecord:
        return RawRecord(
            sha256=sha256,
            suffix=Path(original_name).suffix.lower()[:10],
            size=size,
            first_seen=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            original_names=[original_name],
        )

    def _stored(self, record: RawRecord) -> None:
        self.save(record)
        name = record.original_names[0]
        log.info("Stored raw export %s (%d bytes) as %s", name, record.size, record.sha256[:12])


class MappedFile(mmap.mmap):
    """A read-only memory map with the few ``bytes`` methods that the export readers use."""

    def startswith(self, prefix: bytes | tuple[bytes, ...]) -> bool:
        prefixes = prefix if isinstance(prefix, tuple) else (prefix,)
        return any(self[: len(p)] == p for p in prefixes)

    def strip(self) -> bytes:
        return bytes(self).strip()

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return bytes(self).decode(encoding, errors)


def _copy_file(source, target) -> None:
    """Copy an open file into another, in the kernel where it can, else through a buffer."""
    if hasattr(os, "copy_file_range"):
        try:
            while os.copy_file_range(source.fileno(), target.fileno(), _KERNEL_COPY_BYTES):
                pass
            return
        except OSError:
            # EXDEV between some file systems, EINVAL or ENOSYS on those
            # without support. Start again through a buffer.
            source.seek(0)
            target.seek(0)
            target.truncate()
    shutil.copyfileobj(source, target, _BUFFER_BYTES)
