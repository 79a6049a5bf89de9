import datetime as dt
import threading
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from dupmon.delta import compute_delta, format_percent, status_of
from dupmon.directory import load_directory
from dupmon.normalise import PAIRS_SCHEMA

DIRECTORY = Path(__file__).resolve().parents[2] / "include/config/regions/sakhalin/municipalities.yaml"
DAY = dt.date(2025, 1, 17)


@pytest.fixture(scope="module")
def directory():
    return load_directory(DIRECTORY)


def pairs(*rows: tuple[str, str, str]) -> pd.DataFrame:
    records = []
    for key, first, second in rows:
        record = dict.fromkeys(PAIRS_SCHEMA.names)
        record.update(pair_key=key * 12, municipality_id=first, duplicate_municipality_id=second)
        records.append(record)
    return pd.DataFrame(records, columns=PAIRS_SCHEMA.names)


def row_of(delta, municipality_id):
    return next(r for r in delta.rows if r.municipality_id == municipality_id)


@pytest.mark.parametrize(
    ("eliminated", "previous", "expected"),
    [(1, 1, "100,0"), (2, 3, "66,7"), (1, 8, "12,5"), (0, 4, "0,0"), (0, 0, "—")],
)
def test_percent_format(eliminated, previous, expected):
    assert format_percent(eliminated, previous) == expected


@pytest.mark.parametrize(
    ("previous", "current", "eliminated", "expected"),
    [(1, 1, 1, "partial"), (0, 1, 0, "red"), (1, 0, 1, "green"), (0, 0, 0, "none"), (2, 2, 0, "red")],
)
def test_status(previous, current, eliminated, expected):
    assert status_of(previous, current, eliminated) == expected


def test_pair_counts_for_both_municipalities(directory):
    delta = compute_delta(DAY, pairs(("a", "kholmsky", "dolinsky")), None, None, directory)
    assert (row_of(delta, "kholmsky").current, row_of(delta, "dolinsky").current) == (1, 1)


def test_total_counts_pair_once(directory):
    delta = compute_delta(DAY, pairs(("a", "kholmsky", "dolinsky")), None, None, directory)
    assert delta.total.current == 1


def test_regional_pair_gets_own_row(directory):
    delta = compute_delta(DAY, pairs(("a", "regional", "regional")), None, None, directory)
    assert delta.rows[-1].municipality == directory.no_municipality_row


def test_regional_side_ignored(directory):
    delta = compute_delta(DAY, pairs(("a", "regional", "yuzhno_sakhalinsk")), None, None, directory)
    assert [r.municipality_id for r in delta.rows if r.current] == ["yuzhno_sakhalinsk"]


def test_eliminated_and_new(directory):
    before = pairs(("a", "kholmsky", "kholmsky"), ("b", "kholmsky", "kholmsky"))
    now = pairs(("b", "kholmsky", "kholmsky"), ("c", "kholmsky", "kholmsky"))
    row = row_of(compute_delta(DAY, now, before, DAY, directory), "kholmsky")
    assert (row.previous, row.current, row.eliminated, row.new) == (2, 2, 1, 1)


def test_unresolvable_counted(directory):
    now = pairs(("a", "kholmsky", "kholmsky"), ("b", "kholmsky", "kholmsky"))
    delta = compute_delta(DAY, now, None, None, directory, {"a" * 12})
    assert row_of(delta, "kholmsky").unresolvable == 1


def test_mass_elimination_noted(directory):
    before = pairs(*[(chr(97 + i), "kholmsky", "kholmsky") for i in range(12)])
    now = pairs(("a", "kholmsky", "kholmsky"))
    delta = compute_delta(DAY, now, before, DAY, directory)
    assert "исчезло сразу 11 из 12" in delta.notes[0]


