from pathlib import Path

import pytest
import yaml

from dupmon import yaml_files

ROOT = Path(__file__).resolve().parents[2]
PROJECT_YAML = sorted(
    [*ROOT.glob("include/**/*.yaml"), *ROOT.glob("tests/fixtures/**/*.yaml")]
)
# Documents that exercise the corners where two parsers could differ.
ODD_DOCUMENTS = [
    "\ufeffkey: value\n",
    "a: &anchor {b: [1, 2.5, -3e2, 0x1f, 0o17, .inf, .nan]}\nc: *anchor\n",
    "dates: [2024-10-17, 2025-01-17T09:30:00+11:00]\nempty:\nflags: [yes, no, on, off, ~]\n",
    "text: |\n  Строка «один»\n   и\u00a0два\nfolded: >-\n  три\n  четыре\n",
    "quoted: \"\\u0416 \\t \\x41\"\nsingle: 'it''s'\n",
    "- {a: 1}\n- [x, y]\n- ? complex\n  : key\n",
    "<<: {base: 1}\nown: 2\n",
    "",
    "# only a comment\n",
]
BROKEN_DOCUMENTS = [
    "key: [unclosed\nnext: 1\n",
    "a: 1\n b: 2\n",
    "key: value\n\tbad: tab\n",
    "- a\nb: c\n",
    "text: \"\x07\"\n",
]


def test_fast_loader_is_libyaml():
    if not yaml.__with_libyaml__:
        pytest.skip("this PyYAML was built without libyaml")
    assert yaml_files._FAST_LOADER is yaml.CSafeLoader


@pytest.mark.parametrize("path", PROJECT_YAML, ids=lambda p: str(p.relative_to(ROOT)))
def test_project_files_load_alike(path):
    text = path.read_text(encoding="utf-8")

    assert yaml_files.safe_load(text) == yaml.safe_load(text)


@pytest.mark.parametrize("text", ODD_DOCUMENTS)
def test_odd_documents_load_alike(text):
    fast = yaml_files.safe_load(text)
    plain = yaml.safe_load(text)

    # NaN never equals itself, so both are compared through their repr.
    assert repr(fast) == repr(plain)


def _lines(node) -> list:
    """Return the tag, value and line of every scalar of a node tree, in order."""
    if isinstance(node, yaml.ScalarNode):
        return [(node.tag, node.value, node.start_mark.line)]
    items = node.value if isinstance(node, yaml.SequenceNode) else [
        part for pair in node.value for part in pair
    ]
    return [line for item in items for line in _lines(item)]


@pytest.mark.parametrize("path", PROJECT_YAML, ids=lambda p: str(p.relative_to(ROOT)))
def test_project_files_compose_alike(path):
    text = path.read_text(encoding="utf-8")

    assert _lines(yaml_files.safe_compose(text)) == _lines(yaml.compose(text, yaml.SafeLoader))


@pytest.mark.parametrize("text", BROKEN_DOCUMENTS)
def test_broken_document_raises_python_error(text):
    with pytest.raises(yaml.YAMLError) as fast:
        yaml_files.safe_load(text)
    with pytest.raises(yaml.YAMLError) as plain:
        yaml.safe_load(text)

    assert str(fast.value) == str(plain.value)
    assert type(fast.value) is type(plain.value)


@pytest.mark.parametrize("text", BROKEN_DOCUMENTS)
def test_broken_document_compose_error(text):
    with pytest.raises(yaml.YAMLError) as fast:
        yaml_files.safe_compose(text)
    with pytest.raises(yaml.YAMLError) as plain:
        yaml.compose(text, yaml.SafeLoader)

    assert str(fast.value) == str(plain.value)


class _RejectingLoader(yaml.SafeLoader):
    """A loader whose parser rejects every document, as libyaml might reject one."""

    def check_node(self):
        raise yaml.YAMLError("rejected by the first parser")

    def get_single_node(self):
        raise yaml.YAMLError("rejected by the first parser")


def test_python_parser_decides_after_rejection(monkeypatch):
    monkeypatch.setattr(yaml_files, "_FAST_LOADER", _RejectingLoader)

    assert yaml_files.safe_load("key: [1, 2]\n") == {"key": [1, 2]}
    assert yaml_files.safe_compose("key: value\n").value[0][1].value == "value"


def test_without_libyaml_error_raised_once(monkeypatch):
    monkeypatch.setattr(yaml_files, "_FAST_LOADER", yaml.SafeLoader)
    calls = []
    real_load = yaml.load

    def counting_load(*args, **kwargs):
        calls.append(kwargs.get("Loader"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(yaml, "load", counting_load)

    with pytest.raises(yaml.YAMLError):
        yaml_files.safe_load("key: [unclosed\n")
    assert yaml_files.safe_load("key: 1\n") == {"key": 1}
    assert calls == [yaml.SafeLoader, yaml.SafeLoader]
