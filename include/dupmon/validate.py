"""Validate: the Great Expectations suite run on the staged exports of a date.

The suite lives in ``include/gx/duplicate_export_suite.json``. Each
expectation's ``meta`` words its failure for the clerk, so the messages can
be edited with the checks. GX is imported inside the functions because its
import takes seconds.

The exports of a date that have the same columns, the same kind (table or
«no duplicates» message) and both rows or both none are validated together,
in one GX run whose row index names the file and the row: GX's own cost is
mostly per run, not per row. Each file still gets its own outcome, result
file and quarantine report. GX returns a bounded sample of the failing rows
(``SUMMARY``); the rows the clerk's messages name, all of them, are found
again with pandas (``unexpected_rows``), only for the expectations that
failed.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dupmon import data_docs
from dupmon.columns import CAPTIONS
from dupmon.deferred_import import deferring
from dupmon.directory import Directory
from dupmon.errors import ConfigError, Problem, RejectedFileError
from dupmon.frame_stack import reuse_stack_chunks
from dupmon.ingest import StagedExport, load_staged, staging_dir
from dupmon.normalise import (
    REGIONAL,
    read_staged_frames,
    read_staged_frames_of,
    resolve_municipalities,
)
from dupmon.pseudonymise import keyed_hash
from dupmon.quarantine import quarantine
from dupmon.raw_store import write_atomic
from dupmon.settings import Settings
from dupmon.threads import note_thread_failure

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuiteValidationResult

log = logging.getLogger(__name__)

# Columns every layout has; a missing one is reported by the suite instead.
_ALWAYS = ("source_file", "source_row", "intersection_start", "intersection_end")
# The column of the file's name, which GX reports with the row of each failure.
FILE_COLUMN = "file"
# How many failing values and rows GX keeps per expectation for Data Docs.
PARTIAL_UNEXPECTED_COUNT = 20
# Modules GX imports only for expectations, metrics and charts the suite
# does not use (KL divergence, Kolmogorov-Smirnov tests, Altair charts).
# Deferring them took about 0.8 s off GX's import (see dupmon.deferred_import).
GX_DEFERRED_MODULES = ("scipy.stats", "altair")
# The folder, in the cache folder, of the compiled Data Docs templates.
TEMPLATE_CACHE = "data_docs_templates"


@dataclass
class FileValidation:
    """Outcome of the suite on one export, JSON-serialisable for the task output."""

    file: str
    sha256: str
    success: bool
    errors: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)


def load_suite_config(suite_file: Path, directory: Directory) -> dict:
    """Read the suite and fill in the region's municipality ids and directory path.

    Raises ConfigError naming the file for a file that is not such a suite.
    """
    try:
        config = json.loads(suite_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read the suite file {suite_file}: {error}") from error
    expectations = config.get("expectations") if isinstance(config, dict) else None
    if not isinstance(expectations, list) or not all(
        isinstance(item, dict)
        and isinstance(item.get("type"), str)
        and isinstance(item.get("kwargs"), dict)
        for item in expectations
    ):
        raise ConfigError(
            f"cannot read the suite file {suite_file}: it must be a JSON object with an "
            "expectations list, each expectation with a type and kwargs"
        )
    config["file"] = str(suite_file)
    allowed = [*directory.ids, REGIONAL]
    directory_file = str(directory.path).replace("\\", "/")
    for expectation in expectations:
        type_name, kwargs = expectation["type"], expectation["kwargs"]
        if kwargs.get("value_set") == "$municipality_ids":
            kwargs["value_set"] = allowed
        if type_name not in _NOT_ROW_LEVEL and type_name not in _UNEXPECTED:
            raise ConfigError(
                f"the suite file {suite_file} uses {type_name}, for which dupmon cannot "
                f"list the failing rows; use one of {sorted([*_NOT_ROW_LEVEL, *_UNEXPECTED])}"
            )
        # The path goes into the texts after parsing, where a quote in it
        # cannot break the JSON.
        meta = expectation.get("meta")
        if not isinstance(meta, dict):
            continue
        for key, value in meta.items():
            if isinstance(value, str):
                meta[key] = value.replace("$directory_file", directory_file)
    return config


def import_great_expectations():
    """Import Great Expectations with its analytics off and its logging at WARNING.

    GX logs about two hundred INFO lines while it is imported, and its
    internals (temporary folders, data sources) while it runs. They would
    fill the validate task's log, so the level is set before the import.
    Levels set on the GX loggers before the call are kept. The modules in
    ``GX_DEFERRED_MODULES`` load only if something uses them. The pattern
    check's metric for categorical columns (``dupmon.gx_metrics``) is
    registered with the import. Freed chunks of Python's frame stack are
    kept for reuse, which took about a quarter off the import (see
    dupmon.frame_stack).

    The import builds some 240 thousand objects that live as long as the
    process, and leaves about two thousand unreachable ones. Python's cyclic
    garbage collector ran about 340 times during it, for 0.3 s of a 1.2 s
    import, and later full collections walked the same objects again. So
    the collector is paused for the import. After a first import, every
    object then alive moves to the permanent generation (``gc.freeze``),
    which the collector skips. Such an object is still freed when nothing
    refers to it, but not as part of a reference cycle. ``validate`` reads
    and resolves its first rows while GX is imported, so those are frozen
    too. They form no cycles, and a test checks that they are freed after
    the step. Garbage not yet collected is frozen as well: GX's two
    thousand objects, about 0.4 MB, and any cycles the caller dropped. A
    long-lived process collects first (``dupmon_airflow.preload``).
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    gx_log = logging.getLogger("great_expectations")
    if gx_log.level == logging.NOTSET and gx_log.getEffectiveLevel() < logging.WARNING:
        gx_log.setLevel(logging.WARNING)
    chosen = _gx_module_loggers()
    first = "great_expectations" not in sys.modules
    if first:
        reuse_stack_chunks()
    collecting = gc.isenabled()
    gc.disable()
    try:
        with deferring(GX_DEFERRED_MODULES):
            import great_expectations

            # Registers the pattern check's metric for categorical columns.
            import dupmon.gx_metrics  # noqa: F401
    finally:
        if collecting:
            gc.enable()
    if first:
        gc.freeze()

    # Some GX modules set their own logger to INFO when imported. Those
    # follow the GX logger again.
    for name, logger in _gx_module_loggers().items():
        if name not in chosen:
            logger.setLevel(logging.NOTSET)
    return great_expectations