def test_small_drop_not_noted(directory):
    before = pairs(("a", "kholmsky", "kholmsky"), ("b", "kholmsky", "kholmsky"))
    delta = compute_delta(DAY, pairs(("a", "kholmsky", "kholmsky")), before, DAY, directory)
    assert delta.notes == []


def with_bases(frame: pd.DataFrame, *bases: str) -> pd.DataFrame:
    """Give the pairs of ``frame`` the kinds of key ``bases``, in turn."""
    return frame.assign(key_basis=[bases[i % len(bases)] for i in range(len(frame))])


def test_switched_layout_noted(directory):
    before = with_bases(pairs(("a", "kholmsky", "kholmsky")), "accounts")
    now = with_bases(pairs(("b", "kholmsky", "kholmsky")), "organisations")

    delta = compute_delta(DAY, now, before, DAY, directory)

    (note,) = delta.notes
    assert "другого формата (с ID учётных записей)" in note
    assert "(без персональных данных)" in note


def test_layout_of_arrow_snapshots_noted(directory):
    # The delta step reads the key kinds from snapshots as dictionaries.
    def table(frame):
        return pa.Table.from_pandas(frame, preserve_index=False).set_column(
            PAIRS_SCHEMA.get_field_index("key_basis"),
            "key_basis",
            pa.array(frame["key_basis"]).dictionary_encode(),
        )

    before = with_bases(pairs(("a", "kholmsky", "kholmsky")), "accounts")
    now = with_bases(pairs(("b", "kholmsky", "kholmsky")), "organisations")

    delta = compute_delta(DAY, table(now), table(before), DAY, directory)

    assert len(delta.notes) == 1


def test_kinds_of_dictionary_chunks_read():
    from dupmon.delta import _bases

    # Two chunks with dictionaries of their own, each with a kind unused.
    first = pa.DictionaryArray.from_arrays(pa.array([0, 0, None]), ["accounts", "pupil"])
    second = pa.DictionaryArray.from_arrays(pa.array([1]), ["pupil", "organisations"])
    table = pa.table({"key_basis": pa.chunked_array([first, second])})

    assert _bases(table) == {"accounts", "organisations"}


@pytest.mark.parametrize(
    ("before", "now"),
    [
        (["accounts"], ["accounts"]),
        (["accounts", "organisations"], ["organisations"]),
        (["organisations"], ["organisations", "accounts"]),
        ([None], ["organisations"]),
    ],
    ids=["same", "one layout gone", "one layout added", "kinds not given"],
)
def test_same_layout_not_noted(directory, before, now):
    old = pairs(("a", "kholmsky", "kholmsky"), ("b", "kholmsky", "kholmsky"))
    new = pairs(("a", "kholmsky", "kholmsky"), ("c", "kholmsky", "kholmsky"))

    delta = compute_delta(DAY, with_bases(new, *now), with_bases(old, *before), DAY, directory)

    assert delta.notes == []


# --- Appendix 2 as a table, and its CSV and JSON writers ---------------------

TRICKY = [
    'Школа «Лицей», корпус 2',
    'МБОУ "СОШ № 1"',
    "строка\nвторая",
    "с\rвозвратом",
    "обратная \\ косая",
    "таб\tуляция и \x01управляющий",
    "",
    "эмодзи 🙂 и ё",
]


def listed_pairs(count: int) -> pd.DataFrame:
    records = []
    for number in range(count):
        record = dict.fromkeys(PAIRS_SCHEMA.names)
        text = TRICKY[number % len(TRICKY)]
        record.update(
            pair_key=f"{number:012x}" + "e" * 52,
            municipality_id=["kholmsky", "regional", "unknown", None][number % 4],
            duplicate_municipality_id=["dolinsky", "regional", "kholmsky", "anivsky"][number % 3],
            authority=text,
            organisation=f"{text} {number % 3}",
            settlement=None if number % 5 == 0 else "Холмск",
            class_name="8А, 8Б",
            intersections=text,
            duplicate_organisation=text[::-1],
            duplicate_settlement="Долинск",
            duplicate_class_name=None,
        )
        records.append(record)
    return pd.DataFrame(records, columns=PAIRS_SCHEMA.names)


