"""The register of pairs that cannot be eliminated (dupmon.register): reading, checks, matching."""

from __future__ import annotations

import datetime as dt

import pytest

from dupmon.delta import compute_delta
from dupmon.directory import load_directory
from dupmon.register import (
    CURRENT,
    NOT_FOUND,
    RESOLVED,
    RegisterError,
    attach_register,
    load_register,
    match_register,
)
from dupmon.trend import History, load_history
from tests.unit.pair_factory import DIRECTORY_FILE, frame, id_of, key_of, make_pair, write_dates

OCTOBER = dt.date(2024, 10, 17)
JANUARY = dt.date(2025, 1, 17)
HEADER = (
    "pair_id,organisation,class_name,duplicate_organisation,duplicate_class_name,"
    "intersection_start,reason,reported_by,letter,reported_on\n"
)
STUCK = make_pair(
    "stuck",
    organisation="МБОУ СОШ №2 г.Долинск",
    class_name="7Б",
    duplicate_organisation="МБОУ СОШ № 1",
    duplicate_class_name="7А",
    start=dt.date(2025, 1, 9),
)
GONE = make_pair("gone", "kholmsky", start=dt.date(2024, 10, 2))


def write(tmp_path, text: str, encoding: str = "utf-8"):
    path = tmp_path / "unresolvable.csv"
    path.write_bytes(text.encode(encoding))
    return path


def sample_history() -> History:
    """October has both pairs, January only STUCK."""
    return History(
        monitoring_date=JANUARY,
        snapshots={OCTOBER: frame([GONE, STUCK]), JANUARY: frame([STUCK])},
    )


# --- reading --------------------------------------------------------------


def test_missing_register_is_empty(tmp_path):
    assert load_register(tmp_path / "none.csv") == []


def test_register_by_pair_id(tmp_path):
    path = write(
        tmp_path,
        HEADER + f"{id_of('stuck').upper()},,,,,,Слияние учётных записей невозможно,"
        "УО Долинский,№ 12-345 от 20.01.2025,21.01.2025\n",
    )

    [entry] = load_register(path)

    assert entry.line == 2
    assert entry.pair_id == id_of("stuck")
    assert entry.reason == "Слияние учётных записей невозможно"
    assert entry.letter == "№ 12-345 от 20.01.2025"
    assert entry.reported_on == dt.date(2025, 1, 21)


def test_register_by_description(tmp_path):
    path = write(
        tmp_path,
        HEADER + ',МБОУ СОШ №2 г.Долинск,7Б,МБОУ СОШ № 1,7А,"9.01.2025 - 12.01.2025",'
        "Причина,,№ 7,2025-01-21\n",
    )

    [entry] = load_register(path)

    assert entry.pair_id == ""
    assert entry.intersection_start == dt.date(2025, 1, 9)
    assert entry.reported_on == dt.date(2025, 1, 21)


def test_register_old_header_accepted(tmp_path):
    path = write(
        tmp_path,
        "pair_id,reason,reported_by,letter,reported_on\n"
        f"{id_of('stuck')},Причина,УО,№ 7,21.01.2025\n",
    )

    assert [entry.pair_id for entry in load_register(path)] == [id_of("stuck")]


def test_register_excel_semicolon_cp1251(tmp_path):
    text = (
        "pair_id;organisation;class_name;duplicate_organisation;duplicate_class_name;"
        "intersection_start;reason;reported_by;letter;reported_on\r\n"
        ";МБОУ СОШ №2 г.Долинск;7Б;МБОУ СОШ № 1;7А;09.01.2025;Причина;;№ 7;21.01.2025\r\n"
        ";;;;;;;;;\r\n"
    )
    path = write(tmp_path, text, encoding="cp1251")

    [entry] = load_register(path)

    assert entry.organisation == "МБОУ СОШ №2 г.Долинск"
    assert entry.reason == "Причина"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("abc,,,,,,Причина,,№ 7,21.01.2025", "line 3: invalid pair_id 'abc'"),
        (",Школа,5,,5,01.10.2024,Причина,,№ 7,21.01.2025", "line 3: the row names no pair"),
        (f"{'a' * 12},,,,,,,,№ 7,21.01.2025", "line 3: reason is empty"),
        (f"{'a' * 12},,,,,,Причина,,,21.01.2025", "line 3: letter is empty"),
        (f"{'a' * 12},,,,,,Причина,,№ 7,32.01.2025", "line 3: invalid reported_on '32.01.2025'"),
        (f"{'a' * 12},,,,,,Причина,,№ 7,", "line 3: invalid reported_on ''"),
        (",Школа,5,Лицей,5,вчера,Причина,,№ 7,21.01.2025", "line 3: invalid intersection_start"),
    ],
)
def test_invalid_row_names_line(tmp_path, row, message):
    valid = f"{'b' * 12},,,,,,Причина,,№ 1,20.01.2025\n"
    path = write(tmp_path, HEADER + valid + row + "\n")

    with pytest.raises(RegisterError, match=message) as raised:
        load_register(path)

    assert str(path) in str(raised.value)


def test_header_without_identification(tmp_path):
    path = write(tmp_path, "organisation,reason,letter,reported_on\nШкола,Причина,№ 7,21.01.2025\n")

    with pytest.raises(RegisterError, match="line 1: the header lacks the column.*class_name"):
        load_register(path)


