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
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


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

    def put(self, data: bytes, original_name: str) -> tuple[RawRecord, bool]:
        """Store the bytes unless the same bytes are stored already.

        Returns the record and whether the bytes were new.
        """
        sha256 = hashlib.sha256(data).hexdigest()
        record = self.get(sha256)
        if record is not None:
            if record.expired_on:
                log.info(
                    "Not storing %s again: its raw copy expired on %s (DUPMON_RAW_RETENTION_DAYS)",
                    original_name,
                    record.expired_on[:10],
                )
            if original_name not in record.original_names:
                record.original_names.append(original_name)
                self.save(record)
            return record, False

        suffix = Path(original_name).suffix.lower()[:10]
        record = RawRecord(
            sha256=sha256,
            suffix=suffix,
            size=len(data),
            first_seen=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            original_names=[original_name],
        )
        write_atomic(self.path_of(record), data)
        self.save(record)
        log.info("Stored raw export %s (%d bytes) as %s", original_name, len(data), sha256[:12])
        return record, True

    def read(self, record: RawRecord) -> bytes:
        return self.path_of(record).read_bytes()
