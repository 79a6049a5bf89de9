"""What the tasks read from a run: the monitoring date, whether to mail, the operators."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from airflow.sdk.api.datamodels._generated import DagRunType

from dupmon_airflow import runtime
from dupmon_airflow.factory import SNAPSHOT_ASSET, TIMEZONE

# 09:00 in Asia/Sakhalin (UTC+11) on 17 January 2025, when the quarterly run is due.
DUE = dt.datetime(2025, 1, 16, 22, 0, tzinfo=dt.UTC)


def dag_run(run_type=DagRunType.SCHEDULED, conf=None, run_after=DUE):
    return SimpleNamespace(run_type=run_type, conf=conf or {}, run_after=run_after)


def snapshot_events(*dates: str) -> dict:
    """Imitate the run's triggering_asset_events: the snapshot asset and its events."""
    return {SNAPSHOT_ASSET: [SimpleNamespace(extra={"monitoring_date": day}) for day in dates]}


# --- monitoring_date ---------------------------------------------------------


def test_date_from_parameter():
    context = {"logical_date": DUE, "dag_run": dag_run()}

    day = runtime.monitoring_date({"monitoring_date": "2024-10-17"}, context, TIMEZONE)

    assert day == dt.date(2024, 10, 17)


def test_date_from_logical_date_in_sakhalin():
    context = {"logical_date": DUE, "dag_run": dag_run()}

    assert runtime.monitoring_date({}, context, TIMEZONE) == dt.date(2025, 1, 17)


def test_date_of_past_logical_date():
    # A backfill or a rerun years later still gets the date its run stands for.
    logical = dt.datetime(2024, 10, 16, 22, 0, tzinfo=dt.UTC)
    context = {"logical_date": logical, "dag_run": dag_run(DagRunType.BACKFILL)}

    assert runtime.monitoring_date({}, context, TIMEZONE) == dt.date(2024, 10, 17)


def test_date_from_run_after_without_logical_date():
    context = {"logical_date": None, "dag_run": dag_run(DagRunType.MANUAL)}

    assert runtime.monitoring_date({}, context, TIMEZONE) == dt.date(2025, 1, 17)


def test_date_from_snapshot_event():
    context = {
        "logical_date": None,
        "dag_run": dag_run(DagRunType.ASSET_TRIGGERED, run_after=dt.datetime.now(dt.UTC)),
        "triggering_asset_events": snapshot_events("2025-01-17"),
    }

    assert runtime.monitoring_date({}, context, TIMEZONE) == dt.date(2025, 1, 17)


def test_date_latest_of_several_events():
    context = {
        "logical_date": None,
        "dag_run": dag_run(DagRunType.ASSET_TRIGGERED),
        "triggering_asset_events": snapshot_events("2025-01-17", "2024-10-17"),
    }

    assert runtime.monitoring_date({}, context, TIMEZONE) == dt.date(2025, 1, 17)


def test_date_asset_run_without_date_raises():
    context = {
        "logical_date": None,
        "dag_run": dag_run(DagRunType.ASSET_TRIGGERED),
        "triggering_asset_events": {SNAPSHOT_ASSET: [SimpleNamespace(extra={})]},
    }

    with pytest.raises(ValueError, match="monitoring_date"):
        runtime.monitoring_date({}, context, TIMEZONE)


def test_date_parameter_invalid_raises():
    context = {"logical_date": DUE, "dag_run": dag_run()}

    with pytest.raises(ValueError, match="17.01.2025"):
        runtime.monitoring_date({"monitoring_date": "17.01.2025"}, context, TIMEZONE)


def test_baseline_parameter_invalid_raises():
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        runtime.baseline_date({"baseline": "2024/10/17"})


# --- mail_requested ----------------------------------------------------------


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        ({}, False),
        ({"send_mail": None}, False),
        ({"send_mail": False}, False),
        ({"send_mail": "true"}, False),
        ({"send_mail": True}, True),
    ],
)
def test_backfill_mails_only_when_asked(conf, expected):
    run = dag_run(DagRunType.BACKFILL, conf=conf)
    params = {"send_mail": conf.get("send_mail")}

    assert runtime.mail_requested(params, run) is expected


def test_backfill_ignores_param_default():
    # A DAG whose send_mail default were true must still not mail in a backfill.
    run = dag_run(DagRunType.BACKFILL)

    assert runtime.mail_requested({"send_mail": True}, run) is False


@pytest.mark.parametrize(
    ("send_mail", "expected"), [(None, True), (True, True), (False, False)]
)
def test_scheduled_run_mails_by_default(send_mail, expected):
    assert runtime.mail_requested({"send_mail": send_mail}, dag_run()) is expected


def test_followup_default_no_mail():
    run = dag_run(DagRunType.ASSET_TRIGGERED)

    assert runtime.mail_requested({"send_mail": None}, run, default=False) is False


def test_run_type_reads_enum_value():
    assert runtime.run_type(dag_run(DagRunType.BACKFILL)) == "backfill"


# --- operator_addresses --------------------------------------------------------


def test_operators_from_environment(monkeypatch):
    monkeypatch.setenv("DUPMON_OPERATOR_EMAIL", "duty@example.org; lead@example.org")

    assert runtime.operator_addresses() == ["duty@example.org", "lead@example.org"]


def test_operators_invalid_address_raises(monkeypatch):
    monkeypatch.setenv("DUPMON_OPERATOR_EMAIL", "duty at example.org")

    with pytest.raises(ValueError, match="duty at example.org"):
        runtime.operator_addresses()


def test_operators_from_bundled_recipients(monkeypatch):
    monkeypatch.delenv("DUPMON_OPERATOR_EMAIL", raising=False)

    assert runtime.operator_addresses() == ["pipeline-operators@example.org"]


def test_operators_none_configured(monkeypatch, tmp_path):
    import shutil

    from tests.conftest import ROOT

    config = tmp_path / "regions"
    shutil.copytree(ROOT / "include" / "config" / "regions", config)
    recipients = config / "sakhalin" / "recipients.yaml"
    text = recipients.read_text(encoding="utf-8")
    recipients.write_text(
        text.replace("operators:\n  - pipeline-operators@example.org\n", ""), encoding="utf-8"
    )
    monkeypatch.delenv("DUPMON_OPERATOR_EMAIL", raising=False)
    monkeypatch.setenv("DUPMON_CONFIG_DIR", str(config))

    assert runtime.operator_addresses() == []