def test_header_without_letter(tmp_path):
    path = write(tmp_path, "pair_id,reason,reported_on\n")

    with pytest.raises(RegisterError, match="line 1: .*letter"):
        load_register(path)


# --- matching -------------------------------------------------------------


def entries_of(tmp_path, *rows: str):
    return load_register(write(tmp_path, HEADER + "".join(row + "\n" for row in rows)))


def test_match_by_pair_id(tmp_path):
    entries = entries_of(tmp_path, f"{id_of('stuck')},,,,,,Причина,,№ 7,21.01.2025")

    ids, listed = match_register(entries, sample_history())

    assert ids == {id_of("stuck")}
    assert listed[0]["status"] == CURRENT
    assert listed[0]["organisation"] == "МБОУ СОШ №2 г.Долинск"
    assert listed[0]["intersection_start"] == "2025-01-09"


def test_match_by_description_folds_spelling(tmp_path):
    entries = entries_of(
        tmp_path,
        ',"мбоу сош № 2 г.Долинск",7б,МБОУ  СОШ №1,7А,09.01.2025,Причина,,№ 7,21.01.2025',
    )

    ids, listed = match_register(entries, sample_history())

    assert ids == {id_of("stuck")}
    assert listed[0]["status"] == CURRENT


def test_match_by_description_either_side_first(tmp_path):
    entries = entries_of(
        tmp_path, ",МБОУ СОШ № 1,7А,МБОУ СОШ №2 г.Долинск,7Б,09.01.2025,Причина,,№ 7,21.01.2025"
    )

    ids, _ = match_register(entries, sample_history())

    assert ids == {id_of("stuck")}


def test_description_needs_same_start(tmp_path):
    entries = entries_of(
        tmp_path, ",МБОУ СОШ №2 г.Долинск,7Б,МБОУ СОШ № 1,7А,10.01.2025,Причина,,№ 7,21.01.2025"
    )

    ids, listed = match_register(entries, sample_history())

    assert ids == set()
    assert listed[0]["status"] == NOT_FOUND


def test_gone_pair_reported_resolved(tmp_path):
    entries = entries_of(tmp_path, f"{id_of('gone')},,,,,,Причина,УО Холмский,№ 9,18.10.2024")

    ids, listed = match_register(entries, sample_history())

    assert ids == set()
    assert listed[0]["status"] == RESOLVED
    assert listed[0]["last_seen"] == "2024-10-17"
    assert listed[0]["organisation"] == GONE["organisation"]
    assert listed[0]["reported_by"] == "УО Холмский"


def test_unknown_pair_logged(tmp_path, caplog):
    entries = entries_of(tmp_path, f"{'f' * 12},,,,,,Причина,,№ 9,18.10.2024")

    with caplog.at_level("WARNING", logger="dupmon.register"):
        _, listed = match_register(entries, sample_history())

    assert listed[0]["status"] == NOT_FOUND
    assert "line 2" in caplog.text


def test_attach_register_numbers_pairs(tmp_path):
    directory = load_directory(DIRECTORY_FILE)
    other = make_pair("other")
    entries = entries_of(tmp_path, f"{id_of('stuck')},,,,,,Причина,,№ 7,21.01.2025")
    ids, listed = match_register(entries, sample_history())
    delta = compute_delta(JANUARY, frame([other, STUCK]), None, None, directory, ids)

    attach_register(delta, listed)

    assert delta.register[0]["numbers"] == [2]
    assert delta.total.unresolvable == 1
    assert [pair["unresolvable"] for pair in delta.current_pairs] == [False, True]
    assert key_of("stuck").startswith(delta.register[0]["pair_ids"][0])


def test_description_match_reads_snapshots(tmp_path):
    snapshots = tmp_path / "snapshots"
    write_dates(snapshots, {OCTOBER: [GONE, STUCK], JANUARY: [STUCK]})
    entries = entries_of(
        tmp_path, ",МБОУ СОШ № 1,7А,МБОУ СОШ №2 г.Долинск,7Б,09.01.2025,Причина,,№ 7,21.01.2025"
    )

    ids, listed = match_register(entries, load_history(snapshots, JANUARY))

    assert ids == {id_of("stuck")}
    assert listed[0]["organisation"] == "МБОУ СОШ №2 г.Долинск"


def test_gone_pair_found_on_disk(tmp_path):
    snapshots = tmp_path / "snapshots"
    write_dates(snapshots, {OCTOBER: [GONE, STUCK], JANUARY: [STUCK]})
    described = f",{GONE['organisation']},7Б,{GONE['duplicate_organisation']},7А,02.10.2024"
    entries = entries_of(tmp_path, described + ",Причина,,№ 9,18.10.2024")

    _, listed = match_register(entries, load_history(snapshots, JANUARY))

    assert listed[0]["status"] == RESOLVED
    assert listed[0]["last_seen"] == "2024-10-17"


def test_empty_register_reads_nothing(tmp_path):
    history = History(monitoring_date=JANUARY, snapshots_dir=tmp_path / "absent")

    assert match_register([], history) == (set(), [])