def reference_csv(delta) -> str:
    """Appendix 2 written by csv.writer from the pairs as dicts, the way it was always written."""
    import csv
    import io

    from dupmon.delta import APPENDIX2_COLUMNS

    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(APPENDIX2_COLUMNS)
    for pair in delta.current_pairs:
        cells = [pair[column] for column in APPENDIX2_COLUMNS]
        writer.writerow([str(c).lower() if isinstance(c, bool) else c for c in cells])
    return buffer.getvalue()


@pytest.fixture
def tricky_delta(directory, monkeypatch):
    import dupmon.delta

    # Small batches, so that the rows cross several of them.
    monkeypatch.setattr(dupmon.delta, "WRITE_BATCH_ROWS", 7)
    now, before = listed_pairs(30), listed_pairs(20).iloc[5:]
    delta = compute_delta(DAY, now, before, DAY, directory, {f"{3:012x}"})
    delta.current_pairs.set_column(
        "first_seen", pa.array([None if n % 4 else "2024-10-17" for n in range(30)], pa.string())
    )
    return delta


def test_appendix2_csv_as_csv_writer(tricky_delta):
    from dupmon.delta import appendix2_csv

    assert appendix2_csv(tricky_delta) == reference_csv(tricky_delta)


def test_appendix2_batches_on_bounded_threads(tricky_delta, monkeypatch):
    import dupmon.delta

    threads = []
    build = dupmon.delta._csv_rows

    def recorded(batch):
        threads.append(threading.current_thread().name)
        return build(batch)

    monkeypatch.setattr(dupmon.delta, "_csv_rows", recorded)
    chunks = dupmon.delta.appendix2_csv_chunks(tricky_delta)
    next(chunks)
    next(chunks)
    started_by_first_batch = len(threads)
    list(chunks)

    # 30 pairs make 5 batches. When the first was handed over, at most one
    # more than the threads had started.
    assert started_by_first_batch <= dupmon.delta._CSV_THREADS + 1
    assert len(threads) == 5
    assert all(name.startswith("dupmon-csv") for name in threads)


def test_appendix2_batch_error_raised(tricky_delta, monkeypatch):
    import dupmon.delta

    def failing(batch):
        raise ValueError("invalid batch (test)")

    monkeypatch.setattr(dupmon.delta, "_csv_rows", failing)

    with pytest.raises(ValueError, match="invalid batch"):
        list(dupmon.delta.appendix2_csv_chunks(tricky_delta))


def test_delta_files_round_trip(tricky_delta, tmp_path):
    from dupmon.delta import PAIRS_FILE, read_delta, write_delta

    write_delta(tricky_delta, tmp_path)
    read = read_delta(tmp_path)

    assert (tmp_path / PAIRS_FILE).exists()
    assert read.rows == tricky_delta.rows
    assert read.total == tricky_delta.total
    assert list(read.current_pairs) == list(tricky_delta.current_pairs)


def test_delta_with_parquet_pairs_read(tricky_delta, tmp_path):
    import json

    import pyarrow.parquet as pq
    from dupmon.delta import PAIRS_FILE, read_delta, write_delta

    # Earlier versions stored the pairs as appendix2.parquet, with the
    # municipality ids of each pair as plain lists.
    write_delta(tricky_delta, tmp_path)
    table = pa.ipc.open_file((tmp_path / PAIRS_FILE).read_bytes()).read_all()
    ids = table["municipality_ids"].combine_chunks()
    table = table.set_column(
        table.schema.get_field_index("municipality_ids"),
        "municipality_ids",
        ids.dictionary.take(ids.indices),
    )
    pq.write_table(table, tmp_path / "appendix2.parquet")
    data = json.loads((tmp_path / "delta.json").read_text(encoding="utf-8"))
    data["current_pairs_file"] = "appendix2.parquet"
    (tmp_path / "delta.json").write_text(json.dumps(data), encoding="utf-8")
    (tmp_path / PAIRS_FILE).unlink()

    read = read_delta(tmp_path)

    assert list(read.current_pairs) == list(tricky_delta.current_pairs)