def _gx_module_loggers() -> dict[str, logging.Logger]:
    """Return the loggers below ``great_expectations`` that have a level of their own."""
    return {
        name: logger
        for name, logger in list(logging.root.manager.loggerDict.items())
        if name.startswith("great_expectations.")
        and isinstance(logger, logging.Logger)
        and logger.level != logging.NOTSET
    }


def _used_columns(item: dict) -> set[str]:
    return {item["kwargs"].get(k) for k in ("column", "column_A", "column_B")} - {None}


def _build_suite(gx, config: dict, no_duplicates: bool, columns: set[str]):
    expectations = []
    dumps: list[tuple[int, str, dict]] = []
    for position, item in enumerate(config["expectations"], start=1):
        meta = item.get("meta", {})
        # A column the layout lacks is reported once by its existence check;
        # the checks of its values would only fail with an exception.
        if item["type"] != "expect_column_to_exist" and not _used_columns(item) <= columns:
            continue
        # A «no duplicates» message has no table: only the expectations
        # written for it apply, and they apply to nothing else.
        if no_duplicates != bool(meta.get("only_for_no_duplicates_message")):
            continue
        expectation_class = _expectation_class(gx, item["type"])
        expectation = expectation_class(**item["kwargs"], meta=meta)
        if item.get("severity"):
            expectation.severity = item["severity"]
        # A suite given the whole list keeps a check equal to an earlier one,
        # so its failing rows would be reported twice. Equal is GX's rule in
        # add_expectation: every field but these four.
        dump = expectation.dict(exclude={"id", "rendered_content", "notes", "meta"})
        for earlier, type_name, earlier_dump in dumps:
            if type_name == item["type"] and earlier_dump == dump:
                raise ConfigError(
                    f"the suite file {config.get('file', config['name'])} lists the same "
                    f"{type_name} check twice, as expectations {earlier} and {position}; "
                    "delete one of them"
                )
        dumps.append((position, item["type"], dump))
        expectations.append(expectation)
    # add_expectation dumps both expectations again for every earlier one,
    # where the check above dumps each expectation once.
    return gx.ExpectationSuite(
        name=config["name"], meta=config.get("meta"), expectations=expectations
    )


