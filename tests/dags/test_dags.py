"""The DAGs: they import cleanly, and real runs through dag.test() succeed."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import JANUARY, OCTOBER, ROOT, received_messages

DAG_IDS = ("dupmon_quarterly", "dupmon_monthly")

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_dagbag_no_import_errors(dag_bag):
    assert dag_bag.import_errors == {}


def test_dagbag_has_both_dags(dag_bag):
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
    dag = dag_bag.dags[dag_id]
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


def test_rejected_file_fails_run(dag_bag, airflow_env, tmp_path, monkeypatch):
    inbox = tmp_path / "bad_inbox"
    inbox.mkdir()
    (inbox / "Дубли_17.10.2024.csv").write_text(
        "№ п/п;Управление;ОО;Населенный пункт;Класс/группа;Промежутки пересечения;ОО;"
        "Населенный пункт;Класс/группа\n"
        "1;Сахминобр;Школа А;Энск;5;1.10.2024 - 5.10.2024;Школа Б;Энск;5\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("DUPMON_INBOX", str(inbox))
    run = _run(dag_bag, "dupmon_quarterly", OCTOBER, conf={"send_mail": False})
    assert str(run.state) == "failed"