def test_delta_json_names_pairs_file(tricky_delta, tmp_path):
    import json

    from dupmon.delta import PAIRS_FILE, write_delta

    write_delta(tricky_delta, tmp_path)
    data = json.loads((tmp_path / "delta.json").read_text(encoding="utf-8"))

    assert data["current_pairs_file"] == PAIRS_FILE
    assert "current_pairs" not in data


def test_delta_without_pairs_round_trip(directory, tmp_path):
    from dupmon.delta import read_delta, write_delta

    delta = compute_delta(DAY, None, None, None, directory)
    write_delta(delta, tmp_path)

    assert list(read_delta(tmp_path).current_pairs) == []


def test_inline_delta_json_still_read(tricky_delta, tmp_path):
    import json

    from dupmon.delta import read_delta

    (tmp_path / "delta.json").write_text(
        json.dumps(tricky_delta.to_dict(), ensure_ascii=False), encoding="utf-8"
    )

    assert list(read_delta(tmp_path).current_pairs) == list(tricky_delta.current_pairs)


def test_pair_listing_items(tricky_delta):
    pairs = tricky_delta.current_pairs

    first = pairs[0]

    assert len(pairs) == 30
    assert first["number"] == 1
    assert first["municipality_ids"] == ["dolinsky", "kholmsky"]
    assert first["municipalities"] == "Городской округ «Долинский»; Холмский городской округ"
    assert first["settlement"] == ""
    assert pairs[-1] == list(pairs)[-1]


def test_pair_listing_flags(tricky_delta):
    pairs = list(tricky_delta.current_pairs)

    assert [p["is_new"] for p in pairs[:6]] == [True] * 5 + [False]
    assert [p["number"] for p in pairs if p["unresolvable"]] == [4]


def test_pair_moved_between_municipalities(directory):
    before = pairs(("a", "kholmsky", "kholmsky"))
    now = pairs(("a", "dolinsky", "dolinsky"))

    delta = compute_delta(DAY, now, before, DAY, directory)

    moved_from, moved_to = row_of(delta, "kholmsky"), row_of(delta, "dolinsky")
    assert (moved_from.previous, moved_from.eliminated) == (1, 1)
    assert (moved_to.current, moved_to.new) == (1, 1)
    assert (delta.total.eliminated, delta.total.new) == (0, 0)


def test_unknown_side_counts_other_side(directory):
    delta = compute_delta(DAY, pairs(("a", "unknown", "dolinsky")), None, None, directory)

    assert [r.municipality_id for r in delta.rows if r.current] == ["dolinsky"]


def test_no_pairs_now_all_eliminated(directory):
    baseline = pd.DataFrame(
        {
            "pair_key": ["a" * 64, "b" * 64],
            "municipality_id": ["dolinsky", "kholmsky"],
            "duplicate_municipality_id": ["dolinsky", "dolinsky"],
        }
    )

    delta = compute_delta(DAY, None, baseline, DAY - dt.timedelta(days=92), directory)

    touched = {row.municipality_id: row for row in delta.rows if row.previous}
    assert (delta.total.previous, delta.total.current, delta.total.eliminated) == (2, 0, 2)
    assert delta.total.percent_eliminated == "100,0"
    assert (touched["dolinsky"].previous, touched["dolinsky"].eliminated) == (2, 2)
    assert (touched["kholmsky"].previous, touched["kholmsky"].eliminated) == (1, 1)
    assert {row.status for row in touched.values()} == {"green"}
    assert list(delta.current_pairs) == []
