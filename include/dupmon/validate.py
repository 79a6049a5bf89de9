"""Validate: the Great Expectations suite run on every staged export of a date.

The suite lives in ``include/gx/duplicate_export_suite.json``. Each
expectation's ``meta`` words its failure for the clerk, so the messages can
be edited with the checks. GX is imported inside the functions because its
import takes seconds.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from dupmon.columns import CAPTIONS
from dupmon.directory import Directory
from dupmon.errors import Problem, RejectedFileError
from dupmon.ingest import load_staged, staging_dir
from dupmon.normalise import REGIONAL, read_staged_frame, resolve_municipalities
from dupmon.quarantine import quarantine
from dupmon.raw_store import write_atomic
from dupmon.settings import Settings

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuiteValidationResult

log = logging.getLogger(__name__)

# Columns every layout has; a missing one is reported by the suite instead.
_ALWAYS = ("source_file", "source_row", "intersection_start", "intersection_end")


@dataclass
class FileValidation:
    """Outcome of the suite on one export, JSON-serialisable for the task output."""

    file: str
    sha256: str
    success: bool
    errors: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)


def load_suite_config(suite_file: Path, directory: Directory) -> dict:
    """Read the suite and fill in the region's municipality ids and directory path."""
    text = suite_file.read_text(encoding="utf-8")
    text = text.replace("$directory_file", str(directory.path).replace("\\", "/"))
    config = json.loads(text)
    allowed = [*directory.ids, REGIONAL]
    for expectation in config["expectations"]:
        if expectation["kwargs"].get("value_set") == "$municipality_ids":
            expectation["kwargs"]["value_set"] = allowed
    return config


def _build_suite(config: dict, no_duplicates: bool, columns: set[str]):
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=config["name"], meta=config.get("meta"))
    for item in config["expectations"]:
        meta = item.get("meta", {})
        # A column the layout lacks is reported once by its existence check;
        # the checks of its values would only fail with an exception.
        used = {item["kwargs"].get(k) for k in ("column", "column_A", "column_B")} - {None}
        if item["type"] != "expect_column_to_exist" and not used <= columns:
            continue
        # A «no duplicates» message has no table: only the expectations
        # written for it apply, and they apply to nothing else.
        if no_duplicates != bool(meta.get("only_for_no_duplicates_message")):
            continue
        expectation_class = _expectation_class(item["type"])
        expectation = expectation_class(**item["kwargs"], meta=meta)
        if item.get("severity"):
            expectation.severity = item["severity"]
        suite.add_expectation(expectation)
    return suite


def _expectation_class(type_name: str):
    import great_expectations as gx

    class_name = "".join(part.capitalize() for part in type_name.split("_"))
    try:
        return getattr(gx.expectations, class_name)
    except AttributeError:
        raise ValueError(f"unknown expectation type {type_name!r} in the suite file") from None


