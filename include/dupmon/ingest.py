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

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dupmon.dates import IntersectionError, find_dates, format_date, parse_day_first, parse_intersections
from dupmon.errors import Problem, RejectedFileError
from dupmon.layout import ExportTable, LayoutError, parse_layout
from dupmon.pseudonymise import keyed_hash
from dupmon.quarantine import quarantine
from dupmon.raw_store import RawRecord, RawStore, make_private_dir, write_atomic
from dupmon.readers import UnreadableExportError, detect_format, read_grids
from dupmon.settings import Settings
from dupmon.text import clean_display, match_key

log = logging.getLogger(__name__)

_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_BRACKETS = re.compile(r"\([^()]*\)")
_WORD_WITH_LETTER = re.compile(r"\S*[^\W\d_]\S*")
_IGNORED_NAMES = re.compile(r"^(\.|~\$)|\.(tmp|part|crdownload)$", re.IGNORECASE)

# Columns of a staging table, with their Arrow types. Nothing personal is
# among them: the pupil and the accounts are keyed hashes.
STAGED_SCHEMA = pa.schema(
    [
        ("source_file", pa.string()),
        ("source_row", pa.int32()),
        ("row_number", pa.string()),
        ("authority", pa.string()),
        ("organisation", pa.string()),
        ("municipality", pa.string()),
        ("settlement", pa.string()),
        ("class_name", pa.string()),
        ("intersections", pa.string()),
        ("intersection_start", pa.date32()),
        ("intersection_end", pa.date32()),
        ("duplicate_organisation", pa.string()),
        ("duplicate_municipality", pa.string()),
        ("duplicate_settlement", pa.string()),
        ("duplicate_class_name", pa.string()),
        ("pupil_token", pa.string()),
        ("account_token", pa.string()),
        ("duplicate_account_token", pa.string()),
    ]
)


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

    frame = stage_table(table, record.sha256, secret)
    staged_path = staged_dir / f"{record.sha256}.parquet"
    pq.write_table(pa.Table.from_pandas(frame, schema=STAGED_SCHEMA, preserve_index=False), staged_path)
    staged_path.chmod(0o600)
    log.info(
        "Took %s (%s, %s layout, %d rows) as %s",
        name,
        record.file_format,
        table.layout,
        len(frame),
        record.sha256[:12],
    )
    return StagedExport(
        sha256=record.sha256,
        original_name=name,
        file_format=record.file_format,
        layout=table.layout,
        monitoring_date=file_date.isoformat(),
        date_source=source,
        rows=len(frame),
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


def stage_table(table: ExportTable, sha256: str, secret: bytes) -> pd.DataFrame:
    """Turn parsed rows into a staging table: personal columns become keyed hashes."""
    records = []
    for row in table.rows:
        records.extend(_stage_row(row, sha256, secret))
    frame = pd.DataFrame.from_records(records, columns=STAGED_SCHEMA.names)
    return frame


def safe_intersection_text(text: str) -> str | None:
    """Return an unparsable intersection cell without anything that may be an
    account id (personal data): text in brackets and every word with a letter."""
    if not clean_display(text):
        return None
    without_brackets = _BRACKETS.sub(" ", text)
    # An ellipsis keeps a cell that had only words apart from an empty one.
    return clean_display(_WORD_WITH_LETTER.sub(" ", without_brackets)) or "…"


def _token(secret: bytes, kind: str, *values: str) -> str | None:
    if not all(values):
        return None
    return keyed_hash(secret, kind, *values)


def _stage_row(row: dict, sha256: str, secret: bytes) -> list[dict]:
    text = row.get("intersections", "")
    try:
        ranges = parse_intersections(text)
    except IntersectionError:
        ranges = []

    birth = parse_day_first(row.get("birth_date", "") or "")
    pupil = _token(
        secret, "pupil", match_key(row.get("pupil_name", "")), birth.isoformat() if birth else ""
    )
    account = _token(secret, "account", clean_display(row.get("account_id", "")).lower())
    base = {
        "source_file": sha256,
        "source_row": int(row["source_row"]),
        "row_number": row.get("row_number") or None,
        "authority": row.get("authority") or None,
        "organisation": row.get("organisation") or None,
        "municipality": row.get("municipality") or None,
        "settlement": row.get("settlement") or None,
        "class_name": row.get("class_name") or None,
        "duplicate_organisation": row.get("duplicate_organisation") or None,
        "duplicate_municipality": row.get("duplicate_municipality") or None,
        "duplicate_settlement": row.get("duplicate_settlement") or None,
        "duplicate_class_name": row.get("duplicate_class_name") or None,
        "pupil_token": pupil,
        "account_token": account,
    }
    if not ranges:
        shown = safe_intersection_text(text)
        return [{**base, "intersections": shown, "intersection_start": None, "intersection_end": None,
                 "duplicate_account_token": None}]

    # One cell may list overlaps with several accounts: each is its own pair.
    by_account: dict[str | None, list] = {}
    for item in ranges:
        by_account.setdefault(item.account_id, []).append(item)
    staged = []
    for account_id, items in by_account.items():
        staged.append(
            {
                **base,
                "intersections": "; ".join(item.display() for item in items),
                "intersection_start": min(item.start for item in items),
                "intersection_end": max(item.end for item in items),
                "duplicate_account_token": _token(
                    secret, "account", clean_display(account_id or "").lower()
                ),
            }
        )
    return staged