def _expectation_class(gx, type_name: str):
    class_name = "".join(part.capitalize() for part in type_name.split("_"))
    try:
        return getattr(gx.expectations, class_name)
    except AttributeError:
        raise ValueError(f"unknown expectation type {type_name!r} in the suite file") from None


def suite_frame(frame: pd.DataFrame, config: dict) -> pd.DataFrame:
    """Return the columns of ``frame`` that GX reads: the checked ones and the row index.

    GX copies the frame it is given when it drops null rows, so the columns
    only the clerk's messages show stay out. Categorical columns stay
    categorical: their patterns are matched once per category
    (dupmon.gx_metrics).
    """
    used = {FILE_COLUMN, "source_row"}
    for item in config["expectations"]:
        used |= _used_columns(item)
    return frame[[column for column in frame.columns if column in used]]


def run_suite(
    frame: pd.DataFrame,
    config: dict,
    no_duplicates: bool,
    *,
    name: str = "export",
    docs_dir: Path | None = None,
    cache_dir: Path | None = None,
    cache_key: bytes | None = None,
) -> ExpectationSuiteValidationResult:
    """Run the suite on a prepared staging table (prepare_frame) and return GX's result.

    With ``docs_dir`` the result is also added to the GX Data Docs site
    there, under the validation name ``name``. With ``cache_dir`` and
    ``cache_key`` too, the compiled templates of its pages are kept there
    for later processes, authenticated with the key (``template_key``).
    """
    gx = import_great_expectations()
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )
    from great_expectations.execution_engine import pandas_execution_engine

    # GX hashes every row of a frame under HASH_THRESHOLD bytes for the batch
    # marker pandas_data_fingerprint, which dupmon never reads: the raw copy's
    # SHA-256 identifies a file. At a million rows the hash took 0.26 s of a
    # 0.8 s run, so it is skipped, as GX itself skips it for larger frames.
    # NOTE: the setting is GX's module constant, so it holds for every GX
    # run in the process.
    pandas_execution_engine.HASH_THRESHOLD = 0
    checked = suite_frame(frame, config)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.enable_analytics(False)
    asset = context.data_sources.add_pandas("exports").add_dataframe_asset("export")
    batch = asset.add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add(_build_suite(gx, config, no_duplicates, set(checked.columns)))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )
    if docs_dir is not None:
        context.add_data_docs_site(site_name="dupmon", site_config=data_docs_site(docs_dir))
        from dupmon.data_docs_view import COMPILED_TEMPLATES

        folder = None if cache_dir is None else Path(cache_dir) / TEMPLATE_CACHE
        COMPILED_TEMPLATES.keep_in(folder, cache_key)
    index_columns = [column for column in (FILE_COLUMN, "source_row") if column in checked]
    run_id = RunIdentifier(run_time=dt.datetime.now(dt.timezone.utc))
    # The validation definition runs without a checkpoint. A checkpoint
    # would have no action here, and adding and running one serialises the
    # suite and the definition again.
    result = definition.run(
        batch_parameters={"dataframe": checked},
        # SUMMARY keeps PARTIAL_UNEXPECTED_COUNT failing values and rows per
        # expectation. COMPLETE would list every failing row, a million for a
        # bad file of a million rows, in the result and in Data Docs.
        result_format={
            "result_format": "SUMMARY",
            "partial_unexpected_count": PARTIAL_UNEXPECTED_COUNT,
            "unexpected_index_column_names": index_columns,
            "return_unexpected_index_query": False,
        },
        run_id=run_id,
    )
    if docs_dir is not None:
        identifier = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
            run_id=run_id,
            batch_identifier=result.batch_id,
        )
        _build_data_docs(context, docs_dir, identifier, suite.name, name, result.success)
    return result


