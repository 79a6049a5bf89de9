"""The DAGs: they import cleanly, and real runs through dag.test() succeed, map over
the due regions, mail once and tell the operators of a failure."""

from __future__ import annotations

import copy
import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import JANUARY, OCTOBER, ROOT, received_messages
from tests.two_regions import make_two_regions

DAG_IDS = ("dupmon_quarterly", "dupmon_monthly", "dupmon_spravka_on_snapshot")
SCHEDULED_DAG_IDS = ("dupmon_quarterly", "dupmon_monthly")
OPERATOR = "operator@example.org"

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_dagbag_no_import_errors(dag_bag):
    assert dag_bag.import_errors == {}


def test_dagbag_has_all_dags(dag_bag):
    assert sorted(dag_bag.dag_ids) == sorted(DAG_IDS)


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_dag_has_tags(dag_bag, dag_id):
    assert dag_bag.dags[dag_id].tags


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_dag_tasks_have_retries(dag_bag, dag_id):
    tasks = dag_bag.dags[dag_id].tasks
    assert [t.task_id for t in tasks if t.retries < 1] == []


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_dag_has_doc_md(dag_bag, dag_id):
    assert "mapped task group" in dag_bag.dags[dag_id].doc_md


@pytest.mark.parametrize("dag_id", SCHEDULED_DAG_IDS)
def test_scheduled_dag_runs_hourly_utc(dag_bag, dag_id):
    timetable = dag_bag.dags[dag_id].timetable

    assert timetable.expression == "0 * * * *"
    assert str(timetable.timezone) == "UTC"
    assert timetable.interval == dt.timedelta(hours=1)


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_region_group_is_mapped(dag_bag, dag_id):
    from airflow.sdk.definitions.taskgroup import MappedTaskGroup

    group = dag_bag.dags[dag_id].task_group_dict["region"]

    assert isinstance(group, MappedTaskGroup)


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_dag_tasks_notify_on_failure(dag_bag, dag_id):
    from dupmon_airflow.notify import notify_operators

    tasks = dag_bag.dags[dag_id].tasks
    assert [t.task_id for t in tasks if notify_operators not in t.on_failure_callback] == []


@pytest.mark.parametrize("dag_id", SCHEDULED_DAG_IDS)
def test_snapshot_task_outlet_is_asset(dag_bag, dag_id):
    from dupmon_airflow.factory import SNAPSHOT_ASSET

    outlets = {t.task_id: t.outlets for t in dag_bag.dags[dag_id].tasks if t.outlets}
    assert outlets == {"region.snapshot": [SNAPSHOT_ASSET]}


def test_followup_dag_scheduled_on_snapshot(dag_bag):
    from dupmon_airflow.factory import SNAPSHOT_ASSET

    followup = dag_bag.dags["dupmon_spravka_on_snapshot"]

    assert list(followup.timetable.asset_condition.objects) == [SNAPSHOT_ASSET]
    assert [t.task_id for t in followup.tasks] == [
        "snapshot_regions",
        "region.delta",
        "region.render",
        "region.mail",
    ]


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_send_mail_default_empty(dag_bag, dag_id):
    # An empty default lets a backfill, whose UI form copies the defaults into
    # the run conf, tell "not asked" from an explicit true.
    assert dag_bag.dags[dag_id].params["send_mail"] is None


def test_dag_files_skip_heavy_imports():
    # A fresh interpreter parses a DAG file; pandas, GX and pyarrow must stay unimported.
    code = (
        "import runpy, sys; runpy.run_path(sys.argv[1]);"
        "heavy = [m for m in ('pandas', 'great_expectations', 'pyarrow', 'docxtpl') if m in sys.modules];"
        "print(heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "dags" / "dupmon_quarterly.py")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr[-2000:]


@pytest.fixture
def airflow_env(airflow_db, env_settings, smtp_sink, monkeypatch):
    connection = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": smtp_sink.port,
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "monitoring@example.org"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(connection))
    return env_settings


