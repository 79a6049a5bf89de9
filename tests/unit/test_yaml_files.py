import datetime as dt
from pathlib import Path

import pytest
import yaml
from dupmon import yaml_files

CONFIG_FILES = sorted((Path(__file__).parents[2] / "include" / "config").rglob("*.yaml"))


class _RefusingLoader(yaml.SafeLoader):
    """PyYAML's Python loader, made to fail, to show that a call did not use it."""

    def __init__(self, stream):
        raise AssertionError("the Python loader was used")


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda path: path.name)
def test_config_files_load_as_pyyaml(path):
    text = path.read_text(encoding="utf-8")

    assert yaml_files.safe_load(text) == yaml.safe_load(text)


def test_valid_text_skips_python_parser(monkeypatch):
    if yaml_files.FAST_LOADER is None:
        pytest.skip("PyYAML is built without libyaml here")
    monkeypatch.setattr(yaml_files.yaml, "SafeLoader", _RefusingLoader)

    assert yaml_files.safe_load("a: [1, 2]\nb: 2024-10-17\n") == {
        "a": [1, 2],
        "b": dt.date(2024, 10, 17),
    }
    assert yaml_files.compose("- x\n- y\n").value[1].start_mark.line == 1


def test_error_quotes_faulty_line():
    with pytest.raises(yaml.YAMLError) as caught:
        yaml_files.safe_load("a: 1\nb: [1, 2\nc: 3\n")

    assert "    b: [1, 2\n" in str(caught.value)


def test_compose_gives_node_lines():
    root = yaml_files.compose("regional:\n  - a@example.org\n  - b@example.org\n")

    ((key, value),) = root.value
    assert key.value == "regional"
    assert [node.start_mark.line + 1 for node in value.value] == [2, 3]


def test_empty_text_gives_none():
    assert yaml_files.safe_load("") is None
    assert yaml_files.compose("") is None
