import logging
import stat

import pytest

from dupmon.errors import ConfigError
from dupmon.pseudonymise import keyed_hash, load_secret


def test_secret_created_once(tmp_path):
    path = tmp_path / "keys" / "secret"
    first = load_secret(None, path, tmp_path / "data")
    assert load_secret(None, path, tmp_path / "data") == first


def test_secret_file_owner_only(tmp_path):
    path = tmp_path / "keys" / "secret"
    load_secret(None, path, tmp_path / "data")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_secret_creation_logged(tmp_path, caplog):
    path = tmp_path / "keys" / "secret"
    with caplog.at_level(logging.WARNING, logger="dupmon.pseudonymise"):
        load_secret(None, path, tmp_path / "data")
    assert str(path) in caplog.text


def test_secret_inside_data_root_rejected(tmp_path):
    with pytest.raises(ConfigError, match="inside the data root"):
        load_secret(None, tmp_path / "data" / "secret", tmp_path / "data")


def test_short_secret_rejected(tmp_path):
    with pytest.raises(ConfigError, match="at least 32"):
        load_secret("short", tmp_path / "secret", tmp_path / "data")


def test_keyed_hash_depends_on_secret():
    assert keyed_hash(b"a" * 32, "x") != keyed_hash(b"b" * 32, "x")


def test_keyed_hash_parts_not_ambiguous():
    assert keyed_hash(b"a" * 32, "ab", "c") != keyed_hash(b"a" * 32, "a", "bc")