def due_hour(day: dt.date, timezone: str = "Asia/Sakhalin", hour: int = 9) -> dt.datetime:
    """Return the UTC hour at which a region's 09:00 (or ``hour``) on ``day`` falls."""
    local = dt.datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(timezone))
    return local.astimezone(dt.UTC)


def _run(dag_bag, dag_id: str, day: dt.date | dt.datetime, conf: dict | None = None):
    """Run a DAG with dag.test() for the hour in which Sakhalin's cron fires on ``day``,
    or for the logical date ``day`` when it is a datetime."""
    # In-process runs write the run conf into the tasks' Param objects, which
    # a deep copy of the DAG still shares, so each run gets copies of its own.
    dag = copy.deepcopy(dag_bag.dags[dag_id])
    for task in dag.tasks:
        task.params = copy.deepcopy(task.params)
    logical = day if isinstance(day, dt.datetime) else due_hour(day)
    return dag.test(logical_date=logical, run_conf=conf)


def _states(run) -> dict[str, list[str]]:
    """Return the states of the run's task instances by task id, in map index order."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state)
            .where(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
            .order_by(TaskInstance.task_id, TaskInstance.map_index)
        ).all()
    states: dict[str, list[str]] = {}
    for task_id, _, state in rows:
        states.setdefault(task_id, []).append(str(state))
    return states


def test_quarterly_runs_succeed(dag_bag, airflow_env, smtp_sink):
    states = [str(_run(dag_bag, "dupmon_quarterly", day).state) for day in (OCTOBER, JANUARY)]
    assert states == ["success", "success"]


def test_quarterly_mail_subjects(dag_bag, airflow_env, smtp_sink):
    for day in (OCTOBER, JANUARY):
        _run(dag_bag, "dupmon_quarterly", day)
    subjects = {m["Subject"] for m in received_messages(smtp_sink.maildir)}
    assert "Справка по результатам мониторинга дублей учётных записей от 17.01.2025" in subjects


def test_quarterly_attachment_name(dag_bag, airflow_env, smtp_sink):
    _run(dag_bag, "dupmon_quarterly", OCTOBER)
    names = {
        part.get_filename()
        for message in received_messages(smtp_sink.maildir)
        for part in message.iter_attachments()
    }
    assert "Справка_дубли_17.10.2024.docx" in names


def test_quarterly_reports_written(dag_bag, airflow_env):
    _run(dag_bag, "dupmon_quarterly", OCTOBER)
    folder = Path(airflow_env.reports_dir) / OCTOBER.isoformat()
    expected = ["appendix1.csv", "appendix2.csv", "spravka.docx", "spravka.html"]
    assert [name for name in expected if not (folder / name).exists()] == []


def test_send_mail_off_sends_nothing(dag_bag, airflow_env, smtp_sink):
    run = _run(dag_bag, "dupmon_monthly", dt.date(2025, 2, 17),
               conf={"monitoring_date": OCTOBER.isoformat(), "send_mail": False})
    assert str(run.state) == "success"
    assert _states(run)["region.mail"] == ["success"]
    assert list(smtp_sink.maildir.glob("*.eml")) == []


def test_monitoring_date_parameter_wins(dag_bag, airflow_env):
    run = _run(dag_bag, "dupmon_monthly", dt.date(2025, 2, 17),
               conf={"monitoring_date": OCTOBER.isoformat(), "send_mail": False})
    assert str(run.state) == "success"
    assert (Path(airflow_env.reports_dir) / OCTOBER.isoformat() / "appendix1.csv").exists()


def _bad_inbox(tmp_path: Path) -> Path:
    inbox = tmp_path / "bad_inbox"
    inbox.mkdir()
    (inbox / "Дубли_17.10.2024.csv").write_text(
        "№ п/п;Управление;ОО;Населенный пункт;Класс/группа;Промежутки пересечения;ОО;"
        "Населенный пункт;Класс/группа\n"
        "1;Сахминобр;Школа А;Энск;5;1.10.2024 - 5.10.2024;Школа Б;Энск;5\n",
        encoding="utf-8",
    )
    return inbox


def test_rejected_file_fails_run(dag_bag, airflow_env, tmp_path, monkeypatch):
    monkeypatch.setenv("DUPMON_INBOX", str(_bad_inbox(tmp_path)))
    run = _run(dag_bag, "dupmon_quarterly", OCTOBER, conf={"send_mail": False})
    assert str(run.state) == "failed"


def test_rerun_sends_nothing_twice(dag_bag, airflow_env, smtp_sink):
    _run(dag_bag, "dupmon_quarterly", OCTOBER)
    first = len(smtp_sink.stored_files())

    rerun = _run(dag_bag, "dupmon_quarterly", OCTOBER)

    assert first > 0
    assert str(rerun.state) == "success"
    assert len(smtp_sink.stored_files()) == first


def test_force_resend_sends_again(dag_bag, airflow_env, smtp_sink):
    _run(dag_bag, "dupmon_quarterly", OCTOBER)
    first = len(smtp_sink.stored_files())

    _run(dag_bag, "dupmon_quarterly", OCTOBER, conf={"force_resend": True})

    assert len(smtp_sink.stored_files()) == 2 * first


def test_followup_rebuilds_without_mail(dag_bag, airflow_env, smtp_sink):
    _run(dag_bag, "dupmon_quarterly", OCTOBER, conf={"send_mail": False})
    spravka = Path(airflow_env.reports_dir) / OCTOBER.isoformat() / "spravka.docx"
    spravka.unlink()

    run = _run(dag_bag, "dupmon_spravka_on_snapshot", OCTOBER)

    assert str(run.state) == "success"
    assert spravka.exists()
    assert smtp_sink.stored_files() == []


def test_snapshot_asset_event_names_date(dag_bag, airflow_env):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    run = _run(dag_bag, "dupmon_monthly", dt.date(2025, 2, 17),
               conf={"monitoring_date": OCTOBER.isoformat(), "send_mail": False})

    with create_session() as session:
        events = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.name == "dupmon_snapshot", AssetEvent.source_run_id == run.run_id)
        ).all()
        extras = [event.extra for event in events]
    assert extras == [{"region": "sakhalin", "monitoring_date": OCTOBER.isoformat(), "pairs": 3}]


def _notices(smtp_sink) -> list:
    return [m for m in received_messages(smtp_sink.maildir) if m["To"] == OPERATOR]


def test_failure_notifies_operator(dag_bag, airflow_env, smtp_sink, tmp_path, monkeypatch):
    monkeypatch.setenv("DUPMON_INBOX", str(_bad_inbox(tmp_path)))
    monkeypatch.setenv("DUPMON_OPERATOR_EMAIL", OPERATOR)

    run = _run(dag_bag, "dupmon_quarterly", OCTOBER, conf={"send_mail": False})

    notices = _notices(smtp_sink)
    assert str(run.state) == "failed"
    assert len(notices) == 1
    assert "validate" in notices[0]["Subject"]
    assert "17.10.2024" in notices[0]["Subject"]
    body = notices[0].get_body(("html",)).get_content()
    assert "dupmon_quarterly" in body
    assert "RejectedFileError" in body


def test_failure_notice_subject_encoded(dag_bag, airflow_env, smtp_sink, tmp_path, monkeypatch):
    monkeypatch.setenv("DUPMON_INBOX", str(_bad_inbox(tmp_path)))
    monkeypatch.setenv("DUPMON_OPERATOR_EMAIL", OPERATOR)

    _run(dag_bag, "dupmon_quarterly", OCTOBER, conf={"send_mail": False})

    raw = smtp_sink.stored_files()[0].read_bytes()
    headers = raw.split(b"\r\n\r\n", 1)[0]
    subject = headers.split(b"Subject:", 1)[1].split(b"\r\n", 1)[0]
    assert headers.isascii()
    assert b"=?utf-8?" in subject.lower()


def test_failure_notice_from_recipients_file(
    dag_bag, airflow_env, smtp_sink, tmp_path, monkeypatch
):
    config = tmp_path / "regions"
    shutil.copytree(ROOT / "include" / "config" / "regions", config)
    recipients = config / "sakhalin" / "recipients.yaml"
    text = recipients.read_text(encoding="utf-8")
    assert "pipeline-operators@example.org" in text
    recipients.write_text(text.replace("pipeline-operators@example.org", OPERATOR), encoding="utf-8")
    monkeypatch.setenv("DUPMON_CONFIG_DIR", str(config))
    monkeypatch.setenv("DUPMON_INBOX", str(_bad_inbox(tmp_path)))

    _run(dag_bag, "dupmon_quarterly", OCTOBER, conf={"send_mail": False})

    assert len(_notices(smtp_sink)) == 1


def test_missing_export_fails_ingest(dag_bag, airflow_env, smtp_sink, monkeypatch):
    monkeypatch.setenv("DUPMON_OPERATOR_EMAIL", OPERATOR)

    run = _run(dag_bag, "dupmon_monthly", dt.date(2024, 11, 17), conf={"send_mail": False})

    snapshot = Path(airflow_env.snapshots_dir) / "monitoring_date=2024-11-17"
    assert str(run.state) == "failed"
    assert not snapshot.exists()
    assert "ingest" in _notices(smtp_sink)[0]["Subject"]


# --- regions -------------------------------------------------------------------


def test_no_region_due_skips_group(dag_bag, airflow_env, smtp_sink):
    # 12:00 UTC on 17 October: 23:00 in Sakhalin, so no cron fired in the hour.
    run = _run(dag_bag, "dupmon_quarterly", dt.datetime(2024, 10, 17, 12, tzinfo=dt.UTC))

    states = _states(run)
    assert str(run.state) == "success"
    assert states["due_regions"] == ["success"]
    assert {task: s for task, s in states.items() if task != "due_regions"} == {
        task: ["skipped"] for task in states if task != "due_regions"
    }
    assert not Path(airflow_env.region_data_dir).exists()
    assert smtp_sink.stored_files() == []


@pytest.fixture
def two_regions(airflow_env, tmp_path, monkeypatch):
    """Sakhalin and the invented Северная in one deployment, with an inbox each."""
    for name, value in make_two_regions(tmp_path / "deployment").items():
        monkeypatch.setenv(name, value)
    return airflow_env.data_dir


def _map_labels(run, task_id: str) -> list[str]:
    """Return the labels the UI shows for the mapped instances of a task, by map index."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return list(
            session.scalars(
                select(TaskInstance.rendered_map_index)
                .where(TaskInstance.run_id == run.run_id, TaskInstance.task_id == task_id)
                .order_by(TaskInstance.map_index)
            )
        )


