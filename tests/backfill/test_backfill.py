"""`airflow backfill create` through a real scheduler, LocalExecutor and PostgreSQL.

The test starts the Execution API server, the DAG processor and the scheduler
with dupmon's LocalExecutor, on a fresh database of the PostgreSQL server that
TEST_POSTGRES_URL names (.ci/run starts one). It backfills the quarterly DAG
for the two sample monitoring dates with the README's command
(tools/backfill.sh, one backfill per date), and checks that the dates ran in
order, that every document was rebuilt, and that no one was mailed. A second
pass that sets ``send_mail: true`` in its run conf mails each message once.
Every process the test starts is stopped at the end.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dupmon.mail import MailLedger
from tests.airflow_stack import AIRFLOW, Stack, free_port, listening
from tests.conftest import JANUARY, OCTOBER, ROOT, SAMPLES, SECRET

pytestmark = pytest.mark.airflow

POSTGRES_URL_VARIABLE = "TEST_POSTGRES_URL"
DAG_ID = "dupmon_quarterly"
OPERATOR = "operator@example.org"
# Upper bounds, in seconds. On a 2-core machine the whole test, with its four
# one-date backfills and the services' start, took about 150 s.
SERVICE_START_TIMEOUT = 120
BACKFILL_TIMEOUT = 420


def _libpq_url(sqlalchemy_url: str) -> str:
    scheme, _, rest = sqlalchemy_url.partition("://")
    return f"postgresql://{rest}" if scheme.startswith("postgresql") else sqlalchemy_url


def _with_database(sqlalchemy_url: str, database: str) -> str:
    base, _, _ = sqlalchemy_url.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture
def metadata_database() -> Iterator[str]:
    """Create an empty database on the test server; return its SQLAlchemy URL; drop it after."""
    server_url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not server_url:
        pytest.skip(
            f"{POSTGRES_URL_VARIABLE} is unset, so there is no PostgreSQL server for the "
            "scheduler's metadata database. Set it to a URL such as "
            "postgresql+psycopg://user:password@127.0.0.1:5432/postgres (.ci/run starts a "
            "server and sets it)."
        )
    import psycopg

    name = f"dupmon_backfill_{secrets.token_hex(4)}"
    with psycopg.connect(_libpq_url(server_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield _with_database(server_url, name)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class BackfillStack(Stack):
    """The Airflow processes of the test, on a PostgreSQL metadata database."""

    def __init__(self, env: dict[str, str], logs: Path, database_url: str):
        super().__init__(env, logs)
        self.database_url = database_url

    def query(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        import psycopg

        with psycopg.connect(_libpq_url(self.database_url)) as connection:
            return connection.execute(sql, parameters).fetchall()


@pytest.fixture
def airflow_stack(metadata_database, smtp_sink, tmp_path) -> Iterator[Stack]:
    """Migrate the database and start the API server, DAG processor and scheduler."""
    home = tmp_path / "airflow"
    logs = tmp_path / "service-logs"
    logs.mkdir()
    api_port = free_port()
    connection = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": smtp_sink.port,
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "monitoring@example.org"},
    }
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_database,
            # Without this, Airflow 3.3 derives an asyncpg URL for its async engine.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata_database,
            "AIRFLOW__CORE__EXECUTOR": "dupmon_airflow.local_executor.LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
            # No runs from the cron schedules: unpausing the DAG would otherwise
            # start the latest scheduled date alongside the backfill.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(connection),
            "DUPMON_DATA_DIR": str(tmp_path / "data"),
            "DUPMON_INBOX": str(SAMPLES),
            "DUPMON_PAIR_KEY_SECRET": SECRET,
            "DUPMON_SECRET_FILE": str(tmp_path / "secret" / "pair_key_secret"),
            "DUPMON_OPERATOR_EMAIL": OPERATOR,
            "GX_ANALYTICS_ENABLED": "false",
        }
    )
    stack = BackfillStack(env, logs, metadata_database)
    stack.airflow("db", "migrate", timeout=600)
    try:
        stack.start_services(api_port)
        stack.wait_for(
            "the DAG processor to store the DAGs",
            lambda: stack.query("SELECT 1 FROM serialized_dag WHERE dag_id = %s", (DAG_ID,)),
            SERVICE_START_TIMEOUT,
        )
        stack.wait_for("the API server", lambda: listening(api_port), SERVICE_START_TIMEOUT)
        yield stack
    finally:
        leftover = stack.stop()
        assert leftover == [], f"processes left running: {leftover}"


def _backfill(stack: Stack, *options: str) -> list[int]:
    """Run the README's backfill command for the two sample dates; return the backfill ids.

    The command returns once the second date's backfill is created, which
    Airflow allows only after the first one has completed.
    """
    (before,) = stack.query("SELECT coalesce(max(id), 0) FROM backfill WHERE dag_id = %s",
                            (DAG_ID,))[0]
    env = {**stack.env, "AIRFLOW": str(AIRFLOW), "DUPMON_BACKFILL_POLL": "2",
           "PATH": f"{AIRFLOW.parent}:{stack.env.get('PATH', '/usr/bin:/bin')}"}
    result = subprocess.run(
        ["bash", str(ROOT / "tools" / "backfill.sh"), *options, DAG_ID,
         JANUARY.isoformat(), OCTOBER.isoformat()],
        env=env, capture_output=True, text=True, timeout=BACKFILL_TIMEOUT,
    )
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    rows = stack.query("SELECT id FROM backfill WHERE dag_id = %s AND id > %s ORDER BY id",
                       (DAG_ID, before))
    return [backfill_id for (backfill_id,) in rows]


def _wait_for_backfills(
    stack: Stack, backfill_ids: list[int], *, until_complete: bool
) -> list[tuple]:
    """Wait until the runs of the backfills have finished, and with ``until_complete``
    until the scheduler has marked the last backfill complete.

    Returns (logical_date, state, run_type, start_date, end_date, conf) per
    run, oldest logical date first. Airflow 3.3's scheduler marks backfills
    complete every 30 s, and takes no new backfill of the DAG before.
    """

    def runs_finished() -> bool:
        states = stack.query("SELECT state FROM dag_run WHERE backfill_id = ANY(%s)",
                             (backfill_ids,))
        return len(states) == len(backfill_ids) and all(
            state in ("success", "failed") for (state,) in states
        )

    def completed() -> bool:
        (completed_at,) = stack.query(
            "SELECT completed_at FROM backfill WHERE id = %s", (backfill_ids[-1],)
        )[0]
        return completed_at is not None

    condition = completed if until_complete else runs_finished
    stack.wait_for(f"backfills {backfill_ids}", condition, BACKFILL_TIMEOUT)
    return stack.query(
        "SELECT logical_date, state, run_type, start_date, end_date, conf FROM dag_run"
        " WHERE backfill_id = ANY(%s) ORDER BY logical_date",
        (backfill_ids,),
    )


def test_backfill_rebuilds_in_order_without_mail(airflow_stack, smtp_sink, tmp_path):
    stack = airflow_stack
    region = tmp_path / "data" / "sakhalin"
    stack.airflow("dags", "unpause", DAG_ID)

    backfills = _backfill(stack)
    runs = _wait_for_backfills(stack, backfills, until_complete=True)

    assert len(backfills) == 2
    assert [conf["monitoring_date"] for *_, conf in runs] == [
        OCTOBER.isoformat(),
        JANUARY.isoformat(),
    ]
    assert [(state, run_type) for _, state, run_type, *_ in runs] == [
        ("success", "backfill"),
        ("success", "backfill"),
    ], stack.tails()
    # One date at a time: January starts only after October has finished.
    assert runs[0][4] <= runs[1][3]
    for day in (OCTOBER, JANUARY):
        snapshot = region / "snapshots" / f"monitoring_date={day.isoformat()}" / "pairs.parquet"
        assert snapshot.exists()
        assert (region / "reports" / day.isoformat() / "spravka.docx").exists()
    delta = json.loads((region / "reports" / JANUARY.isoformat() / "delta.json").read_text("utf-8"))
    assert delta["baseline_date"] == OCTOBER.isoformat()
    assert smtp_sink.stored_files() == []

    # Asked explicitly, a backfill mails: once per message, whatever it repeats.
    mailing = _backfill(stack, "--conf", json.dumps({"send_mail": True}))
    runs = _wait_for_backfills(stack, mailing, until_complete=False)

    sent = MailLedger(region / "mail" / "ledger.sqlite").entries()
    assert [state for _, state, *_ in runs] == ["success", "success"], stack.tails()
    assert {entry.monitoring_date for entry in sent} == {OCTOBER.isoformat(), JANUARY.isoformat()}
    assert {entry.send_count for entry in sent} == {1}
    assert len(smtp_sink.stored_files()) == len(sent)