def data_docs_site(docs_dir: Path) -> dict:
    """Return the configuration of the GX Data Docs site in ``docs_dir``."""
    # GX's own page view compiles its templates again at every Data Docs
    # build, so the pages of suites and validations use dupmon's view,
    # which compiles each template once per process.
    view = {"module_name": "dupmon.data_docs_view", "class_name": "PageView"}
    return {
        "class_name": "SiteBuilder",
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(docs_dir),
        },
        "site_section_builders": {
            "expectations": {"view": view},
            "validations": {"view": dict(view)},
        },
    }


def _build_data_docs(context, docs_dir: Path, identifier, suite_name: str, name: str, success):
    """Add the pages of one validation to the Data Docs site, and list them in its index.

    GX's own index is not built: it would delete the pages of earlier
    validations (see dupmon.data_docs).
    """
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    docs_dir = Path(docs_dir)
    # The new page is found on disk: GX's URL of a page does not quote the
    # site's folder, so a folder with '#', '?' or '%' in its path would be
    # misread from it.
    before = data_docs.validation_pages(docs_dir)
    context.build_data_docs(
        site_names=["dupmon"],
        resource_identifiers=[identifier, ExpectationSuiteIdentifier(name=suite_name)],
        build_index=False,
    )
    new_pages = sorted(data_docs.validation_pages(docs_dir) - before)
    data_docs.record_validation(docs_dir, new_pages, name, bool(success))


def prepare_frame(
    frame: pd.DataFrame,
    columns: list[str],
    directory: Directory,
    period: tuple[str | None, str | None] = (None, None),
    file_name: str = "",
) -> pd.DataFrame:
    """Return a staging table with the columns the suite checks, for one file.

    ``columns`` are the columns the file has; the others are dropped so that
    the suite's column checks see what the file really holds. ``period`` is
    the report period (ISO dates) from the file's header block, if any.
    """
    periods = {name: period for name in frame["source_file"].dropna().unique()}
    names = {name: file_name for name in periods}
    return prepare_group(frame, columns, directory, periods, names)


def prepare_group(
    frame: pd.DataFrame,
    columns: list[str],
    directory: Directory,
    periods: dict[str, tuple[str | None, str | None]],
    names: dict[str, str],
) -> pd.DataFrame:
    """Return the staging tables of several files of one layout, prepared for the suite.

    ``frame`` contains the rows of every file (``source_file``), ``periods`` the
    report period of each file and ``names`` its original name, which the
    column ``file`` shows. Each file is resolved as if it were alone.
    """
    # The row keys read only columns of the staging tables, and numpy
    # releases the GIL, so they are made on a thread during the resolution.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dupmon-row-keys") as pool:
        row_keys = pool.submit(_row_keys, frame)
        try:
            frame = resolve_municipalities(frame, directory, per_file=True)
            a, b = frame["account_token"], frame["duplicate_account_token"]
            frame["self_pair"] = (a.notna() & b.notna() & (a == b)).fillna(False).astype(bool)
            frame["row_key"] = row_keys.result()
        except BaseException as error:
            note_thread_failure(error, row_keys, "The row keys")
            raise
    file_codes = frame["source_file"].cat.codes.to_numpy()
    files = list(frame["source_file"].cat.categories)
    for position, column in enumerate(("period_start", "period_end")):
        days = [periods.get(name, (None, None))[position] for name in files] + [None]
        values = pd.to_datetime(pd.Series(days, dtype=object)).to_numpy(dtype="datetime64[s]")
        frame[column] = values[np.where(file_codes >= 0, file_codes, len(files))]
    shown_names = [names.get(name, name) for name in files]
    if len(set(shown_names)) < len(shown_names):
        shown_names = [
            f"{shown} ({name[:12]})" for shown, name in zip(shown_names, files, strict=True)
        ]
    frame[FILE_COLUMN] = pd.Categorical.from_codes(
        file_codes, categories=pd.Index(shown_names, dtype=object)
    )
    frame["row_number_sequence"] = _row_number_sequence(frame, "row_number" in columns)
    absent = [c for c in CAPTIONS if c not in columns and c in frame and c not in _ALWAYS]
    checked = frame.drop(columns=absent)
    for column in ("intersection_start", "intersection_end"):
        checked[column] = _datetimes(checked[column])
    return checked