def _recipients(smtp_sink) -> set[str]:
    return {
        address.strip()
        for message in received_messages(smtp_sink.maildir)
        for address in message["To"].split(",")
    }


def test_quarterly_maps_over_both_regions(dag_bag, two_regions, smtp_sink):
    run = _run(dag_bag, "dupmon_quarterly", OCTOBER, conf={"monitoring_date": OCTOBER.isoformat()})

    states = _states(run)
    received = _recipients(smtp_sink)
    assert str(run.state) == "success"
    assert states["region.mail"] == ["success", "success"]
    assert _map_labels(run, "region.mail") == ["sakhalin 2024-10-17", "severnaya 2024-10-17"]
    assert "monitoring-centre@example.org" in received
    assert "severnaya-centre@example.org" in received
    assert "uo-tundrovy@example.org" in received
    for region in ("sakhalin", "severnaya"):
        assert (two_regions / region / "reports" / OCTOBER.isoformat() / "spravka.docx").exists()


def test_two_region_events_name_region(dag_bag, two_regions):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    run = _run(dag_bag, "dupmon_quarterly", OCTOBER,
               conf={"monitoring_date": OCTOBER.isoformat(), "send_mail": False})

    with create_session() as session:
        events = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.name == "dupmon_snapshot", AssetEvent.source_run_id == run.run_id)
        ).all()
        extras = sorted((event.extra for event in events), key=lambda extra: extra["region"])
    assert extras == [
        {"region": "sakhalin", "monitoring_date": OCTOBER.isoformat(), "pairs": 3},
        {"region": "severnaya", "monitoring_date": OCTOBER.isoformat(), "pairs": 3},
    ]


