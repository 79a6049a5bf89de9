"""A region's YAML files that cannot be read give a ConfigError naming the file."""

import datetime as dt
import re
import shutil

import pytest
import yaml
from dupmon.errors import ConfigError
from dupmon.pipeline import load_region
from dupmon.render import load_subjects
from dupmon.settings import INCLUDE_DIR, Settings
from dupmon.yaml_files import read_yaml

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


@pytest.mark.parametrize("file_name", ["region.yaml", "municipalities.yaml", "texts.yaml"])
def test_impossible_date_line_given(tmp_path, file_name):
    settings = _region_with(tmp_path, file_name, DAMAGE["impossible date"])
    text = (settings.config_dir / "sakhalin" / file_name).read_text(encoding="utf-8")
    line = text.splitlines().index("updated: 2024-02-30") + 1

    with pytest.raises(ConfigError) as raised:
        load_region(settings)

    assert f'in "{file_name}", line {line}, column 10' in str(raised.value)
    assert "invalid value '2024-02-30'" in str(raised.value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name: x\ncount: !!int abc\n", "invalid value 'abc' for the tag !!int"),
        ("name: x\nwhen: !!timestamp hello\n", "invalid value 'hello' for the tag !!timestamp"),
        ("name: x\nflag: !!bool yes-ish\n", "invalid value 'yes-ish' for the tag !!bool"),
        ("name: x\ncount: !!int\n", "invalid value '' for the tag !!int"),
    ],
    ids=["integer", "date", "yes or no", "empty integer"],
)
def test_bad_tagged_value_gives_place(tmp_path, text, problem):
    path = tmp_path / "texts.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ConfigError) as raised:
        read_yaml(path)

    assert str(raised.value).startswith(f"cannot read {path}: {problem}")
    assert 'in "texts.yaml", line 2, column ' in str(raised.value)


def test_control_character_gives_line(tmp_path):
    path = tmp_path / "texts.yaml"
    path.write_text("# Тексты\nname: Test\x0bregion\n", encoding="utf-8")

    with pytest.raises(ConfigError) as raised:
        read_yaml(path)

    assert str(raised.value) == (
        f"cannot read {path}: the character U+000B at line 2, column 11 is not allowed in "
        "YAML; delete it or type the text again"
    )


def test_bad_escape_gives_line(tmp_path):
    path = tmp_path / "texts.yaml"
    path.write_text('name: x\nsign: "\\U0011FFFF"\n', encoding="utf-8")

    with pytest.raises(ConfigError, match=re.escape(f"cannot read {path} near line 2: chr")):
        read_yaml(path)


def test_deep_nesting_gives_config_error(tmp_path):
    path = tmp_path / "texts.yaml"
    path.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")

    with pytest.raises(ConfigError, match="nested too deeply"):
        read_yaml(path)


def test_possible_dates_still_read(tmp_path):
    path = tmp_path / "dates.yaml"
    path.write_text("day: 2024-02-29\ntime: 2024-02-29 10:30:00\nlist: [2023-12-31]\n")

    assert read_yaml(path) == {
        "day": dt.date(2024, 2, 29),
        "time": dt.datetime(2024, 2, 29, 10, 30),
        "list": [dt.date(2023, 12, 31)],
    }


def test_safe_loader_left_unchanged(tmp_path):
    # dupmon's loader is a subclass, so PyYAML's safe loader, which other
    # code in the process may use, is unchanged.
    read_yaml(SAKHALIN / "region.yaml")

    with pytest.raises(ValueError, match="day is out of range") as raised:
        yaml.safe_load("updated: 2024-02-30\n")
    assert not isinstance(raised.value, yaml.YAMLError)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a text\n"], ids=["list", "text"])
def test_texts_file_of_wrong_shape(tmp_path, text):
    settings = _region_with(tmp_path, "texts.yaml", b"")
    (settings.config_dir / "sakhalin" / "texts.yaml").write_text(text, encoding="utf-8")

    with pytest.raises(ConfigError, match="texts.yaml: the file must be a mapping"):
        load_region(settings)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a text\n"], ids=["list", "text"])
def test_subjects_file_of_wrong_shape(tmp_path, text):
    templates = tmp_path / "templates"
    shutil.copytree(INCLUDE_DIR / "templates", templates)
    (templates / "subjects.yaml").write_text(text, encoding="utf-8")

    with pytest.raises(ConfigError, match="subjects.yaml: the file must be a mapping"):
        load_subjects(templates)
