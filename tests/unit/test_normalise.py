"""Attribution, pair keys and merged rows of dupmon.normalise, on staging tables built in memory.

Every pupil here is invented; the tokens stand for keyed hashes.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from dupmon.directory import load_directory
from dupmon.ingest import STAGED_SCHEMA
from dupmon.normalise import (
    PAIRS_SCHEMA,
    _classes_of_duplicates,
    _merge_rows_of_pairs,
    combination_codes,
    first_rows_of,
    pair_keys,
    read_pairs,
    read_staged_frames,
    read_staged_frames_of,
    resolve_municipalities,
    to_arrow,
    write_pairs,
)
from dupmon.pseudonymise import keyed_hash
from dupmon.staging import write_staged
from dupmon.text import match_key
from tests.unit.pair_factory import DIRECTORY_FILE

SECRET = b"normalise-test-secret-" + b"0" * 20
DOLINSK = "МБОУ СОШ №2 г.Долинск"
SCHOOL_ONE = "МБОУ СОШ № 1"
MINISTRY_SCHOOL = "СГКСУВОУ зт"


@pytest.fixture(scope="module")
def directory():
    return load_directory(DIRECTORY_FILE)


def staged(*rows: dict):
    """Return a staging table of the rows, as read_staged_frames reads one."""
    records = []
    for number, row in enumerate(rows, 1):
        record = dict.fromkeys(STAGED_SCHEMA.names)
        record.update(source_file="file-a", source_row=number + 2, row_number=str(number))
        record.update(row)
        records.append(record)
    return read_staged_frames_of(pa.Table.from_pylist(records, schema=STAGED_SCHEMA))


def two_row(organisation=DOLINSK, duplicate=SCHOOL_ONE, start=dt.date(2025, 1, 9), **extra) -> dict:
    row = {
        "authority": 'МКУ Управление ОКС МО ГО "Долинский"',
        "organisation": organisation,
        "settlement": "Долинск",
        "class_name": "7Б",
        "intersections": f"{start:%d.%m.%Y} - 12.01.2025" if start else "…",
        "intersection_start": start,
        "intersection_end": dt.date(2025, 1, 12),
        "duplicate_organisation": duplicate,
        "duplicate_settlement": "Долинск",
        "duplicate_class_name": "7А",
    }
    row.update(extra)
    return row


def keyed(frame, directory):
    resolved = resolve_municipalities(frame, directory)
    resolved["pair_key"], resolved["key_basis"] = pair_keys(resolved, SECRET)
    return resolved


def test_account_key_is_sorted_accounts(directory):
    frame = staged(two_row(account_token="b" * 64, duplicate_account_token="a" * 64))

    key = keyed(frame, directory)["pair_key"].iloc[0]

    assert key == keyed_hash(SECRET, "accounts", "a" * 64, "b" * 64)


def test_reversed_accounts_give_one_key(directory):
    frame = staged(
        two_row(account_token="a" * 64, duplicate_account_token="b" * 64),
        two_row(SCHOOL_ONE, DOLINSK, account_token="b" * 64, duplicate_account_token="a" * 64),
    )

    keys = keyed(frame, directory)["pair_key"]

    assert keys.iloc[0] == keys.iloc[1]


def test_pupil_key_uses_sorted_schools(directory):
    frame = staged(two_row(pupil_token="p" * 64))

    resolved = keyed(frame, directory)

    low, high = sorted([match_key(DOLINSK), match_key(SCHOOL_ONE)])
    assert resolved["pair_key"].iloc[0] == keyed_hash(SECRET, "pupil", "p" * 64, low, high)
    assert resolved["key_basis"].iloc[0] == "pupil"


def test_organisation_key_uses_sides_and_start(directory):
    frame = staged(two_row())

    resolved = keyed(frame, directory)

    sides = sorted(
        [
            "\x1e".join(match_key(v) for v in (DOLINSK, "Долинск", "7Б")),
            "\x1e".join(match_key(v) for v in (SCHOOL_ONE, "Долинск", "7А")),
        ]
    )
    expected = keyed_hash(SECRET, "organisations", *sides, "2025-01-09")
    assert resolved["pair_key"].iloc[0] == expected
    assert resolved["key_basis"].iloc[0] == "organisations"


def test_organisation_key_without_start(directory):
    frame = staged(two_row(start=None, intersection_end=None))

    resolved = keyed(frame, directory)

    sides = sorted(
        [
            "\x1e".join(match_key(v) for v in (DOLINSK, "Долинск", "7Б")),
            "\x1e".join(match_key(v) for v in (SCHOOL_ONE, "Долинск", "7А")),
        ]
    )
    assert resolved["pair_key"].iloc[0] == keyed_hash(SECRET, "organisations", *sides, "")


def test_spelling_variants_share_a_key(directory):
    frame = staged(two_row(), two_row(organisation="мбоу  сош № 2 г.Долинск"))

    keys = keyed(frame, directory)["pair_key"]

    assert keys.iloc[0] == keys.iloc[1]


def test_merge_joins_distinct_intersections(directory):
    frame = staged(
        two_row(
            account_token="a" * 64,
            duplicate_account_token="b" * 64,
            intersections="02.09.2024 - 10.09.2024",
            intersection_start=dt.date(2024, 9, 2),
            intersection_end=dt.date(2024, 9, 10),
        ),
        two_row(account_token="c" * 64, duplicate_account_token="d" * 64),
        two_row(
            account_token="b" * 64,
            duplicate_account_token="a" * 64,
            intersections="16.09.2024 - 20.09.2024",
            intersection_start=dt.date(2024, 9, 16),
            intersection_end=dt.date(2024, 9, 20),
        ),
        two_row(
            account_token="a" * 64,
            duplicate_account_token="b" * 64,
            intersections="02.09.2024 - 10.09.2024",
            intersection_start=dt.date(2024, 9, 2),
            intersection_end=dt.date(2024, 9, 10),
        ),
    )

    pairs = _merge_rows_of_pairs(keyed(frame, directory)[PAIRS_SCHEMA.names])

    assert list(pairs["source_row"]) == [3, 4]
    assert pairs["intersections"].iloc[0] == "02.09.2024 - 10.09.2024; 16.09.2024 - 20.09.2024"
    assert pairs["intersection_start"].iloc[0] == dt.date(2024, 9, 2)
    assert pairs["intersection_end"].iloc[0] == dt.date(2024, 9, 20)
    assert pairs["intersections"].iloc[1] == "09.01.2025 - 12.01.2025"


def test_merged_pairs_convert_to_schema(directory):
    frame = staged(
        two_row(account_token="a" * 64, duplicate_account_token="b" * 64),
        two_row(SCHOOL_ONE, DOLINSK, account_token="b" * 64, duplicate_account_token="a" * 64),
    )

    table = to_arrow(
        _merge_rows_of_pairs(keyed(frame, directory)[PAIRS_SCHEMA.names]), PAIRS_SCHEMA
    )

    assert table.schema == PAIRS_SCHEMA
    assert table.num_rows == 1


def test_duplicate_class_from_own_row():
    frame = staged(
        two_row(
            account_token="a" * 64, duplicate_account_token="b" * 64, duplicate_class_name=None
        ),
        two_row(account_token="b" * 64, duplicate_account_token="c" * 64, class_name="9В"),
        two_row(account_token="b" * 64, duplicate_account_token="d" * 64, class_name="9Г"),
    )

    classes = _classes_of_duplicates(frame)

    assert list(classes) == ["9В", "7А", "7А"]


def test_ministry_school_on_duplicate_side(directory):
    frame = staged(
        two_row(MINISTRY_SCHOOL, SCHOOL_ONE, authority="Сахминобр", settlement="Костромское"),
        two_row(SCHOOL_ONE, MINISTRY_SCHOOL, duplicate_settlement="Костромское"),
    )

    resolved = resolve_municipalities(frame, directory)

    assert list(resolved["municipality_id"]) == ["regional", "dolinsky"]
    assert resolved["duplicate_municipality_id"].iloc[1] == "regional"


def test_ministry_school_per_file(directory):
    frame = staged(
        two_row(MINISTRY_SCHOOL, SCHOOL_ONE, authority="Сахминобр", settlement="Костромское"),
        two_row(
            SCHOOL_ONE, MINISTRY_SCHOOL, duplicate_settlement="Костромское", source_file="file-b"
        ),
    )

    resolved = resolve_municipalities(frame, directory, per_file=True)

    assert resolved["duplicate_municipality_id"].iloc[1] != "regional"


def test_settlement_status(directory):
    frame = staged(two_row(settlement="Невельск"), two_row(settlement=None))

    resolved = resolve_municipalities(frame, directory)

    assert list(resolved["settlement_known"]) == ["unknown", "not checked"]
    assert list(resolved["duplicate_settlement_known"]) == ["known", "known"]


# --- work files -----------------------------------------------------------------


def staging_records() -> pa.Table:
    record = dict.fromkeys(STAGED_SCHEMA.names)
    record.update(two_row(), source_file="file-a", source_row=3, row_number="1")
    record.update(account_token="a" * 64, duplicate_account_token="b" * 64)
    return pa.Table.from_pylist([record, {**record, "source_row": 4}], schema=STAGED_SCHEMA)


@pytest.mark.parametrize("suffix", [".arrow", ".parquet"])
def test_staging_file_read_back(tmp_path, suffix):
    import pyarrow.parquet as pq

    table = staging_records()
    path = tmp_path / f"staged{suffix}"
    if suffix == ".arrow":
        write_staged(table, path)
    else:
        # The format ingest wrote before it wrote Arrow IPC files.
        pq.write_table(table, path)

    frame = read_staged_frames([path], ["organisation", "source_row", "account_token"])

    assert list(frame.columns) == ["organisation", "source_row", "account_token"]
    assert list(frame["organisation"]) == [DOLINSK, DOLINSK]
    assert str(frame["organisation"].dtype) == "category"
    assert list(frame["account_token"]) == ["a" * 64, "a" * 64]


def test_staging_file_stores_dictionaries(tmp_path):
    path = tmp_path / "staged.arrow"
    write_staged(staging_records(), path)

    schema = pa.ipc.open_file(path.read_bytes()).schema

    assert pa.types.is_dictionary(schema.field("organisation").type)
    assert schema.field("account_token").type == pa.string()
    assert path.stat().st_mode & 0o777 == 0o600


def test_work_pairs_read_back(tmp_path, directory):
    pairs = _merge_rows_of_pairs(keyed(staged(two_row()), directory)[PAIRS_SCHEMA.names])
    path = tmp_path / "pairs.arrow"

    write_pairs(pairs, path)
    table = read_pairs(path)

    assert pa.types.is_dictionary(table.schema.field("organisation").type)
    assert table.cast(PAIRS_SCHEMA).to_pylist() == to_arrow(pairs, PAIRS_SCHEMA).to_pylist()


@pytest.mark.parametrize("size", [0, 1, 7, 10_000])
def test_first_rows_match_sorted_unique(size):
    generator = np.random.default_rng(size)
    codes, _ = pd.factorize(generator.integers(0, max(1, size // 3), size))

    expected = np.unique(codes, return_index=True)[1]

    assert first_rows_of(codes).tolist() == expected.tolist()


def test_combination_codes_number_by_appearance():
    frame = pd.DataFrame(
        {
            "municipality": pd.Categorical(["Оха", "Невельск", "Оха", None, "Невельск", None]),
            "settlement": ["Оха", "Горнозаводск", "Оха", "Оха", "Невельск", "Оха"],
        }
    )

    codes, first_rows = combination_codes(frame, ["municipality", "settlement"])

    assert codes.tolist() == [0, 1, 0, 2, 3, 2]
    assert first_rows.tolist() == [0, 1, 3, 4]


@pytest.mark.parametrize("dtype", ["string", "str", object])
def test_combination_codes_one_text_column(dtype):
    generator = np.random.default_rng(3)
    keys = [f"{value:064x}" for value in generator.integers(0, 400, 3000)]
    keys[5] = keys[17] = None
    frame = pd.DataFrame({"pair_key": pd.Series(keys, dtype=dtype)})
    expected_codes, _ = pd.factorize(frame["pair_key"], use_na_sentinel=False)

    codes, first_rows = combination_codes(frame, ["pair_key"])

    assert codes.tolist() == expected_codes.tolist()
    assert first_rows.tolist() == np.unique(expected_codes, return_index=True)[1].tolist()


@pytest.mark.parametrize("max_span", [2, 7, 2**62])
def test_combination_codes_fold_when_large(monkeypatch, max_span):
    # A small limit folds the codes after nearly every column; the numbering
    # must not change.
    from dupmon import normalise

    monkeypatch.setattr(normalise, "_MAX_COMBINED_SPAN", max_span)
    generator = np.random.default_rng(5)
    columns = {
        name: pd.Categorical(generator.choice(["а", "б", "в", None], 2000))
        for name in ("authority", "municipality", "settlement")
    }
    columns["organisation"] = generator.choice(["Школа 1", "Школа 2"], 2000)
    frame = pd.DataFrame(columns)
    rows = list(frame.astype(object).itertuples(index=False, name=None))
    expected, _ = pd.factorize(pd.Series([repr(row) for row in rows]))

    codes, first_rows = combination_codes(frame, list(columns))

    assert codes.tolist() == expected.tolist()
    assert first_rows.tolist() == np.unique(expected, return_index=True)[1].tolist()