def test_due_hour_runs_its_region_only(dag_bag, two_regions, smtp_sink):
    # 10:00 in Moscow is Северная's cron; in Sakhalin it is 18:00.
    run = _run(dag_bag, "dupmon_quarterly", due_hour(OCTOBER, "Europe/Moscow", 10))

    assert str(run.state) == "success"
    assert _states(run)["region.mail"] == ["success"]
    assert (two_regions / "severnaya" / "reports" / OCTOBER.isoformat()).is_dir()
    assert not (two_regions / "sakhalin").exists()
    assert "monitoring-centre@example.org" not in _recipients(smtp_sink)


def test_region_failure_spares_other(dag_bag, two_regions, smtp_sink, tmp_path):
    inbox = tmp_path / "deployment" / "inbox" / "severnaya"
    (inbox / "Дубли_Северная_17.10.2024.csv").write_bytes(
        (_bad_inbox(tmp_path) / "Дубли_17.10.2024.csv").read_bytes()
    )

    run = _run(dag_bag, "dupmon_quarterly", OCTOBER, conf={"monitoring_date": OCTOBER.isoformat()})

    states = _states(run)
    received = _recipients(smtp_sink)
    assert str(run.state) == "failed"
    assert sorted(states["region.validate"]) == ["failed", "success"]
    assert sorted(states["region.mail"]) == ["success", "upstream_failed"]
    assert "monitoring-centre@example.org" in received
    assert "severnaya-centre@example.org" not in received