def run_suite(
    frame: pd.DataFrame,
    config: dict,
    no_duplicates: bool,
    *,
    name: str = "export",
    docs_dir: Path | None = None,
) -> ExpectationSuiteValidationResult:
    """Run the suite on one resolved staging table and return GX's result.

    With ``docs_dir`` the result is also added to the GX Data Docs site
    there, under the validation name ``name``.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # GX logs its internals (temporary folders, data sources) at INFO.
    gx_log = logging.getLogger("great_expectations")
    if gx_log.getEffectiveLevel() < logging.WARNING:
        gx_log.setLevel(logging.WARNING)

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.enable_analytics(False)
    asset = context.data_sources.add_pandas("exports").add_dataframe_asset("export")
    batch = asset.add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add(_build_suite(config, no_duplicates, set(frame.columns)))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )
    actions = []
    if docs_dir is not None:
        context.add_data_docs_site(
            site_name="dupmon",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        actions.append(gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=["dupmon"]))
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="export",
            validation_definitions=[definition],
            actions=actions,
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": ["source_row"],
                "return_unexpected_index_query": False,
            },
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame})
    return next(iter(result.run_results.values()))


def prepare_frame(
    frame: pd.DataFrame,
    columns: list[str],
    directory: Directory,
    period: tuple[str | None, str | None] = (None, None),
) -> pd.DataFrame:
    """Return a staging table with the columns the suite checks.

    ``columns`` are the columns the file has; the others are dropped so that
    the suite's column checks see what the file really holds. ``period`` is
    the report period (ISO dates) from the file's header block, if any.
    """
    frame = resolve_municipalities(frame, directory)
    a, b = frame["account_token"], frame["duplicate_account_token"]
    frame["self_pair"] = (a.notna() & b.notna() & (a == b)).astype(bool)
    frame["row_key"] = _row_keys(frame)
    frame["period_start"] = pd.to_datetime(period[0]) if period[0] else pd.NaT
    frame["period_end"] = pd.to_datetime(period[1]) if period[1] else pd.NaT
    absent = [c for c in CAPTIONS if c not in columns and c in frame and c not in _ALWAYS]
    checked = frame.drop(columns=absent)
    for column in ("intersection_start", "intersection_end"):
        checked[column] = pd.to_datetime(checked[column])
    return checked


_ROW_KEY_COLUMNS = (
    "organisation",
    "settlement",
    "class_name",
    "intersections",
    "duplicate_organisation",
    "duplicate_settlement",
    "duplicate_class_name",
    "pupil_token",
    "account_token",
    "duplicate_account_token",
)


def _row_keys(frame: pd.DataFrame) -> pd.Series:
    """Return a digest of each row's pair, direction and intersection.

    Rows A-B and B-A of one pair differ in direction, so both may appear.
    The same digest twice means a row was printed (or pasted) twice.
    """
    present = [c for c in _ROW_KEY_COLUMNS if c in frame]
    # pandas' vectorised 64-bit row hash: the digest is only compared within
    # one file, so a collision would at worst add a false warning.
    return pd.util.hash_pandas_object(frame[present], index=False).astype("uint64")


def problems_from_result(result, frame: pd.DataFrame) -> list[Problem]:
    """Word every failed expectation as one Problem per offending row."""
    problems: list[Problem] = []
    by_row = frame.drop_duplicates("source_row").set_index("source_row")
    for item in result.results:
        if item.success:
            continue
        config = item.expectation_config
        meta = config.meta or {}
        # GX 1.x gives a FailureSeverity enum whose str() is "FailureSeverity.WARNING".
        severity = "warning" if "warning" in str(getattr(config, "severity", "")).lower() else "error"
        rows = [entry["source_row"] for entry in (item.result or {}).get("unexpected_index_list") or []]
        base = dict(
            message=meta.get("message", config.type),
            message_ru=meta.get("message_ru", config.type),
            action=meta.get("action", ""),
            action_ru=meta.get("action_ru", ""),
            severity=severity,
        )
        if not rows:
            problems.append(Problem(**base))
            continue
        shown_columns = [c for c in meta.get("report_columns", []) if c in frame]
        for source_row in sorted(set(rows)):
            column, value = _shown_value(by_row.loc[source_row], shown_columns)
            problems.append(Problem(**base, row=int(source_row), column=column, value=value))
    return problems


def _shown_value(row: pd.Series, columns: list[str]) -> tuple[str | None, str | None]:
    for column in columns:
        value = row.get(column)
        if value is not None and not pd.isna(value) and str(value).strip():
            return CAPTIONS.get(column, column), str(value)
    if columns:
        return CAPTIONS.get(columns[0], columns[0]), ""
    return None, None


def validate(settings: Settings, monitoring_date: dt.date, directory: Directory) -> list[FileValidation]:
    """Validate every staged export of the date.

    Raises RejectedFileError when any file fails; those files are quarantined
    with their reports. Warnings are logged and returned, and do not stop the run.
    """
    config = load_suite_config(settings.suite_file, directory)
    outcomes: list[FileValidation] = []
    rejected: list[RejectedFileError] = []
    results_dir = staging_dir(settings, monitoring_date).parent / "validation"
    for export in load_staged(settings, monitoring_date):
        # Without a period in the header, nothing can overlap after the
        # monitoring date, which is then the period's end.
        frame = prepare_frame(
            read_staged_frame(export.staged_path),
            export.columns,
            directory,
            period=(export.period_start, export.period_end or export.monitoring_date),
        )
        result = run_suite(
            frame,
            config,
            export.no_duplicates,
            name=f"{monitoring_date.isoformat()} {export.original_name}",
            docs_dir=settings.data_dir / "data_docs",
        )
        write_atomic(
            results_dir / f"{export.sha256}.json",
            json.dumps(result.to_json_dict(), ensure_ascii=False, indent=1, default=str).encode(),
        )
        problems = problems_from_result(result, frame)
        errors = [p for p in problems if p.severity == "error"]
        warnings = [p for p in problems if p.severity == "warning"]
        for warning in warnings:
            log.warning("Validation warning: %s", warning.describe(export.original_name))
        outcomes.append(
            FileValidation(
                file=export.original_name,
                sha256=export.sha256,
                success=not errors,
                errors=[p.to_dict() for p in errors],
                warnings=[p.to_dict() for p in warnings],
            )
        )
        if errors:
            error = RejectedFileError(export.original_name, errors)
            quarantine(settings, monitoring_date, Path(export.raw_path), error)
            rejected.append(error)
        else:
            log.info("Validated %s: %d rows, %d warnings", export.original_name, len(frame), len(warnings))

    if rejected:
        raise RejectedFileError.combine(rejected)
    return outcomes


def check_file(path: Path, settings: Settings, directory: Directory) -> tuple[dict, list[Problem]]:
    """Parse and validate one file without storing anything; for ``dupmon validate``.

    Returns the file's format, layout, row count and period, and its
    problems (errors and warnings).
    """
    import secrets

    from dupmon.ingest import read_export, stage_table
    from dupmon.layout import LayoutError
    from dupmon.readers import UnreadableExportError

    data = path.read_bytes()
    try:
        file_format, table = read_export(data, settings.max_unpacked_bytes, settings.max_cells)
    except (UnreadableExportError, LayoutError) as error:
        return {"file": str(path)}, [error.problem]
    # The hashes are thrown away, so a one-off secret will do.
    staged = stage_table(table, "check", secrets.token_bytes(32))
    period = tuple(d.isoformat() if d else None for d in (table.period_start, table.period_end))
    frame = prepare_frame(staged, table.columns, directory, period=period)
    config = load_suite_config(settings.suite_file, directory)
    result = run_suite(frame, config, table.no_duplicates)
    facts = {
        "file": str(path),
        "format": file_format,
        "layout": table.layout,
        "rows": len(table.rows),
        "no_duplicates": table.no_duplicates,
        "period_start": table.period_start.isoformat() if table.period_start else None,
        "period_end": table.period_end.isoformat() if table.period_end else None,
    }
    return facts, problems_from_result(result, frame)
