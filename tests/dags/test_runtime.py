"""What the tasks read from a run: the due regions, whether to mail, the operators."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from airflow.sdk.api.datamodels._generated import DagRunType

from dupmon.errors import ConfigError
from dupmon_airflow import runtime
from dupmon_airflow.factory import SNAPSHOT_ASSET
from tests.two_regions import make_two_regions

# 09:00 in Asia/Sakhalin (UTC+11) on 17 January 2025, when Sakhalin's справка is due.
DUE = dt.datetime(2025, 1, 16, 22, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
# 10:00 in Europe/Moscow (UTC+3) on 17 January 2025, when Северная's справка is due.
MOSCOW_DUE = dt.datetime(2025, 1, 17, 7, 0, tzinfo=dt.UTC)


def dag_run(run_type=DagRunType.SCHEDULED, conf=None, run_after=DUE):
    return SimpleNamespace(run_type=run_type, conf=conf or {}, run_after=run_after)


def interval_context(end, run_type=DagRunType.MANUAL, start=None, previous=None):
    """Imitate the context of a run whose data interval ends at ``end``."""
    ti = SimpleNamespace(get_previous_dagrun=lambda: previous)
    return {
        "data_interval_start": end - HOUR if start is None else start,
        "data_interval_end": end,
        "dag_run": dag_run(run_type, run_after=end),
        "ti": ti,
    }


def snapshot_events(*extras: dict) -> dict:
    """Imitate the run's triggering_asset_events: the snapshot asset and its events."""
    return {SNAPSHOT_ASSET: [SimpleNamespace(extra=extra) for extra in extras]}


@pytest.fixture
def two_regions(tmp_path, monkeypatch):
    for name, value in make_two_regions(tmp_path).items():
        monkeypatch.setenv(name, value)


# --- due_regions ---------------------------------------------------------------


def test_due_sakhalin_hour(two_regions):
    due = runtime.due_regions({}, interval_context(DUE), "spravka")

    assert due == [{"region": "sakhalin", "monitoring_date": "2025-01-17"}]


def test_due_moscow_hour(two_regions):
    due = runtime.due_regions({}, interval_context(MOSCOW_DUE), "spravka")

    assert due == [{"region": "severnaya", "monitoring_date": "2025-01-17"}]


def test_due_hour_before_is_not_due(two_regions):
    assert runtime.due_regions({}, interval_context(DUE - HOUR), "spravka") == []


def test_due_reminders_not_in_quarter_month(two_regions):
    assert runtime.due_regions({}, interval_context(DUE), "reminders") == []


def test_due_reminders_in_february(two_regions):
    february = dt.datetime(2025, 2, 16, 22, 0, tzinfo=dt.UTC)

    due = runtime.due_regions({}, interval_context(february), "reminders")

    assert due == [{"region": "sakhalin", "monitoring_date": "2025-02-17"}]


def test_due_regions_variable_limits(two_regions, monkeypatch):
    monkeypatch.setenv("DUPMON_REGIONS", "severnaya")

    assert runtime.due_regions({}, interval_context(DUE), "spravka") == []


def test_due_date_parameter_takes_all(two_regions):
    params = {"monitoring_date": "2024-10-17", "regions": []}

    due = runtime.due_regions(params, interval_context(DUE), "spravka")

    assert due == [
        {"region": "sakhalin", "monitoring_date": "2024-10-17"},
        {"region": "severnaya", "monitoring_date": "2024-10-17"},
    ]


def test_due_date_parameter_with_regions(two_regions):
    params = {"monitoring_date": "2024-10-17", "regions": ["severnaya"]}

    due = runtime.due_regions(params, interval_context(DUE), "spravka")

    assert due == [{"region": "severnaya", "monitoring_date": "2024-10-17"}]


def test_due_unknown_region_raises(two_regions):
    params = {"monitoring_date": "2024-10-17", "regions": ["kamchatka"]}

    with pytest.raises(ConfigError, match="kamchatka"):
        runtime.due_regions(params, interval_context(DUE), "spravka")


def test_due_shared_inbox_raises(two_regions, monkeypatch, tmp_path):
    monkeypatch.setenv("DUPMON_INBOX", str(tmp_path / "inbox"))
    params = {"monitoring_date": "2024-10-17"}

    with pytest.raises(ConfigError, match=r"\{region\}"):
        runtime.due_regions(params, interval_context(DUE), "spravka")


