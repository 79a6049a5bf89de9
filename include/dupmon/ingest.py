"""Ingest: take the exports of one monitoring date from the inbox.

Every inbox file is copied untouched into the raw area. The files of the
monitoring date are then parsed, and their personal columns are replaced by
keyed hashes at once, into a staging table per file under
``work/<date>/staged/``. Nothing in the inbox is moved or changed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow.parquet as pq

from dupmon.dates import find_dates, format_date
from dupmon.errors import Problem, RejectedFileError
from dupmon.layout import ExportTable, LayoutError, parse_layout
from dupmon.quarantine import quarantine
from dupmon.raw_store import RawRecord, RawStore, make_private_dir, write_atomic
from dupmon.readers import UnreadableExportError, detect_format, read_grids
from dupmon.settings import Settings
from dupmon.staging import STAGED_SCHEMA, stage_frame, stage_table

__all__ = [
    "STAGED_SCHEMA",
    "NoExportsError",
    "StagedExport",
    "ingest",
    "load_staged",
    "read_export",
    "stage_table",
    "staging_dir",
]

log = logging.getLogger(__name__)

_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_IGNORED_NAMES = re.compile(r"^(\.|~\$)|\.(tmp|part|crdownload)$", re.IGNORECASE)

@dataclass
class StagedExport:
    """One export of the monitoring date, parsed and depersonalised."""

    sha256: str
    original_name: str
    file_format: str
    layout: str
    monitoring_date: str
    date_source: str
    rows: int
    no_duplicates: bool
    period_start: str | None
    period_end: str | None
    staged_path: str
    raw_path: str
    columns: list[str]


class NoExportsError(FileNotFoundError):
    """The inbox contains no export of the monitoring date.

    A run without exports must stop: comparing nothing with the baseline
    would report every duplicate as eliminated.
    """


def staging_dir(settings: Settings, monitoring_date: dt.date) -> Path:
    return settings.work_dir / monitoring_date.isoformat() / "staged"


def list_inbox(inbox: Path) -> list[Path]:
    """Return the inbox files in a stable order, skipping lock and partial files."""
    if not inbox.is_dir():
        raise FileNotFoundError(
            f"the inbox folder {inbox} does not exist; create it, or point DUPMON_INBOX "
            "(or dupmon run --inbox) at the folder of the exports"
        )
    files = [
        path
        for path in inbox.rglob("*")
        if path.is_file() and not _IGNORED_NAMES.search(path.name)
        and not any(part.startswith(".") for part in path.relative_to(inbox).parts)
    ]
    return sorted(files, key=lambda p: str(p.relative_to(inbox)))


def date_from_name(relative_name: str) -> dt.date | None:
    """Return the one date that a file's name (or folder) states, if it states one."""
    found = set(find_dates(relative_name))
    for year, month, day in _ISO_DATE.findall(relative_name):
        try:
            found.add(dt.date(int(year), int(month), int(day)))
        except ValueError:
            continue
    return found.pop() if len(found) == 1 else None


def ingest(settings: Settings, monitoring_date: dt.date, secret: bytes) -> list[StagedExport]:
    """Store the inbox in the raw area and stage the exports of ``monitoring_date``.

    Raises RejectedFileError naming every file of the date that could not be
    taken; each of them is in quarantine with its report by then.
    """
    files = list_inbox(settings.inbox_dir)
    store = RawStore(settings.raw_dir)
    target = staging_dir(settings, monitoring_date)
    building = target.with_name("staged.building")
    shutil.rmtree(building, ignore_errors=True)
    make_private_dir(building)

    staged: list[StagedExport] = []
    rejected: list[RejectedFileError] = []
    taken: dict[str, str] = {}
    for path in files:
        name = str(path.relative_to(settings.inbox_dir))
        try:
            export = _take_file(settings, store, path, name, monitoring_date, secret, building)
        except RejectedFileError as error:
            quarantine(settings, monitoring_date, path, error)
            rejected.append(error)
            continue
        if export is None:
            continue
        if export.sha256 in taken:
            log.info("Skipping %s: the same bytes as %s", name, taken[export.sha256])
            continue
        taken[export.sha256] = name
        staged.append(export)

    if rejected:
        shutil.rmtree(building, ignore_errors=True)
        raise RejectedFileError.combine(rejected)
    if not staged:
        shutil.rmtree(building, ignore_errors=True)
        raise NoExportsError(
            f"no export for {monitoring_date.isoformat()} in the inbox {settings.inbox_dir}: no "
            "file there has this date in its header block or its name. Put the export of this "
            "date in the inbox (or point DUPMON_INBOX or --inbox at it) and rerun; a date with "
            "no duplicates needs the report's own «no duplicates» export"
        )

    shutil.rmtree(target, ignore_errors=True)
    building.rename(target)
    for export in staged:
        export.staged_path = str(target / Path(export.staged_path).name)
    manifest = [asdict(export) for export in staged]
    write_atomic(target / "exports.json", json.dumps(manifest, ensure_ascii=False, indent=1).encode())
    log.info(
        "Ingest for %s: %d exports, %d rows",
        monitoring_date.isoformat(),
        len(staged),
        sum(e.rows for e in staged),
    )
    return staged


