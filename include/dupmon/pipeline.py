"""The steps of a monitoring run, each callable on its own.

The Airflow tasks and the ``dupmon run`` command call these functions. Each
takes the settings of one region and the monitoring date, works on files in
that region's data folder, and returns a small JSON-serialisable summary (an
Airflow XCom). Reruns of any step give the same result.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from dupmon.delta import (
    BASIS_COLUMN,
    CURRENT_COLUMNS,
    KEY_COLUMNS,
    PAIRS_FILE,
    Delta,
    appendix1_csv,
    appendix2_csv_chunks,
    compute_delta,
    read_delta,
    write_chunks_atomic,
    write_delta_json,
    write_pairs_temporary,
)
from dupmon.directory import Directory, load_directory
from dupmon.errors import ConfigError
from dupmon.frame_stack import reuse_stack_chunks
from dupmon.huge_pages import set_transparent_huge_pages
from dupmon.ingest import ingest
from dupmon.locking import folder_lock
from dupmon.normalise import normalise, work_pairs_path
from dupmon.pseudonymise import load_secret
from dupmon.raw_store import write_atomic
from dupmon.recipients import load_recipients
from dupmon.regions import RegionConfig, load_region_config
from dupmon.register import attach_register, load_register, match_register
from dupmon.settings import Settings, configured_regions
from dupmon.snapshot import (
    choose_baseline,
    list_snapshot_dates,
    write_snapshot,
)
from dupmon.threads import note_thread_failure
from dupmon.trend import attach_history, history_figures, load_history
from dupmon.yaml_files import read_yaml

log = logging.getLogger(__name__)


@dataclass
class Region:
    """The configuration of one region: region.yaml, directory, texts and recipients."""

    config: RegionConfig
    directory: Directory
    texts: dict
    recipients: dict


# Folders the data root held directly before each region got its own folder.
_SINGLE_REGION_FOLDERS = ("raw", "quarantine", "snapshots", "reports", "work", "mail", "register")


def _locked(step):
    """Run a step holding the lock of the region's data folder (see dupmon.locking).

    First the step's process turns transparent huge pages off, unless the
    settings keep them on (see dupmon.huge_pages), and keeps freed chunks of
    Python's frame stack for reuse (see dupmon.frame_stack).
    """

    @functools.wraps(step)
    def run(settings: Settings, *args, **kwargs):
        set_transparent_huge_pages(settings.transparent_huge_pages)
        reuse_stack_chunks()
        check_data_layout(settings)
        with folder_lock(settings.region_data_dir):
            return step(settings, *args, **kwargs)

    return run


def check_data_layout(settings: Settings) -> None:
    """Raise ConfigError if the data root still has the single-region layout.

    Before regions had folders of their own, the snapshots lay in
    ``<data root>/snapshots/``. A run on such a root would start the region
    afresh, with no baseline, so it stops with a message on how to move the data.
    """
    old = settings.data_dir / "snapshots"
    if old.is_dir() and any(old.glob("monitoring_date=*")):
        present = [name for name in _SINGLE_REGION_FOLDERS if (settings.data_dir / name).exists()]
        raise ConfigError(
            f"the data root {settings.data_dir} contains the data of a single region directly "
            f"({', '.join(present)}); each region now has a folder of its own. Move those "
            f"folders into {settings.data_dir / '<region>'} (the region they belong to, such "
            f"as {settings.region_data_dir}) and rerun"
        )


def load_region(settings: Settings) -> Region:
    folder = settings.region_config_dir
    if not folder.is_dir():
        raise ConfigError(
            f"the region folder {folder} does not exist; set DUPMON_REGION to one of "
            f"{configured_regions(settings.config_dir)}"
        )
    config = load_region_config(folder)
    directory = load_directory(folder / "municipalities.yaml", config)
    texts = read_yaml(folder / "texts.yaml") or {}
    if not isinstance(texts, dict):
        raise ConfigError(
            f"{folder / 'texts.yaml'}: the file must be a mapping of names to texts, one "
            "'name: text' per line"
        )
    # The templates read the region's names with the other texts.
    texts = {"region_name": config.name, "region_name_genitive": config.name_genitive, **texts}
    recipients = load_recipients(folder / "recipients.yaml", directory)
    return Region(config=config, directory=directory, texts=texts, recipients=recipients)


def report_dir(settings: Settings, monitoring_date: dt.date) -> Path:
    return settings.reports_dir / monitoring_date.isoformat()


def secret_of(settings: Settings) -> bytes:
    return load_secret(settings.pair_key_secret, settings.secret_file, settings.data_dir)


@_locked
def run_ingest(settings: Settings, monitoring_date: dt.date) -> list[dict]:
    staged = ingest(settings, monitoring_date, secret_of(settings))
    return [
        {k: v for k, v in asdict(e).items() if k not in ("staged_path", "raw_path", "columns")}
        for e in staged
    ]


@_locked
def run_validate(settings: Settings, monitoring_date: dt.date) -> list[dict]:
    from dupmon.validate import validate

    region = load_region(settings)
    validations = validate(settings, monitoring_date, region.directory, secret_of(settings))
    outcomes = [asdict(o) for o in validations]
    # The warnings go into the справка's notes, worded for its readers.
    notes = [
        _note(outcome["file"], warning) for outcome in outcomes for warning in outcome["warnings"]
    ]
    write_atomic(
        validation_notes_path(settings, monitoring_date),
        json.dumps(notes, ensure_ascii=False).encode("utf-8"),
    )
    return outcomes


def _note(file_name: str, warning: dict) -> str:
    """Return a validation warning as a note of the справка, with its row and value if any."""
    place = []
    if warning.get("row"):
        place.append(f"строка {warning['row']}")
    if warning.get("value") is not None:
        place.append(f"«{warning['value']}»")
    return f"{file_name}: {warning['message_ru']}" + (f" ({', '.join(place)})" if place else "")


def validation_notes_path(settings: Settings, monitoring_date: dt.date) -> Path:
    return settings.work_dir / monitoring_date.isoformat() / "validation_notes.json"


@_locked
def run_normalise(settings: Settings, monitoring_date: dt.date) -> dict:
    from dupmon.normalise import write_pairs

    region = load_region(settings)
    pairs, summary = normalise(settings, monitoring_date, region.directory, secret_of(settings))
    path = work_pairs_path(settings, monitoring_date)
    temporary = path.with_name(f".{path.name}.tmp")
    write_pairs(pairs, temporary)
    temporary.replace(path)
    return summary


@_locked
def run_snapshot(settings: Settings, monitoring_date: dt.date) -> dict:
    from dupmon.normalise import read_pairs

    path = work_pairs_path(settings, monitoring_date)
    pairs = read_pairs(path)
    exports = json.loads((path.parent / "staged" / "exports.json").read_text(encoding="utf-8"))
    metadata = {
        "sources": [
            {"sha256": e["sha256"], "file_format": e["file_format"], "layout": e["layout"]}
            for e in exports
        ],
        "pairs": len(pairs),
        "key_fingerprint": check_key_fingerprint(settings, monitoring_date),
    }
    written = write_snapshot(settings.snapshots_dir, monitoring_date, pairs, metadata)
    return {"snapshot": str(written), "pairs": len(pairs)}


def check_key_fingerprint(settings: Settings, monitoring_date: dt.date) -> str:
    """Return the fingerprint of the pair-key secret; raise ConfigError if the
    snapshots of other dates were keyed with another secret.

    Pairs match between dates only under one secret: a changed secret would
    report every pair as eliminated and new.
    """
    from dupmon.pseudonymise import keyed_hash
    from dupmon.snapshot import partition_dir, read_metadata

    fingerprint = keyed_hash(secret_of(settings), "fingerprint")[:16]
    for day in list_snapshot_dates(settings.snapshots_dir):
        if day == monitoring_date:
            continue
        stored = read_metadata(partition_dir(settings.snapshots_dir, day) / "pairs.parquet")
        if stored.get("key_fingerprint", fingerprint) != fingerprint:
            raise ConfigError(
                f"the snapshot of {day.isoformat()} was keyed with another pair-key secret "
                "than the one in use now, so no pair would match between the dates. Use the "
                "secret the earlier snapshots were made with (DUPMON_PAIR_KEY_SECRET or the "
                f"file {settings.secret_file}), or move the old snapshots out of "
                f"{settings.snapshots_dir} and rebuild them"
            )
    return fingerprint


@_locked
def run_delta(
    settings: Settings,
    monitoring_date: dt.date,
    baseline: dt.date | None = None,
    baseline_rule: str = "latest",
) -> dict:
    """Compare the date's snapshot with the baseline and write the appendices.

    ``baseline_rule`` picks the baseline when ``baseline`` is not given:
    ``latest`` (the monthly run) or ``quarter`` (the quarterly справка).
    """
    region = load_region(settings)
    dates = list_snapshot_dates(settings.snapshots_dir)
    if monitoring_date not in dates:
        raise FileNotFoundError(
            f"no snapshot for {monitoring_date.isoformat()}; run the snapshot step first"
        )
    baseline_date = choose_baseline(dates, monitoring_date, baseline, baseline_rule)
    # The history has read the snapshots of the school year, and these reads reuse them.
    history = load_history(settings.snapshots_dir, monitoring_date)
    current = history.read(monitoring_date, [*CURRENT_COLUMNS, BASIS_COLUMN])
    previous = (
        history.read(baseline_date, [*KEY_COLUMNS, BASIS_COLUMN]) if baseline_date else None
    )
    entries = load_register(settings.register_file)
    unresolvable_ids, register_listing = match_register(entries, history)
    # The trend and first-seen dates need only the history, and their lookups
    # release the GIL, so they run beside the comparison.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dupmon-history") as pool:
        figures = pool.submit(history_figures, history, region.directory)
        try:
            delta = compute_delta(
                monitoring_date,
                current,
                previous,
                baseline_date,
                region.directory,
                unresolvable_ids,
            )
        except BaseException as error:
            note_thread_failure(error, figures, "The trend and first-seen dates")
            raise
        attach_history(delta, history, region.directory, figures.result())
    attach_register(delta, register_listing)
    notes_file = validation_notes_path(settings, monitoring_date)
    if notes_file.exists():
        delta.notes.extend(json.loads(notes_file.read_text(encoding="utf-8")))

    out = report_dir(settings, monitoring_date)
    write_atomic(out / "appendix1.csv", appendix1_csv(delta).encode("utf-8"), mode=0o644)
    # Appendix 2 of a large region has hundreds of thousands of pairs, so the
    # CSV is written a batch of pairs at a time. No step reads it back, so it
    # goes to disk past the page cache. The pairs file for the render step is
    # written beside it and renamed into place only after the CSV, because a
    # rerun that fails keeps the old delta.json, which needs its own pairs.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dupmon-pairs-file") as pool:
        pairs_file = pool.submit(write_pairs_temporary, delta, out)
        try:
            write_chunks_atomic(
                out / "appendix2.csv", appendix2_csv_chunks(delta), mode=0o644, direct=True
            )
        except BaseException as error:
            if pairs_file.exception() is None:
                pairs_file.result().unlink(missing_ok=True)
            else:
                note_thread_failure(error, pairs_file, f"Writing {PAIRS_FILE}")
            raise
        os.replace(pairs_file.result(), out / PAIRS_FILE)
    write_delta_json(delta, out)
    return {
        "baseline_date": delta.baseline_date,
        "previous": delta.total.previous,
        "current": delta.total.current,
        "eliminated": delta.total.eliminated,
        "new": delta.total.new,
        "percent_eliminated": delta.total.percent_eliminated,
    }


def load_delta(settings: Settings, monitoring_date: dt.date) -> Delta:
    folder = report_dir(settings, monitoring_date)
    if not (folder / "delta.json").exists():
        raise FileNotFoundError(f"{folder / 'delta.json'} is missing; run the delta step first")
    return read_delta(folder)


@_locked
def run_render(settings: Settings, monitoring_date: dt.date) -> dict:
    from dupmon.render import render_reports

    region = load_region(settings)
    files = render_reports(
        load_delta(settings, monitoring_date),
        region.directory,
        region.texts,
        settings.templates_dir,
        report_dir(settings, monitoring_date),
        pdf=True,
    )
    write_atomic(
        report_dir(settings, monitoring_date) / "report_files.json",
        json.dumps(files.to_dict(), ensure_ascii=False, indent=1).encode("utf-8"),
        mode=0o644,
    )
    return files.to_dict()


@_locked
def run_mail(
    settings: Settings,
    monitoring_date: dt.date,
    smtp,
    *,
    include_spravka: bool,
    force_resend: bool = False,
) -> dict:
    """Compose the справка and reminder messages of the date and send what the ledger lacks.

    Raises MailDeliveryError after trying every message when any failed.
    """
    from dupmon.mail import MailLedger, send_messages
    from dupmon.render import ReportFiles, compose_messages

    region = load_region(settings)
    out = report_dir(settings, monitoring_date)
    messages = compose_messages(
        load_delta(settings, monitoring_date),
        region.directory,
        region.texts,
        region.recipients,
        ReportFiles.from_dict(json.loads((out / "report_files.json").read_text(encoding="utf-8"))),
        settings.templates_dir,
        include_spravka=include_spravka,
    )
    ledger = MailLedger(settings.mail_dir / "ledger.sqlite")
    report = send_messages(
        messages, monitoring_date.isoformat(), smtp, ledger, force_resend=force_resend
    )
    summary = report.to_dict()
    write_atomic(
        out / "mail_report.json",
        json.dumps(summary, ensure_ascii=False, indent=1).encode("utf-8"),
        mode=0o644,
    )
    report.raise_for_failures()
    return summary


@_locked
def run_retention(settings: Settings) -> dict:
    """Delete raw exports and quarantined copies past the retention period."""
    from dupmon.retention import apply_retention

    return apply_retention(settings)


@_locked
def run_all(
    settings: Settings,
    monitoring_date: dt.date,
    *,
    baseline: dt.date | None = None,
    smtp=None,
    include_spravka: bool = True,
    force_resend: bool = False,
) -> dict:
    """Run every step in order; mail only when ``smtp`` settings are given."""
    summary = {
        "ingest": run_ingest(settings, monitoring_date),
        "validate": run_validate(settings, monitoring_date),
        "normalise": run_normalise(settings, monitoring_date),
        "snapshot": run_snapshot(settings, monitoring_date),
        "delta": run_delta(
            settings, monitoring_date, baseline, "quarter" if include_spravka else "latest"
        ),
        "render": run_render(settings, monitoring_date),
    }
    if smtp is not None:
        summary["mail"] = run_mail(
            settings,
            monitoring_date,
            smtp,
            include_spravka=include_spravka,
            force_resend=force_resend,
        )
    summary["retention"] = run_retention(settings)
    return summary