def test_due_bundled_region_by_default():
    due = runtime.due_regions({}, interval_context(DUE), "spravka")

    assert due == [{"region": "sakhalin", "monitoring_date": "2025-01-17"}]


def test_due_date_parameter_invalid_raises():
    with pytest.raises(ValueError, match="17.01.2025"):
        runtime.due_regions({"monitoring_date": "17.01.2025"}, interval_context(DUE), "spravka")


# --- due_interval --------------------------------------------------------------


def test_interval_of_manual_run():
    assert runtime.due_interval(interval_context(DUE)) == (DUE - HOUR, DUE)


def test_interval_without_data_interval():
    context = {
        "data_interval_start": None,
        "data_interval_end": None,
        "dag_run": dag_run(DagRunType.MANUAL),
    }

    assert runtime.due_interval(context) == (DUE - HOUR, DUE)


def test_interval_scheduled_covers_gap():
    # The scheduler was down for three hours: the run also covers them.
    previous = SimpleNamespace(data_interval_end=DUE - 4 * HOUR)
    context = interval_context(DUE, DagRunType.SCHEDULED, previous=previous)

    assert runtime.due_interval(context) == (DUE - 4 * HOUR, DUE)


def test_interval_gap_is_bounded():
    previous = SimpleNamespace(data_interval_end=DUE - dt.timedelta(days=30))
    context = interval_context(DUE, DagRunType.SCHEDULED, previous=previous)

    assert runtime.due_interval(context) == (DUE - runtime.MAX_CATCH_UP, DUE)


def test_interval_manual_ignores_gap():
    previous = SimpleNamespace(data_interval_end=DUE - 4 * HOUR)
    context = interval_context(DUE, DagRunType.MANUAL, previous=previous)

    assert runtime.due_interval(context) == (DUE - HOUR, DUE)


# --- snapshot_regions ----------------------------------------------------------


def asset_context(events: dict) -> dict:
    return {
        "logical_date": None,
        "dag_run": dag_run(DagRunType.ASSET_TRIGGERED, run_after=dt.datetime.now(dt.UTC)),
        "triggering_asset_events": events,
    }


def test_snapshot_regions_from_events(two_regions):
    events = snapshot_events(
        {"region": "severnaya", "monitoring_date": "2025-01-17"},
        {"region": "sakhalin", "monitoring_date": "2024-10-17"},
        {"region": "sakhalin", "monitoring_date": "2025-01-17"},
    )

    assert runtime.snapshot_regions({}, asset_context(events)) == [
        {"region": "sakhalin", "monitoring_date": "2025-01-17"},
        {"region": "severnaya", "monitoring_date": "2025-01-17"},
    ]


def test_snapshot_event_without_region_single():
    events = snapshot_events({"monitoring_date": "2025-01-17"})

    assert runtime.snapshot_regions({}, asset_context(events)) == [
        {"region": "sakhalin", "monitoring_date": "2025-01-17"}
    ]


def test_snapshot_event_without_region_several(two_regions):
    events = snapshot_events({"monitoring_date": "2025-01-17"})

    with pytest.raises(ValueError, match="name no region"):
        runtime.snapshot_regions({}, asset_context(events))


def test_snapshot_events_without_date_raise():
    events = snapshot_events({})

    with pytest.raises(ValueError, match="monitoring_date"):
        runtime.snapshot_regions({}, asset_context(events))


def test_snapshot_regions_manual_run_uses_schedule(two_regions):
    assert runtime.snapshot_regions({}, interval_context(MOSCOW_DUE)) == [
        {"region": "severnaya", "monitoring_date": "2025-01-17"}
    ]


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

    assert runtime.operator_addresses("sakhalin") == ["pipeline-operators@example.org"]


def test_operators_of_one_region(two_regions, monkeypatch):
    monkeypatch.delenv("DUPMON_OPERATOR_EMAIL", raising=False)

    assert runtime.operator_addresses("severnaya") == ["severnaya-operators@example.org"]


def test_operators_of_all_regions(two_regions, monkeypatch):
    monkeypatch.delenv("DUPMON_OPERATOR_EMAIL", raising=False)

    assert runtime.operator_addresses() == [
        "pipeline-operators@example.org",
        "severnaya-operators@example.org",
    ]


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

    assert runtime.operator_addresses("sakhalin") == []