def test_failure_notice_names_region(dag_bag, two_regions, smtp_sink, tmp_path, monkeypatch):
    monkeypatch.setenv("DUPMON_OPERATOR_EMAIL", OPERATOR)
    monkeypatch.setenv("DUPMON_REGIONS", "severnaya")
    inbox = tmp_path / "deployment" / "inbox" / "severnaya"
    (inbox / "Дубли_Северная_17.10.2024.csv").write_bytes(
        (_bad_inbox(tmp_path) / "Дубли_17.10.2024.csv").read_bytes()
    )

    _run(dag_bag, "dupmon_quarterly", OCTOBER,
         conf={"monitoring_date": OCTOBER.isoformat(), "send_mail": False})

    notices = _notices(smtp_sink)
    assert len(notices) == 1
    assert "регион severnaya" in notices[0]["Subject"]


def test_shared_inbox_fails_at_once(dag_bag, two_regions, smtp_sink, monkeypatch):
    from tests.conftest import SAMPLES

    monkeypatch.setenv("DUPMON_INBOX", str(SAMPLES))

    run = _run(dag_bag, "dupmon_quarterly", OCTOBER, conf={"monitoring_date": OCTOBER.isoformat()})

    assert str(run.state) == "failed"
    assert _states(run)["due_regions"] == ["failed"]


def test_followup_maps_over_regions(dag_bag, two_regions):
    _run(dag_bag, "dupmon_quarterly", OCTOBER,
         conf={"monitoring_date": OCTOBER.isoformat(), "send_mail": False})
    for region in ("sakhalin", "severnaya"):
        (two_regions / region / "reports" / OCTOBER.isoformat() / "spravka.docx").unlink()

    run = _run(dag_bag, "dupmon_spravka_on_snapshot", OCTOBER,
               conf={"monitoring_date": OCTOBER.isoformat()})

    assert str(run.state) == "success"
    assert _states(run)["region.render"] == ["success", "success"]
    for region in ("sakhalin", "severnaya"):
        assert (two_regions / region / "reports" / OCTOBER.isoformat() / "spravka.docx").exists()
