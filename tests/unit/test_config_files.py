"""A region's YAML files that cannot be read give a ConfigError naming the file."""

import shutil

import pytest
from dupmon.errors import ConfigError
from dupmon.pipeline import load_region
from dupmon.render import load_subjects
from dupmon.settings import INCLUDE_DIR, Settings

SAKHALIN = INCLUDE_DIR / "config" / "regions" / "sakhalin"

# Text saved in Windows-1251 rather than UTF-8, and a date that does not exist.
DAMAGE = {
    "windows-1251": "\n# Сахалин\n".encode("cp1251"),
    "impossible date": b"\nupdated: 2024-02-30\n",
}


def _region_with(tmp_path, file_name: str, damage: bytes) -> Settings:
    config_dir = tmp_path / "regions"
    shutil.copytree(SAKHALIN, config_dir / "sakhalin")
    with (config_dir / "sakhalin" / file_name).open("ab") as file:
        file.write(damage)
    return Settings(data_dir=tmp_path / "data", config_dir=config_dir, region="sakhalin")


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("file_name", ["region.yaml", "municipalities.yaml", "texts.yaml"])
def test_unreadable_region_file_named(tmp_path, file_name, damage):
    settings = _region_with(tmp_path, file_name, DAMAGE[damage])

    with pytest.raises(ConfigError, match=file_name):
        load_region(settings)


@pytest.mark.parametrize("damage", DAMAGE)
def test_unreadable_subjects_file_named(tmp_path, damage):
    templates = tmp_path / "templates"
    shutil.copytree(INCLUDE_DIR / "templates", templates)
    with (templates / "subjects.yaml").open("ab") as file:
        file.write(DAMAGE[damage])

    with pytest.raises(ConfigError, match="subjects.yaml"):
        load_subjects(templates)
