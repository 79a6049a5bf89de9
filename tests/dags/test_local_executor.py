"""dupmon's LocalExecutor under a real scheduler: a task finds Great Expectations imported.

Each test starts the Execution API server, the DAG processor and the
scheduler on a SQLite metadata database in a temporary folder. The DAG
folder holds only ``executor_probe/gx_probe.py``, whose task writes what
its process had imported. Airflow's own LocalExecutor is the control.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.airflow_stack import Stack, free_port, listening
from tests.conftest import ROOT

pytestmark = pytest.mark.airflow

PROBE_DAGS = Path(__file__).parent / "executor_probe"
PROBE_DAG_ID = "dupmon_gx_probe"
# Upper bounds, in seconds. On a 2-core machine the services started in
# about 10 s and the probe's run took about 8 s more.
SERVICE_START_TIMEOUT = 120
RUN_TIMEOUT = 180


def _dag_stored(database: Path) -> bool:
    if not database.exists():
        return False
    with sqlite3.connect(database, timeout=5) as connection:
        row = connection.execute(
            "SELECT 1 FROM serialized_dag WHERE dag_id = ?", (PROBE_DAG_ID,)
        ).fetchone()
    return row is not None


def probe_executor(executor: str, tmp_path: Path) -> dict:
    """Run the probe DAG once under ``executor`` and return its task's report."""
    home = tmp_path / "airflow"
    logs = tmp_path / "service-logs"
    logs.mkdir()
    result = tmp_path / "probe.json"
    database = home / "airflow.db"
    api_port = free_port()

    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{database}",
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__PARALLELISM": "1",
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROBE_DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "DUPMON_PROBE_RESULT": str(result),
            "GX_ANALYTICS_ENABLED": "false",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
    )
    stack = Stack(env, logs)
    stack.airflow("db", "migrate", timeout=600)

    try:
        stack.start_services(api_port)
        stack.wait_for(
            "the DAG processor to store the probe DAG",
            lambda: _dag_stored(database),
            SERVICE_START_TIMEOUT,
        )
        stack.wait_for("the API server", lambda: listening(api_port), SERVICE_START_TIMEOUT)

        stack.airflow("dags", "unpause", PROBE_DAG_ID)
        stack.airflow("dags", "trigger", PROBE_DAG_ID)
        stack.wait_for("the probe task's report", result.exists, RUN_TIMEOUT)
        # The task writes the file in one call, but it may still be writing.
        stack.wait_for("a complete report", lambda: result.read_text().endswith("}"), 30)
        return json.loads(result.read_text())
    finally:
        leftover = stack.stop()
        assert leftover == [], f"processes left running: {leftover}"


def test_dupmon_local_executor_preloads_gx(tmp_path):
    report = probe_executor("dupmon_airflow.local_executor.LocalExecutor", tmp_path)

    assert report["loaded"]["great_expectations"]
    # The preload defers SciPy's statistics as the validate step does.
    assert report["loaded"]["scipy.stats"]
    assert not report["loaded"]["scipy.stats._stats_py"]
    assert report["modules_added"] == 0


def test_airflow_local_executor_lacks_gx(tmp_path):
    report = probe_executor("LocalExecutor", tmp_path)

    assert not report["loaded"]["great_expectations"]
    assert report["modules_added"] > 100


_SPAWN = """
import multiprocessing
import sys

multiprocessing.set_start_method("spawn")
from dupmon_airflow.local_executor import LocalExecutor

executor = LocalExecutor(parallelism=1)
executor.start()
imported = "great_expectations" in sys.modules
executor.end()
print("GX imported:", imported)
"""


def test_spawning_executor_imports_nothing(tmp_path):
    # Spawned workers are fresh interpreters, so a preload would only cost
    # the scheduler the import.
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(tmp_path),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/airflow.db",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", _SPAWN], env=env, cwd=ROOT, capture_output=True, text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "GX imported: False"
