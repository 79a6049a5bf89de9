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
import os
import re
import shutil
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dupmon.columns import PERSONAL_COLUMNS
from dupmon.dates import find_dates, format_date
from dupmon.errors import Problem, RejectedFileError
from dupmon.layout import ExportTable, LayoutError, parse_layout
from dupmon.quarantine import quarantine
from dupmon.raw_store import MappedFile, RawRecord, RawStore, make_private_dir, write_atomic
from dupmon.readers import (
    UnreadableExportError,
    detect_format,
    joined_rows_problem,
    read_grids,
    reader_warnings,
)
from dupmon.settings import Settings
from dupmon.staging import STAGED_SCHEMA, STAGED_SUFFIX, stage_frame, stage_table, write_staged

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
# Files parsed at the same time. Each file in flight keeps its parsed
# columns in memory, a few times the file's size, and maps its raw copy.
_INGEST_WORKERS = 2
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
    # The reader's warnings (Problem.to_dict), reported with validation's.
    warnings: list[dict] = field(default_factory=list)


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
    for name, path, outcome in _take_files(settings, store, files, monitoring_date, secret, building):
        if isinstance(outcome, RejectedFileError):
            quarantine(settings, monitoring_date, path, outcome)
            rejected.append(outcome)
        elif outcome is not None:
            staged.append(outcome)

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


def _take_files(
    settings: Settings,
    store: RawStore,
    files: list[Path],
    monitoring_date: dt.date,
    secret: bytes,
    staged_dir: Path,
) -> Iterator[tuple[str, Path, StagedExport | RejectedFileError | None]]:
    """Take the files in order, and yield each one's export, rejection or None (another date).

    The raw area is written here, one file after another in the order
    given. Parsing and staging, the costly part, run in worker threads
    (pyarrow releases the GIL), at most ``workers`` files at a time, which
    also bounds the memory held by files in flight.
    """
    workers = max(1, min(_INGEST_WORKERS, os.cpu_count() or 1))
    submitted: dict[str, str] = {}
    in_flight: deque = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dupmon-ingest") as pool:
        for path in files:
            name = str(path.relative_to(settings.inbox_dir))
            try:
                opened = _open_file(settings, store, path, name, monitoring_date)
            except RejectedFileError as error:
                in_flight.append((name, path, None, error))
                opened = None
            if opened is not None:
                data, record, name_date = opened
                if record.sha256 in submitted:
                    log.info("Skipping %s: the same bytes as %s", name, submitted[record.sha256])
                    continue
                submitted[record.sha256] = name
                future = pool.submit(
                    _parse_file, settings, data, name, name_date, monitoring_date, record.sha256,
                    secret, staged_dir, str(store.path_of(record)),
                )
                in_flight.append((name, path, record.sha256, future))
            while len(in_flight) > workers or (in_flight and not isinstance(in_flight[0][3], Future)):
                yield _collect(store, *in_flight.popleft())
        while in_flight:
            yield _collect(store, *in_flight.popleft())


def _collect(store: RawStore, name: str, path: Path, sha256: str | None, pending):
    """Wait for one file's parse, then record its format and date in the raw area's sidecar."""
    if isinstance(pending, RejectedFileError):
        return name, path, pending
    try:
        parsed = pending.result()
    except RejectedFileError as error:
        return name, path, error
    if parsed is None:
        return name, path, None
    # Read again, because the same bytes under another name may have added
    # that name to the sidecar since this file was stored.
    record = store.get(sha256)
    record.file_format = parsed.file_format
    record.monitoring_date, record.date_source = parsed.file_date.isoformat(), parsed.date_source
    store.save(record)
    if parsed.export is None:
        log.info("Skipping %s: its monitoring date is %s", name, parsed.file_date.isoformat())
    return name, path, parsed.export


def _open_file(
    settings: Settings, store: RawStore, path: Path, name: str, monitoring_date: dt.date
) -> tuple[MappedFile | bytes, RawRecord, dt.date | None] | None:
    """Store one inbox file in the raw area, and return its content, record and name date.

    Returns None for a file this run leaves alone: one too large whose name
    gives another date, or one taken for another date before.
    """
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

    record, is_new, data = store.put_file(path, name)
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
    return data, record, name_date


@dataclass
class _ParsedFile:
    file_format: str
    file_date: dt.date
    date_source: str
    # None when the file belongs to another monitoring date.
    export: StagedExport | None


def _parse_file(
    settings: Settings,
    data: MappedFile | bytes,
    name: str,
    name_date: dt.date | None,
    monitoring_date: dt.date,
    sha256: str,
    secret: bytes,
    staged_dir: Path,
    raw_path: str,
) -> _ParsedFile | None:
    """Parse one export and, when it is of ``monitoring_date``, write its staging table."""
    try:
        file_format, table = read_export(data, settings.max_unpacked_bytes, settings.max_cells)
    except (UnreadableExportError, LayoutError) as error:
        if name_date not in (None, monitoring_date):
            return None
        raise _reject(name, error.problem) from error

    file_date, source = _monitoring_date_of(name, table, name_date, monitoring_date)
    if file_date != monitoring_date:
        return _ParsedFile(file_format, file_date, source, None)
    if table.fault is not None:
        raise _reject(name, table.fault)

    frame = stage_frame(table, sha256, secret)
    staged_path = staged_dir / f"{sha256}{STAGED_SUFFIX}"
    write_staged(frame, staged_path)
    log.info(
        "Took %s (%s, %s layout, %d rows) as %s",
        name,
        file_format,
        table.layout,
        frame.num_rows,
        sha256[:12],
    )
    export = StagedExport(
        sha256=sha256,
        original_name=name,
        file_format=file_format,
        layout=table.layout,
        monitoring_date=file_date.isoformat(),
        date_source=source,
        rows=frame.num_rows,
        no_duplicates=table.no_duplicates,
        period_start=table.period_start.isoformat() if table.period_start else None,
        period_end=table.period_end.isoformat() if table.period_end else None,
        staged_path=str(staged_path),
        raw_path=raw_path,
        columns=table.columns,
        warnings=[problem.to_dict() for problem in table.warnings],
    )
    return _ParsedFile(file_format, file_date, source, export)


def read_export(
    data: MappedFile | bytes, max_unpacked_bytes: int, max_cells: int = 2_000_000
) -> tuple[str, ExportTable]:
    """Tell the format of an export and parse its table.

    Raises UnreadableExportError or LayoutError, each carrying a Problem.
    A fault found in a table that could be read, such as rows joined by a
    stray quote in a file with pupils' names, is the table's ``fault``:
    the caller rejects the file for it only when the file is of its date.
    """
    file_format = detect_format(data)
    if file_format != "csv" and not isinstance(data, bytes):
        # Only detect_format and the CSV reader take a MappedFile. The other
        # readers need bytes.
        data = bytes(data)
    grids = read_grids(data, file_format, max_unpacked_bytes, max_cells)
    table = parse_layout(grids)
    personal = any(column in PERSONAL_COLUMNS for column in table.columns)
    if personal and len(grids) == 1 and grids[0].rows_over_lines:
        # A table row's source_row is its index in the grid plus one.
        data_rows = {row - 1 for row in table.frame["source_row"].to_pylist()}
        table.fault = joined_rows_problem(grids, data_rows)
    table.warnings = reader_warnings(grids)
    return file_format, table


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
