import datetime as dt
import logging

from dupmon.quarantine import quarantine
from dupmon.errors import Problem, RejectedFileError
from dupmon.raw_store import RawStore
from dupmon.retention import apply_retention
from dupmon.settings import load_settings

NOW = dt.datetime(2026, 1, 17, tzinfo=dt.UTC)


def settings_for(tmp_path, days):
    environ = {"DUPMON_DATA_DIR": str(tmp_path / "data")}
    if days is not None:
        environ["DUPMON_RAW_RETENTION_DAYS"] = str(days)
    return load_settings(environ)


def put_bytes(settings, data: bytes):
    source = settings.data_dir / "export.csv"
    source.write_bytes(data)
    return RawStore(settings.raw_dir).put_file(source, "export.csv")


def stored(settings, data: bytes, first_seen: dt.datetime):
    store = RawStore(settings.raw_dir)
    record, _, _ = put_bytes(settings, data)
    record.first_seen = first_seen.isoformat()
    store.save(record)
    return store.path_of(record)


def test_old_raw_deleted(tmp_path):
    settings = settings_for(tmp_path, 30)
    old = stored(settings, b"old", NOW - dt.timedelta(days=31))
    apply_retention(settings, NOW)
    assert not old.exists()


def test_recent_raw_kept(tmp_path):
    settings = settings_for(tmp_path, 30)
    recent = stored(settings, b"recent", NOW - dt.timedelta(days=29))
    apply_retention(settings, NOW)
    assert recent.exists()


def test_sidecar_kept_without_export(tmp_path):
    settings = settings_for(tmp_path, 30)
    stored(settings, b"old", NOW - dt.timedelta(days=31))
    apply_retention(settings, NOW)
    assert [p.suffix for p in settings.raw_dir.iterdir()] == [".json"]


def test_retention_off_keeps_everything(tmp_path):
    settings = settings_for(tmp_path, None)
    old = stored(settings, b"old", NOW - dt.timedelta(days=3650))
    summary = apply_retention(settings, NOW)
    assert old.exists()
    assert summary["raw_deleted"] == 0


def test_old_quarantine_deleted(tmp_path):
    settings = settings_for(tmp_path, 30)
    source = tmp_path / "bad.csv"
    source.write_text("x", encoding="utf-8")
    problem = Problem(message="m", message_ru="м", action="a", action_ru="д")
    folder = quarantine(settings, NOW.date(), source, RejectedFileError("bad.csv", [problem]))
    apply_retention(settings, dt.datetime.now(dt.UTC) + dt.timedelta(days=31))
    assert not folder.exists()


def test_retention_logged(tmp_path, caplog):
    settings = settings_for(tmp_path, 30)
    stored(settings, b"old", NOW - dt.timedelta(days=31))
    with caplog.at_level(logging.INFO, logger="dupmon.retention"):
        apply_retention(settings, NOW)
    assert "deleted 1 raw exports" in caplog.text


def test_expired_file_not_stored_again(tmp_path):
    settings = settings_for(tmp_path, 30)
    old = stored(settings, b"old", NOW - dt.timedelta(days=31))
    apply_retention(settings, NOW)
    put_bytes(settings, b"old")
    assert not old.exists()
