"""Retention: raw exports and quarantined copies hold personal data, so they expire.

With ``DUPMON_RAW_RETENTION_DAYS`` set, every successful run deletes the raw
exports first seen more than that many days ago, and the quarantine folders
whose report is that old. Snapshots and reports hold no personal data and
are kept.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil

from dupmon.raw_store import RawStore
from dupmon.settings import Settings

log = logging.getLogger(__name__)


def apply_retention(settings: Settings, now: dt.datetime | None = None) -> dict:
    """Delete what is older than the retention period; return what was deleted.

    Does nothing when no retention period is set.
    """
    days = settings.raw_retention_days
    if days is None:
        log.info("Raw retention is off (DUPMON_RAW_RETENTION_DAYS unset): nothing deleted")
        return {"retention_days": None, "raw_deleted": 0, "quarantine_deleted": 0}

    now = now or dt.datetime.now(dt.UTC)
    cutoff = now - dt.timedelta(days=days)
    raw_deleted = _expire_raw(settings, cutoff)
    quarantine_deleted = _expire_quarantine(settings, cutoff)
    log.info(
        "Retention of %d days: deleted %d raw exports and %d quarantine folders older than %s",
        days,
        raw_deleted,
        quarantine_deleted,
        cutoff.date().isoformat(),
    )
    return {
        "retention_days": days,
        "raw_deleted": raw_deleted,
        "quarantine_deleted": quarantine_deleted,
    }


def _expire_raw(settings: Settings, cutoff: dt.datetime) -> int:
    if not settings.raw_dir.is_dir():
        return 0
    store = RawStore(settings.raw_dir)
    deleted = 0
    for sidecar in sorted(settings.raw_dir.glob("*.json")):
        record = store.get(sidecar.stem)
        if record is None or dt.datetime.fromisoformat(record.first_seen) >= cutoff:
            continue
        if record.expired_on:
            continue
        store.path_of(record).unlink(missing_ok=True)
        # The sidecar stays, without personal data, so that the same file
        # still in the inbox keeps its monitoring date and is not stored again.
        record.expired_on = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        store.save(record)
        log.info("Deleted raw export %s (first seen %s)", record.sha256[:12], record.first_seen)
        deleted += 1
    return deleted


def _expire_quarantine(settings: Settings, cutoff: dt.datetime) -> int:
    if not settings.quarantine_dir.is_dir():
        return 0
    deleted = 0
    for report in sorted(settings.quarantine_dir.glob("*/*/report.json")):
        modified = dt.datetime.fromtimestamp(report.stat().st_mtime, dt.UTC)
        if modified >= cutoff:
            continue
        shutil.rmtree(report.parent)
        log.info("Deleted quarantine folder %s (written %s)", report.parent, modified.date())
        deleted += 1
    return deleted
