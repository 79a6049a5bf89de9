import datetime as dt

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dupmon.normalise import DICTIONARY_COLUMNS, PAIRS_SCHEMA, to_arrow
from dupmon.snapshot import (
    choose_baseline,
    list_snapshot_dates,
    partition_dir,
    read_metadata,
    read_snapshot,
    read_snapshot_table,
    write_snapshot,
)

DAY = dt.date(2025, 1, 17)


def pairs(*keys: str) -> pd.DataFrame:
    rows = []
    for number, key in enumerate(keys, 1):
        row = dict.fromkeys(PAIRS_SCHEMA.names)
        row.update(pair_key=key, key_basis="accounts", class_name="8", source_row=number,
                   intersection_start=dt.date(2025, 1, 9), intersection_end=dt.date(2025, 1, 12))
        rows.append(row)
    return pd.DataFrame(rows, columns=PAIRS_SCHEMA.names)


def test_snapshot_round_trip(tmp_path):
    write_snapshot(tmp_path, DAY, pairs("a", "b"), {})
    assert list(read_snapshot(tmp_path, DAY)["pair_key"]) == ["a", "b"]


def test_snapshot_schema_is_explicit(tmp_path):
    path = write_snapshot(tmp_path, DAY, pairs("a"), {})
    assert pq.read_schema(path).remove_metadata() == PAIRS_SCHEMA


def dictionary_table(
    frame: pd.DataFrame,
    index_type: pa.DataType | None = None,
    value_type: pa.DataType | None = None,
) -> pa.Table:
    """Return the pairs as a work copy stores them: DICTIONARY_COLUMNS as dictionaries."""
    index_type = index_type or pa.int32()
    value_type = value_type or pa.string()
    table = to_arrow(frame, PAIRS_SCHEMA)
    columns = [
        table[name].cast(value_type).dictionary_encode().cast(pa.dictionary(index_type, value_type))
        if name in DICTIONARY_COLUMNS
        else table[name]
        for name in table.column_names
    ]
    return pa.table(columns, names=table.column_names)


def test_pair_keys_stored_uncompressed(tmp_path):
    path = write_snapshot(tmp_path, DAY, pairs("a" * 64, "b" * 64), {})

    row_group = pq.ParquetFile(path).metadata.row_group(0)
    compression = {
        row_group.column(i).path_in_schema: row_group.column(i).compression
        for i in range(row_group.num_columns)
    }

    assert compression.pop("pair_key") == "UNCOMPRESSED"
    assert set(compression.values()) == {"SNAPPY"}


@pytest.mark.parametrize(
    ("index_type", "value_type"),
    [(pa.int32(), pa.string()), (pa.int8(), pa.large_string())],
    ids=["int32-string", "int8-large-string"],
)
def test_snapshot_from_dictionaries(tmp_path, index_type, value_type):
    frame = pairs("a", "b", "c")
    frame.loc[1, "organisation"] = "МБОУ СОШ № 2"
    table = dictionary_table(frame, index_type, value_type)

    path = write_snapshot(tmp_path, DAY, table, {"pairs": 3})

    assert pq.read_schema(path).remove_metadata() == PAIRS_SCHEMA
    assert read_metadata(path) == {"pairs": 3, "monitoring_date": DAY.isoformat()}
    assert pq.read_table(path).replace_schema_metadata(None).equals(to_arrow(frame, PAIRS_SCHEMA))
    assert read_snapshot_table(tmp_path, DAY).equals(to_arrow(frame, PAIRS_SCHEMA))


def test_snapshot_null_in_dictionary(tmp_path):
    frame = pairs("a", "b")
    table = dictionary_table(frame)
    organisation = pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int32()), [None, "Школа"])
    table = table.set_column(
        table.schema.get_field_index("organisation"), "organisation", organisation
    )

    path = write_snapshot(tmp_path, DAY, table, {})

    assert pq.read_table(path)["organisation"].to_pylist() == [None, "Школа"]


def test_snapshot_dictionary_pages(tmp_path):
    path = write_snapshot(tmp_path, DAY, dictionary_table(pairs("a", "b")), {})

    row_group = pq.ParquetFile(path).metadata.row_group(0)
    pages = {
        row_group.column(i).path_in_schema: row_group.column(i).has_dictionary_page
        for i in range(row_group.num_columns)
    }
    assert all(pages[name] for name in DICTIONARY_COLUMNS)
    assert not pages["pair_key"]