# Values of row_number_sequence, the codes _row_number_sequence gives them.
ROW_NUMBER_SEQUENCE = ("continues", "skips", "not checked")
# Row numbers of more digits are not compared, so their cast to int64 cannot overflow.
_MAX_ROW_NUMBER_DIGITS = 9


def _row_number_sequence(frame: pd.DataFrame, has_numbers: bool) -> pd.Categorical:
    """Return, for each row, whether its number (№ п/п) skips numbers after the row above.

    A row ``skips`` when its number is more than one above that of the
    nearest numbered row above it in the same file. Such a gap is where a
    row was lost: deleted by hand, or joined to the row above by a quote
    opened by mistake that the reader could not tell from a cell over
    lines. A number equal to the one above (cells merged down), lower (a
    file put together from several), or the first of a file ``continues``.
    A number is plain digits, followed or not by a dot or a bracket
    («12.», «12)»). Rows without one are ``not checked``.
    """
    codes = np.full(len(frame), 2, dtype=np.int8)
    categories = pd.Index(ROW_NUMBER_SEQUENCE, dtype=object)
    if not has_numbers or not len(frame):
        return pd.Categorical.from_codes(codes, categories=categories)
    # pa.array returns the column as a ChunkedArray, and the kernels run on
    # its chunks. Wrapped in pa.chunked_array([...]), each value would be
    # converted in Python, 0.6 s for a million rows.
    text = pa.array(frame["row_number"], type=pa.string())
    text = pc.utf8_rtrim(pc.fill_null(text, ""), characters=".)")
    plain = pc.and_(
        pc.ascii_is_decimal(text), pc.less_equal(pc.binary_length(text), _MAX_ROW_NUMBER_DIGITS)
    )
    files = frame["source_file"].cat.codes.to_numpy()
    # In the two-row layout every row has a plain number, and then no rows
    # are taken out.
    numbered = slice(None)
    if not pc.all(plain).as_py():
        numbered = np.flatnonzero(plain.to_numpy(zero_copy_only=False))
        text, files = text.take(pa.array(numbered)), files[numbered]
    numbers = pc.cast(text, pa.int64()).to_numpy()
    skips = np.zeros(len(numbers), dtype=bool)
    skips[1:] = (numbers[1:] > numbers[:-1] + 1) & (files[1:] == files[:-1])
    codes[numbered] = skips.astype(np.int8)
    return pd.Categorical.from_codes(codes, categories=categories)


