"""region.yaml: loading and checks, and which regions are due in an interval."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dupmon.errors import ConfigError
from dupmon.regions import due_regions, fire_times, load_region_config, select_regions
from dupmon.settings import load_settings
from tests.two_regions import FIXTURES, make_two_regions

ROOT = Path(__file__).resolve().parents[2]
SAKHALIN = ROOT / "include" / "config" / "regions" / "sakhalin"
SEVERNAYA = FIXTURES / "regions" / "severnaya"
VALID = """\
name: Северная область
name_genitive: Северной области
timezone: Europe/Moscow
schedule:
  spravka: "0 10 17 1,4,7,10 *"
  reminders: "0 10 17 2,3,5,6,8,9,11,12 *"
"""


def region_folder(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "severnaya"
    folder.mkdir(exist_ok=True)
    (folder / "region.yaml").write_text(text, encoding="utf-8")
    return folder


def load_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_region_config(region_folder(tmp_path, text))
    return str(caught.value)


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=dt.UTC)


# --- the bundled and the test region --------------------------------------------


def test_bundled_region_config():
    config = load_region_config(SAKHALIN)

    assert (config.id, config.name, config.timezone) == (
        "sakhalin",
        "Сахалинская область",
        "Asia/Sakhalin",
    )
    assert config.schedule == {
        "spravka": "0 9 17 1,4,7,10 *",
        "reminders": "0 9 17 2,3,5,6,8,9,11,12 *",
    }


def test_test_region_config():
    config = load_region_config(SEVERNAYA)

    assert (config.id, config.name_genitive, config.timezone) == (
        "severnaya",
        "Северной области",
        "Europe/Moscow",
    )


# --- invalid files -----------------------------------------------------------------


def test_missing_file_names_example(tmp_path):
    folder = tmp_path / "severnaya"
    folder.mkdir()

    with pytest.raises(ConfigError) as caught:
        load_region_config(folder)

    assert str(folder / "region.yaml") in str(caught.value)
    assert str(SAKHALIN / "region.yaml") in str(caught.value)


def test_not_a_mapping(tmp_path):
    assert "must be a mapping" in load_error(tmp_path, "- Северная область\n")


def test_unknown_key(tmp_path):
    message = load_error(tmp_path, VALID + "time_zone: Europe/Moscow\n")

    assert "unknown key 'time_zone'" in message
    assert "timezone" in message


def test_missing_name(tmp_path):
    message = load_error(tmp_path, VALID.replace("name: Северная область\n", ""))

    assert "name must be non-empty text; found None" in message


def test_unknown_timezone(tmp_path):
    message = load_error(tmp_path, VALID.replace("Europe/Moscow", "MSK+0"))

    assert "timezone 'MSK+0' is not a known IANA time zone" in message
    assert "Asia/Sakhalin" in message


def test_schedule_not_mapping(tmp_path):
    text = VALID.split("schedule:")[0] + 'schedule: "0 10 17 * *"\n'

    assert "schedule must be a mapping" in load_error(tmp_path, text)


def test_schedule_missing_reminders(tmp_path):
    text = VALID.replace('  reminders: "0 10 17 2,3,5,6,8,9,11,12 *"\n', "")

    assert "schedule.reminders must be a cron expression; found None" in load_error(tmp_path, text)


def test_schedule_unknown_key(tmp_path):
    text = VALID + '  monthly: "0 10 17 * *"\n'

    assert "unknown key schedule.monthly" in load_error(tmp_path, text)


def test_invalid_cron(tmp_path):
    message = load_error(tmp_path, VALID.replace('"0 10 17 1,4,7,10 *"', '"0 10 32 1,4,7,10 *"'))

    assert "schedule.spravka '0 10 32 1,4,7,10 *' is not a valid cron expression" in message
    assert "five fields" in message


def test_cron_with_seconds_rejected(tmp_path):
    message = load_error(tmp_path, VALID.replace('"0 10 17 1,4,7,10 *"', '"0 0 10 17 1,4,7,10 *"'))

    assert "is not a valid cron expression" in message


def test_invalid_folder_name(tmp_path):
    folder = tmp_path / "северная"
    folder.mkdir()
    (folder / "region.yaml").write_text(VALID, encoding="utf-8")

    with pytest.raises(ConfigError, match="invalid region 'северная'"):
        load_region_config(folder)


# --- select_regions ----------------------------------------------------------------


@pytest.fixture
def two_region_settings(tmp_path):
    environ = {"DUPMON_DATA_DIR": str(tmp_path / "data"), **make_two_regions(tmp_path)}
    return load_settings(environ)


def test_select_every_region_sorted(two_region_settings):
    assert select_regions(two_region_settings) == ["sakhalin", "severnaya"]


def test_select_skips_folder_without_region_file(two_region_settings):
    (two_region_settings.config_dir / "drafts").mkdir()

    assert select_regions(two_region_settings) == ["sakhalin", "severnaya"]


def test_select_requested(two_region_settings):
    assert select_regions(two_region_settings, ["severnaya"]) == ["severnaya"]


def test_select_unknown_region(two_region_settings):
    with pytest.raises(ConfigError, match="region 'kamchatka' has no folder"):
        select_regions(two_region_settings, ["kamchatka"])


def test_select_none_configured(tmp_path):
    settings = load_settings({"DUPMON_CONFIG_DIR": str(tmp_path / "empty")})

    with pytest.raises(ConfigError, match="no region is configured"):
        select_regions(settings)


# --- fire_times and due_regions --------------------------------------------------------


def test_fire_time_in_region_clock():
    zone = load_region_config(SAKHALIN).zone

    times = fire_times("0 9 17 1,4,7,10 *", zone, utc(2025, 1, 16, 21), utc(2025, 1, 16, 22))

    assert times == [utc(2025, 1, 16, 22)]


def test_fire_time_at_start_excluded():
    zone = load_region_config(SAKHALIN).zone

    times = fire_times("0 9 17 1,4,7,10 *", zone, utc(2025, 1, 16, 22), utc(2025, 1, 16, 23))

    assert times == []


def test_due_one_of_two_regions():
    regions = [load_region_config(SAKHALIN), load_region_config(SEVERNAYA)]

    sakhalin_hour = due_regions(regions, "spravka", utc(2025, 1, 16, 21), utc(2025, 1, 16, 22))
    moscow_hour = due_regions(regions, "spravka", utc(2025, 1, 17, 6), utc(2025, 1, 17, 7))

    assert sakhalin_hour == [{"region": "sakhalin", "monitoring_date": "2025-01-17"}]
    assert moscow_hour == [{"region": "severnaya", "monitoring_date": "2025-01-17"}]


def test_due_date_on_region_clock():
    # 09:00 on the 17th in Sakhalin is still the 16th in UTC.
    regions = [load_region_config(SAKHALIN)]

    due = due_regions(regions, "reminders", utc(2025, 2, 16, 21), utc(2025, 2, 16, 22))

    assert due == [{"region": "sakhalin", "monitoring_date": "2025-02-17"}]


def test_due_both_in_long_interval():
    regions = [load_region_config(SAKHALIN), load_region_config(SEVERNAYA)]

    due = due_regions(regions, "spravka", utc(2025, 1, 16), utc(2025, 1, 18))

    assert [entry["region"] for entry in due] == ["sakhalin", "severnaya"]


def test_due_once_for_several_fire_times(caplog):
    regions = [load_region_config(SAKHALIN)]

    due = due_regions(regions, "reminders", utc(2025, 2, 1), utc(2025, 3, 31))

    assert due == [{"region": "sakhalin", "monitoring_date": "2025-03-17"}]
    assert "2025-02-17, 2025-03-17" in caplog.text