def load_staged(settings: Settings, monitoring_date: dt.date) -> list[StagedExport]:
    manifest = staging_dir(settings, monitoring_date) / "exports.json"
    if not manifest.exists():
        raise FileNotFoundError(
            f"no staged exports for {monitoring_date.isoformat()} ({manifest} is missing); "
            "run the ingest step first"
        )
    return [StagedExport(**item) for item in json.loads(manifest.read_text(encoding="utf-8"))]


def _reject(name: str, problem: Problem) -> RejectedFileError:
    return RejectedFileError(name, [problem])


def _take_file(
    settings: Settings,
    store: RawStore,
    path: Path,
    name: str,
    monitoring_date: dt.date,
    secret: bytes,
    staged_dir: Path,
) -> StagedExport | None:
    size = path.stat().st_size
    name_date = date_from_name(name)
    if size > settings.max_file_bytes:
        if name_date not in (None, monitoring_date):
            return None
        raise _reject(
            name,
            Problem(
                message=f"the file is {size} bytes, over the limit of {settings.max_file_bytes}",
                message_ru=f"размер файла {size} байт, больше предела {settings.max_file_bytes}",
                action="Check that this is the report export; raise DUPMON_MAX_FILE_BYTES only "
                "for a genuine large report",
                action_ru="Проверьте, что это выгрузка отчёта; предел DUPMON_MAX_FILE_BYTES "
                "поднимайте только для настоящего большого отчёта",
            ),
        )

    data = path.read_bytes()
    record, is_new = store.put(data, name)
    belongs_elsewhere = (
        not is_new
        and record.monitoring_date
        and record.monitoring_date != monitoring_date.isoformat()
    )
    # A file dated only by the run that first took it is dated again when
    # its name now gives a date (the operator renamed it).
    redated = record.date_source == "run" and name_date is not None
    if belongs_elsewhere and not redated:
        log.info(
            "Skipping %s: it was taken for %s (date from the %s)",
            name,
            record.monitoring_date,
            record.date_source,
        )
        return None

    try:
        record.file_format, table = read_export(
            data, settings.max_unpacked_bytes, settings.max_cells
        )
    except (UnreadableExportError, LayoutError) as error:
        if name_date not in (None, monitoring_date):
            return None
        raise _reject(name, error.problem) from error

    file_date, source = _monitoring_date_of(name, table, name_date, monitoring_date)
    record.monitoring_date, record.date_source = file_date.isoformat(), source
    store.save(record)
    if file_date != monitoring_date:
        log.info("Skipping %s: its monitoring date is %s", name, file_date.isoformat())
        return None

    frame = stage_frame(table, record.sha256, secret)
    staged_path = staged_dir / f"{record.sha256}.parquet"
    pq.write_table(frame, staged_path)
    staged_path.chmod(0o600)
    log.info(
        "Took %s (%s, %s layout, %d rows) as %s",
        name,
        record.file_format,
        table.layout,
        frame.num_rows,
        record.sha256[:12],
    )
    return StagedExport(
        sha256=record.sha256,
        original_name=name,
        file_format=record.file_format,
        layout=table.layout,
        monitoring_date=file_date.isoformat(),
        date_source=source,
        rows=frame.num_rows,
        no_duplicates=table.no_duplicates,
        period_start=table.period_start.isoformat() if table.period_start else None,
        period_end=table.period_end.isoformat() if table.period_end else None,
        staged_path=str(staged_path),
        raw_path=str(store.path_of(record)),
        columns=table.columns,
    )


def read_export(
    data: bytes, max_unpacked_bytes: int, max_cells: int = 2_000_000
) -> tuple[str, ExportTable]:
    """Tell the format of an export and parse its table.

    Raises UnreadableExportError or LayoutError, each carrying a Problem.
    """
    file_format = detect_format(data)
    grids = read_grids(data, file_format, max_unpacked_bytes, max_cells)
    return file_format, parse_layout(grids)


def _monitoring_date_of(
    name: str, table: ExportTable, name_date: dt.date | None, run_date: dt.date
) -> tuple[dt.date, str]:
    """Return the monitoring date of a file and where it came from.

    The header block's period end wins, then the date in the file name, then
    the run's date. A header and a name that disagree are an error.
    """
    header_date = table.period_end
    if header_date and name_date and header_date != name_date:
        raise _reject(
            name,
            Problem(
                message=f"the report period ends on {format_date(header_date)} but the file "
                f"name says {format_date(name_date)}",
                message_ru=f"период отчёта заканчивается {format_date(header_date)}, а в имени "
                f"файла стоит {format_date(name_date)}",
                action="Rename the file to the date of the report period's end, or build the "
                "report for the right period",
                action_ru="Переименуйте файл по дате окончания периода отчёта или сформируйте "
                "отчёт за нужный период",
                value=f"{format_date(header_date)} / {format_date(name_date)}",
            ),
        )
    if header_date:
        return header_date, "header"
    if name_date:
        return name_date, "file name"
    return run_date, "run"
