"""The recipients file: addresses checked on load, errors that name the line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dupmon.directory import load_directory
from dupmon.errors import ConfigError
from dupmon.recipients import check_address, load_recipients, parse_address_list

REGION = Path(__file__).resolve().parents[2] / "include" / "config" / "regions" / "sakhalin"


@pytest.fixture(scope="module")
def directory():
    return load_directory(REGION / "municipalities.yaml")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipients.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, directory, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_recipients(write(tmp_path, text), directory)
    return str(caught.value)


# --- the bundled file ----------------------------------------------------------


def test_bundled_file_regional(directory):
    recipients = load_recipients(REGION / "recipients.yaml", directory)

    assert recipients["regional"] == [
        "monitoring-centre@example.org",
        "ministry-education@example.org",
    ]


def test_bundled_file_every_municipality(directory):
    recipients = load_recipients(REGION / "recipients.yaml", directory)

    assert sorted(recipients["municipalities"]) == sorted(directory.ids)
    assert recipients["municipalities"]["dolinsky"] == [
        "uo-dolinsk@example.org",
        "oks-dolinsk@example.org",
    ]


# --- valid variants --------------------------------------------------------------


def test_operators_list(tmp_path, directory):
    path = write(tmp_path, "regional: [a@example.org]\noperators:\n  - duty@example.org\n")

    assert load_recipients(path, directory)["operators"] == ["duty@example.org"]


def test_operators_default_empty(tmp_path, directory):
    path = write(tmp_path, "regional: [a@example.org]\n")

    assert load_recipients(path, directory)["operators"] == []


def test_single_address_without_list(tmp_path, directory):
    path = write(tmp_path, "regional: a@example.org\nmunicipalities:\n  anivsky: uo@example.org\n")

    recipients = load_recipients(path, directory)

    assert recipients["regional"] == ["a@example.org"]
    assert recipients["municipalities"] == {"anivsky": ["uo@example.org"]}


def test_same_address_in_two_lists(tmp_path, directory):
    # One authority may serve two municipalities, and the region may copy itself.
    path = write(
        tmp_path,
        "regional: [centre@example.org]\n"
        "municipalities:\n"
        "  kurilsky: [uo@example.org]\n"
        "  severo_kurilsky: [uo@example.org, centre@example.org]\n",
    )

    recipients = load_recipients(path, directory)

    assert recipients["municipalities"]["severo_kurilsky"] == [
        "uo@example.org",
        "centre@example.org",
    ]


def test_cyrillic_domain_to_punycode():
    assert check_address("uo@школа.рф") == "uo@xn--80atdl2c.xn--p1ai"


def test_parse_address_list_separators():
    assert parse_address_list("a@example.org, b@example.org;c@example.org ;") == [
        "a@example.org",
        "b@example.org",
        "c@example.org",
    ]


# --- errors --------------------------------------------------------------------


def test_bad_address_names_line(tmp_path, directory):
    message = load_error(
        tmp_path,
        directory,
        "regional:\n  - centre@example.org\nmunicipalities:\n  anivsky:\n    - uo-aniva@example\n",
    )

    assert "line 5" in message
    assert "'uo-aniva@example'" in message
    assert "anivsky" in message


def test_bad_address_in_flow_list_line(tmp_path, directory):
    message = load_error(
        tmp_path,
        directory,
        "# comment that mentions uo@example.org\n"
        "regional: [centre@example.org]\n"
        "municipalities:\n"
        "  dolinsky: [uo@example.org, УО Долинский <uo2@example.org>]\n",
    )

    assert re.search(r"recipients\.yaml line 4\b", message)


def test_cyrillic_local_part_rejected(tmp_path, directory):
    message = load_error(tmp_path, directory, "regional: [центр@example.org]\n")

    assert "line 1" in message
    assert "name@domain" in message


def test_unknown_municipality_names_line(tmp_path, directory):
    message = load_error(
        tmp_path,
        directory,
        "regional: [centre@example.org]\nmunicipalities:\n  atlantis: [uo@example.org]\n",
    )

    assert "line 3" in message
    assert "'atlantis'" in message
    assert "municipalities.yaml" in message


def test_municipality_listed_twice(tmp_path, directory):
    message = load_error(
        tmp_path,
        directory,
        "municipalities:\n  anivsky: [a@example.org]\n  anivsky: [b@example.org]\n",
    )

    assert "line 3" in message
    assert "first on line 2" in message


def test_address_listed_twice_in_one_list(tmp_path, directory):
    message = load_error(
        tmp_path,
        directory,
        "regional:\n  - centre@example.org\n  - Centre@Example.org\n",
    )

    assert "line 3" in message
    assert "first on line 2" in message


def test_unknown_key_names_line(tmp_path, directory):
    message = load_error(tmp_path, directory, "regional: [a@example.org]\nmunicipalites: {}\n")

    assert "line 2" in message
    assert "'municipalites'" in message


def test_nested_list_item_rejected(tmp_path, directory):
    message = load_error(tmp_path, directory, "regional:\n  - {name: a@example.org}\n")

    assert "line 2" in message


def test_municipalities_not_mapping(tmp_path, directory):
    message = load_error(tmp_path, directory, "municipalities:\n  - anivsky\n")

    assert "line 2" in message
    assert "mapping" in message


def test_empty_file_rejected(tmp_path, directory):
    assert "empty" in load_error(tmp_path, directory, "# nothing yet\n")


def test_yaml_syntax_error_names_file(tmp_path, directory):
    message = load_error(tmp_path, directory, "regional: [a@example.org\n")

    assert "recipients.yaml" in message


def test_missing_file_names_path(tmp_path, directory):
    with pytest.raises(ConfigError, match="missing.yaml"):
        load_recipients(tmp_path / "missing.yaml", directory)


def test_parse_address_list_rejects_bad():
    with pytest.raises(ValueError, match="not-an-address"):
        parse_address_list("a@example.org, not-an-address")
