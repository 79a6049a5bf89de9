"""Settings: each region's data folder, the inbox pattern and the region choice."""

from __future__ import annotations

import pytest

from dupmon.errors import ConfigError
from dupmon.settings import load_settings
from tests.two_regions import make_two_regions


def test_paths_inside_region_folder(tmp_path):
    settings = load_settings({"DUPMON_DATA_DIR": str(tmp_path / "data")})
    area = tmp_path / "data" / "sakhalin"

    paths = {
        "inbox": settings.inbox_dir,
        "raw": settings.raw_dir,
        "quarantine": settings.quarantine_dir,
        "snapshots": settings.snapshots_dir,
        "reports": settings.reports_dir,
        "work": settings.work_dir,
        "mail": settings.mail_dir,
        "data_docs": settings.data_docs_dir,
        "register": settings.register_file.parent,
    }

    assert settings.region_data_dir == area
    assert paths == {name: area / name for name in paths}


def test_other_region_other_folders(tmp_path):
    settings = load_settings({"DUPMON_DATA_DIR": str(tmp_path / "data")})

    other = settings.for_region("severnaya")

    assert other.snapshots_dir == tmp_path / "data" / "severnaya" / "snapshots"
    assert settings.snapshots_dir == tmp_path / "data" / "sakhalin" / "snapshots"


def test_inbox_pattern_takes_region(tmp_path):
    settings = load_settings({"DUPMON_INBOX": str(tmp_path / "exchange" / "{region}")})

    assert settings.for_region("severnaya").inbox_dir == tmp_path / "exchange" / "severnaya"
    assert not settings.inbox_is_shared


def test_inbox_without_pattern_is_shared(tmp_path):
    settings = load_settings({"DUPMON_INBOX": str(tmp_path / "exchange")})

    assert settings.for_region("severnaya").inbox_dir == tmp_path / "exchange"
    assert settings.inbox_is_shared


def test_data_override_moves_inbox(tmp_path):
    settings = load_settings({}, data_dir=tmp_path / "other")

    assert settings.inbox_dir == tmp_path / "other" / "sakhalin" / "inbox"


def test_region_variable_parsed(tmp_path):
    settings = load_settings({"DUPMON_REGIONS": " sakhalin, severnaya ,"})

    assert settings.regions == ("sakhalin", "severnaya")


@pytest.mark.parametrize("name", ["../sakhalin", "sakhalin/raw", ".hidden", "сахалин", ""])
def test_invalid_region_name_rejected(name):
    settings = load_settings({})

    with pytest.raises(ConfigError, match="invalid region"):
        settings.for_region(name)


def test_invalid_region_variable_rejected():
    with pytest.raises(ConfigError, match="DUPMON_REGIONS"):
        load_settings({"DUPMON_REGIONS": "sakhalin,../etc"})


def test_single_region_is_default():
    assert load_settings({}).region == "sakhalin"


def test_several_regions_need_choice(tmp_path):
    settings = load_settings(make_two_regions(tmp_path))

    with pytest.raises(ConfigError, match="set DUPMON_REGION"):
        _ = settings.snapshots_dir


def test_region_variable_chooses(tmp_path):
    settings = load_settings({**make_two_regions(tmp_path), "DUPMON_REGION": "severnaya"})

    assert settings.region_name == "severnaya"


def test_huge_pages_off_by_default():
    assert load_settings({}).transparent_huge_pages is False


@pytest.mark.parametrize(
    ("text", "expected"), [("on", True), ("ON ", True), ("yes", True), ("off", False), ("0", False)]
)
def test_huge_pages_variable_parsed(text, expected):
    settings = load_settings({"DUPMON_TRANSPARENT_HUGE_PAGES": text})

    assert settings.transparent_huge_pages is expected


def test_invalid_huge_pages_value_rejected():
    with pytest.raises(ValueError, match="DUPMON_TRANSPARENT_HUGE_PAGES: expected on or off"):
        load_settings({"DUPMON_TRANSPARENT_HUGE_PAGES": "sometimes"})
