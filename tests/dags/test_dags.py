"""The DAGs: they import cleanly, and real runs through dag.test() succeed, mail once
and tell the operators of a failure."""

from __future__ import annotations

import copy
import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import JANUARY, OCTOBER, ROOT, received_messages

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
    assert "Asia/Sakhalin" in dag_bag.dags[dag_id].doc_md


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_dag_tasks_notify_on_failure(dag_bag, dag_id):
    from dupmon_airflow.notify import notify_operators

    tasks = dag_bag.dags[dag_id].tasks
    assert [t.task_id for t in tasks if notify_operators not in t.on_failure_callback] == []


@pytest.mark.parametrize("dag_id", SCHEDULED_DAG_IDS)
def test_snapshot_task_outlet_is_asset(dag_bag, dag_id):
    from dupmon_airflow.factory import SNAPSHOT_ASSET

    outlets = {t.task_id: t.outlets for t in dag_bag.dags[dag_id].tasks if t.outlets}
    assert outlets == {"snapshot": [SNAPSHOT_ASSET]}


def test_followup_dag_scheduled_on_snapshot(dag_bag):
    from dupmon_airflow.factory import SNAPSHOT_ASSET

    followup = dag_bag.dags["dupmon_spravka_on_snapshot"]

    assert list(followup.timetable.asset_condition.objects) == [SNAPSHOT_ASSET]
    assert [t.task_id for t in followup.tasks] == ["delta", "render", "mail"]


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


def _run(dag_bag, dag_id: str, day: dt.date, conf: dict | None = None):
    # In-process runs write the run conf into the tasks' Param objects, which
    # a deep copy of the DAG still shares, so each run gets copies of its own.
    dag = copy.deepcopy(dag_bag.dags[dag_id])
    for task in dag.tasks:
        task.params = copy.deepcopy(task.params)
    logical = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return dag.test(logical_date=logical, run_conf=conf)


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
    run = _run(dag_bag, "dupmon_monthly", OCTOBER, conf={"send_mail": False})
    assert str(run.state) == "success"
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

    run = _run(dag_bag, "dupmon_monthly", OCTOBER, conf={"send_mail": False})

    with create_session() as session:
        events = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.name == "dupmon_snapshot", AssetEvent.source_run_id == run.run_id)
        ).all()
        extras = [event.extra for event in events]
    assert extras == [{"monitoring_date": OCTOBER.isoformat(), "pairs": 3}]


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