def test_snapshot_same_from_frame_and_dictionaries(tmp_path):
    frame = pairs("a", "b")
    from_frame = write_snapshot(tmp_path / "frame", DAY, frame, {"pairs": 2})
    from_table = write_snapshot(tmp_path / "table", DAY, dictionary_table(frame), {"pairs": 2})

    assert pq.read_table(from_frame).equals(pq.read_table(from_table))
    assert pq.read_schema(from_frame).metadata == pq.read_schema(from_table).metadata


def test_rerun_replaces_partition(tmp_path):
    write_snapshot(tmp_path, DAY, pairs("a", "b"), {})
    write_snapshot(tmp_path, DAY, pairs("c"), {})
    assert list(read_snapshot(tmp_path, DAY)["pair_key"]) == ["c"]


def test_replaced_snapshot_kept(tmp_path):
    write_snapshot(tmp_path, DAY, pairs("a", "b"), {})
    write_snapshot(tmp_path, DAY, pairs("c"), {})
    kept = list((tmp_path / "_replaced").rglob("*.parquet"))
    assert [list(pq.read_table(p)["pair_key"].to_pylist()) for p in kept] == [["a", "b"]]


def test_same_content_not_archived(tmp_path):
    write_snapshot(tmp_path, DAY, pairs("a"), {})
    write_snapshot(tmp_path, DAY, pairs("a"), {})
    assert not (tmp_path / "_replaced").exists()


def test_no_temporary_file_left(tmp_path):
    write_snapshot(tmp_path, DAY, pairs("a"), {})
    assert [p.name for p in partition_dir(tmp_path, DAY).iterdir()] == ["pairs.parquet"]


def test_failed_write_keeps_old_snapshot(tmp_path):
    write_snapshot(tmp_path, DAY, pairs("a"), {})
    broken = pairs("b").assign(source_row="not a number")
    with pytest.raises(Exception):
        write_snapshot(tmp_path, DAY, broken, {})
    assert list(read_snapshot(tmp_path, DAY)["pair_key"]) == ["a"]


def test_dates_listed_in_order(tmp_path):
    for day in (dt.date(2025, 1, 17), dt.date(2024, 10, 17)):
        write_snapshot(tmp_path, day, pairs("a"), {})
    assert list_snapshot_dates(tmp_path) == [dt.date(2024, 10, 17), dt.date(2025, 1, 17)]


def test_baseline_latest_earlier():
    dates = [dt.date(2024, 10, 17), dt.date(2024, 12, 17), dt.date(2025, 1, 17)]
    assert choose_baseline(dates, DAY) == dt.date(2024, 12, 17)


def test_baseline_none_for_first_date():
    assert choose_baseline([DAY], DAY) is None


def test_requested_baseline_must_exist():
    with pytest.raises(ValueError, match="no snapshot for the baseline 2024-11-17"):
        choose_baseline([dt.date(2024, 10, 17)], DAY, dt.date(2024, 11, 17))


def test_requested_baseline_must_be_earlier():
    with pytest.raises(ValueError, match="not earlier"):
        choose_baseline([DAY], DAY, DAY)


def test_quarter_rule_skips_monthly_snapshots():
    dates = [dt.date(2024, 10, 17), dt.date(2024, 11, 17), dt.date(2024, 12, 17)]
    assert choose_baseline(dates, DAY, rule="quarter") == dt.date(2024, 10, 17)


def test_quarter_rule_falls_back_to_latest():
    dates = [dt.date(2024, 12, 17)]
    assert choose_baseline(dates, DAY, rule="quarter") == dt.date(2024, 12, 17)


def test_reordered_content_not_archived(tmp_path):
    write_snapshot(tmp_path, DAY, pairs("a", "b"), {})
    write_snapshot(tmp_path, DAY, pairs("b", "a").assign(source_row=[2, 1]), {})
    assert not (tmp_path / "_replaced").exists()


def test_arrow_table_written(tmp_path):
    import pyarrow as pa

    table = pa.Table.from_pandas(pairs("a"), schema=PAIRS_SCHEMA, preserve_index=False)
    path = write_snapshot(tmp_path, DAY, table, {"pairs": 1})
    assert pq.read_schema(path).remove_metadata() == PAIRS_SCHEMA


def test_metadata_kept(tmp_path):
    from dupmon.snapshot import read_metadata

    path = write_snapshot(tmp_path, DAY, pairs("a"), {"pairs": 1})
    assert read_metadata(path) == {"pairs": 1, "monitoring_date": DAY.isoformat()}