def _datetimes(values: pd.Series) -> pd.Series:
    array = pa.array(values, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_date32(array.type):
        seconds = array.cast(pa.timestamp("s"))
        return pd.Series(seconds.to_numpy(zero_copy_only=False), index=values.index)
    return pd.to_datetime(values)


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
    """Return a digest of each row's file, pair, direction and intersection.

    Rows A-B and B-A of one pair differ in direction, so both may appear.
    The same digest twice means a row was printed (or pasted) twice in one
    file. The digest is a 64-bit hash that is only compared within one
    validation, so a collision would at worst add a false warning.
    """
    present = [c for c in (*_ROW_KEY_COLUMNS, "source_file") if c in frame]
    digest = np.zeros(len(frame), dtype=np.uint64)
    for column in present:
        digest = _mix(digest, _hash_values(frame[column]))
    return pd.Series(digest, index=frame.index, dtype="uint64")


_PRIME = np.uint64(0x100000001B3)


def _mix(digest: np.ndarray, values: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        mixed = (digest ^ values) * _PRIME
        return mixed ^ (mixed >> np.uint64(29))


def _hash_values(series: pd.Series) -> np.ndarray:
    """Return a 64-bit hash of each cell; equal cells, nulls included, hash equal."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        categories = pd.util.hash_array(np.asarray(series.cat.categories, dtype=object))
        table = np.append(categories, np.uint64(0x9E3779B97F4A7C15))
        codes = series.cat.codes.to_numpy()
        return table[np.where(codes >= 0, codes, len(categories))]
    words = _fixed_width_words(series)
    if words is not None:
        return words
    return pd.util.hash_array(
        np.asarray(series.astype(object).where(series.notna(), None), dtype=object)
    )


def _fixed_width_words(series: pd.Series) -> np.ndarray | None:
    """Hash text cells of one width, a multiple of 8 bytes, from Arrow's buffer at once.

    The keyed hashes of a staging table are such cells (64 hex digits).
    Returns None for any other column, which the caller hashes cell by cell.
    """
    array = pa.array(series, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)) or not len(
        array
    ):
        return None
    array = array.cast(pa.large_string())
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[
        array.offset : array.offset + len(array) + 1
    ]
    valid = np.asarray(array.is_valid(), dtype=bool)
    lengths = np.diff(offsets)[valid]
    width = int(lengths[0]) if len(lengths) else 0
    starts = offsets[:-1][valid]
    if not width or width % 8 or (lengths != width).any() or (starts % 8).any():
        return None
    data = array.buffers()[2]
    words = np.frombuffer(data, dtype=np.uint64, count=len(data) // 8)
    per_cell = width // 8
    first = int(starts[0]) // 8 if len(starts) else 0
    if (np.diff(starts) == width).all() and first + len(starts) * per_cell <= len(words):
        # Cells back to back, as Arrow builds them: a view of one row of
        # words per cell, where gathering each word would copy the column.
        cell_words = words[first : first + len(starts) * per_cell].reshape(-1, per_cell)
    else:
        cell_words = words[(starts // 8)[:, None] + np.arange(per_cell)]
    digest = np.zeros(len(starts), dtype=np.uint64)
    for word in range(per_cell):
        digest = _mix(digest, cell_words[:, word])
    result = np.full(len(array), np.uint64(0x9E3779B97F4A7C15), dtype=np.uint64)
    result[valid] = digest
    return result


# --- the failing rows ---------------------------------------------------------


def _null(frame: pd.DataFrame, kwargs: dict) -> np.ndarray:
    return frame[kwargs["column"]].isna().to_numpy()


def _not_in_set(frame: pd.DataFrame, kwargs: dict) -> np.ndarray:
    values = frame[kwargs["column"]]
    return (values.notna() & ~values.isin(kwargs["value_set"])).to_numpy(dtype=bool)


def _not_matching(frame: pd.DataFrame, kwargs: dict) -> np.ndarray:
    # GX 1.24 tests column.astype(str).str.contains(regex), which is re.search;
    # here it runs once per distinct value.
    values = frame[kwargs["column"]]
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    pattern = re.compile(kwargs["regex"])
    matches = np.array([pattern.search(str(value)) is not None for value in uniques] + [True])
    return ~matches[np.where(codes >= 0, codes, len(uniques))]


def _repeated(frame: pd.DataFrame, kwargs: dict) -> np.ndarray:
    values = frame[kwargs["column"]]
    present = values.notna().to_numpy()
    repeated = np.zeros(len(values), dtype=bool)
    repeated[present] = values[present].duplicated(keep=False).to_numpy()
    return repeated


def _not_greater(frame: pd.DataFrame, kwargs: dict) -> np.ndarray:
    first, second = frame[kwargs["column_A"]], frame[kwargs["column_B"]]
    missing_a, missing_b = first.isna().to_numpy(), second.isna().to_numpy()
    ignored = {
        "both_values_are_missing": missing_a & missing_b,
        "either_value_is_missing": missing_a | missing_b,
        "neither": np.zeros(len(frame), dtype=bool),
    }[kwargs.get("ignore_row_if", "both_values_are_missing")]
    greater = (first >= second) if kwargs.get("or_equal") else (first > second)
    return ~ignored & ~greater.fillna(False).to_numpy(dtype=bool)


# The rows each row-level expectation type reports, as GX 1.24's pandas
# engine decides them; tests/unit/test_validate.py compares both on failing rows.
_UNEXPECTED = {
    "expect_column_values_to_not_be_null": _null,
    "expect_column_values_to_be_in_set": _not_in_set,
    "expect_column_values_to_match_regex": _not_matching,
    "expect_column_values_to_be_unique": _repeated,
    "expect_column_pair_values_a_to_be_greater_than_b": _not_greater,
}
_NOT_ROW_LEVEL = {
    "expect_column_to_exist",
    "expect_table_row_count_to_equal",
    "expect_table_row_count_to_be_between",
}


def unexpected_rows(frame: pd.DataFrame, expectation_type: str, kwargs: dict) -> np.ndarray | None:
    """Return a mask of the rows a row-level expectation fails on; None for the other kinds."""
    function = _UNEXPECTED.get(expectation_type)
    return None if function is None else function(frame, kwargs)


def problems_from_result(
    result, frame: pd.DataFrame, source_file: str | None = None
) -> list[Problem]:
    """Word every failed expectation as one Problem per offending row.

    ``source_file`` limits the rows to one file of a frame that contains several.
    """
    problems: list[Problem] = []
    in_file = None
    if source_file is not None:
        in_file = (frame["source_file"] == source_file).to_numpy(dtype=bool)
    for item in result.results:
        if item.success:
            continue
        config = item.expectation_config
        meta = config.meta or {}
        # GX 1.x gives a FailureSeverity enum whose str() is "FailureSeverity.WARNING".
        severity = (
            "warning" if "warning" in str(getattr(config, "severity", "")).lower() else "error"
        )
        base = dict(
            message=meta.get("message", config.type),
            message_ru=meta.get("message_ru", config.type),
            action=meta.get("action", ""),
            action_ru=meta.get("action_ru", ""),
            severity=severity,
        )
        failing = unexpected_rows(frame, config.type, dict(config.kwargs))
        if failing is None or not failing.any():
            if failing is not None:
                log.warning("GX reports %s as failed, but no row fails it", config.type)
            problems.append(Problem(**base))
            continue
        if in_file is not None:
            failing = failing & in_file
        shown_columns = [c for c in meta.get("report_columns", []) if c in frame]
        problems.extend(_row_problems(frame, failing, in_file, shown_columns, base))
    return problems


def _row_problems(frame, failing, in_file, shown_columns, base) -> list[Problem]:
    """Return one Problem per source row with a failing staged row, in row order.

    The value shown is the one of the row's first staged row, since one
    printed row with overlaps with several accounts is staged as several.
    """
    rows = frame["source_row"].to_numpy()
    scope = np.flatnonzero(in_file) if in_file is not None else np.arange(len(frame))
    failing_rows = np.unique(rows[failing])
    if not len(failing_rows):
        return []
    distinct, first = np.unique(rows[scope], return_index=True)
    first_of = scope[first[np.searchsorted(distinct, failing_rows)]]
    shown_values = frame.iloc[first_of][shown_columns].astype(object)
    problems = []
    rows_and_values = zip(failing_rows.tolist(), shown_values.itertuples(index=False), strict=True)
    for source_row, values in rows_and_values:
        column, value = _shown_value(values, shown_columns)
        problems.append(Problem(**base, row=int(source_row), column=column, value=value))
    return problems


def _shown_value(values, columns: list[str]) -> tuple[str | None, str | None]:
    for column, value in zip(columns, values, strict=True):
        if value is not None and not pd.isna(value) and str(value).strip():
            return CAPTIONS.get(column, column), str(value)
    if columns:
        return CAPTIONS.get(columns[0], columns[0]), ""
    return None, None


def _groups(exports: list[StagedExport]) -> list[list[StagedExport]]:
    """Put together the exports one GX run can validate: same columns and kind, and
    either all with rows or all without, so that every table check holds for each."""
    groups: dict[tuple, list[StagedExport]] = {}
    for export in exports:
        key = (export.no_duplicates, tuple(sorted(export.columns)), export.rows == 0)
        groups.setdefault(key, []).append(export)
    return list(groups.values())


def template_key(secret: bytes) -> bytes:
    """Return the key that authenticates kept Data Docs templates.

    It is derived from the pair-key secret, which is kept outside the data root.
    """
    return bytes.fromhex(keyed_hash(secret, "Data Docs templates"))


def validate(
    settings: Settings,
    monitoring_date: dt.date,
    directory: Directory,
    secret: bytes | None = None,
) -> list[FileValidation]:
    """Validate every staged export of the date.

    Raises RejectedFileError when any file fails; those files are quarantined
    with their reports. Warnings are logged and returned, and do not stop the run.
    With the pair-key ``secret``, the compiled templates of the Data Docs pages
    are kept for later processes.
    """
    config = load_suite_config(settings.suite_file, directory)
    exports = load_staged(settings, monitoring_date)
    results_dir = staging_dir(settings, monitoring_date).parent / "validation"
    cache_key = None if secret is None else template_key(secret)
    by_file: dict[str, FileValidation] = {}
    rejected: dict[str, RejectedFileError] = {}
    # GX's import is about a second of Python. Reading and resolving the
    # first group's rows is mostly pyarrow and numpy, which release the GIL,
    # so the import runs on a thread meanwhile.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dupmon-gx-import") as pool:
        gx_import = pool.submit(import_great_expectations) if exports else None
        for group in _groups(exports):
            try:
                frame = prepare_group(
                    read_staged_frames([export.staged_path for export in group]),
                    group[0].columns,
                    directory,
                    # Without a period in the header, nothing can overlap after
                    # the monitoring date, which is then the period's end.
                    {e.sha256: (e.period_start, e.period_end or e.monitoring_date) for e in group},
                    {e.sha256: e.original_name for e in group},
                )
                if gx_import is not None:
                    gx_import.result()
            except BaseException as error:
                if gx_import is not None:
                    note_thread_failure(error, gx_import, "The import of Great Expectations")
                raise
            result = run_suite(
                frame,
                config,
                group[0].no_duplicates,
                name=f"{monitoring_date.isoformat()} {', '.join(e.original_name for e in group)}",
                docs_dir=settings.data_docs_dir,
                cache_dir=settings.cache_dir,
                cache_key=cache_key,
            )
            text = json.dumps(
                result.to_json_dict(), ensure_ascii=False, indent=1, default=str
            ).encode()
            for export in group:
                # Files validated together share one GX result.
                write_atomic(results_dir / f"{export.sha256}.json", text)
                outcome, error = _outcome(settings, monitoring_date, export, result, frame)
                by_file[export.sha256] = outcome
                if error is not None:
                    rejected[export.sha256] = error

    if rejected:
        raise RejectedFileError.combine(
            [rejected[e.sha256] for e in exports if e.sha256 in rejected]
        )
    return [by_file[export.sha256] for export in exports]


def _outcome(settings, monitoring_date, export: StagedExport, result, frame):
    problems = [Problem(**item) for item in export.warnings]
    problems += problems_from_result(result, frame, export.sha256)
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity == "warning"]
    for warning in warnings:
        log.warning("Validation warning: %s", warning.describe(export.original_name))
    outcome = FileValidation(
        file=export.original_name,
        sha256=export.sha256,
        success=not errors,
        errors=[p.to_dict() for p in errors],
        warnings=[p.to_dict() for p in warnings],
    )
    if not errors:
        log.info(
            "Validated %s: %d rows, %d warnings", export.original_name, export.rows, len(warnings)
        )
        return outcome, None
    error = RejectedFileError(export.original_name, errors)
    quarantine(settings, monitoring_date, Path(export.raw_path), error)
    return outcome, error


def check_file(path: Path, settings: Settings, directory: Directory) -> tuple[dict, list[Problem]]:
    """Parse and validate one file without storing anything; for ``dupmon validate``.

    Returns the file's format, layout, row count and period, and its
    problems (errors and warnings).
    """
    import secrets

    from dupmon.ingest import read_export, stage_frame
    from dupmon.layout import LayoutError
    from dupmon.readers import UnreadableExportError

    data = path.read_bytes()
    try:
        file_format, table = read_export(data, settings.max_unpacked_bytes, settings.max_cells)
    except (UnreadableExportError, LayoutError) as error:
        return {"file": str(path)}, [error.problem]
    if table.fault is not None:
        return {"file": str(path)}, [table.fault]
    # The hashes are thrown away, so a one-off secret will do.
    staged = read_staged_frames_of(stage_frame(table, "check", secrets.token_bytes(32)))
    period = tuple(d.isoformat() if d else None for d in (table.period_start, table.period_end))
    frame = prepare_frame(staged, table.columns, directory, period=period, file_name=path.name)
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
    return facts, table.warnings + problems_from_result(result, frame)
