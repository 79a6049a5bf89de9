"""Airflow's Celery worker with dupmon's settings: GX is imported before the tasks run.

The worker uses Celery's filesystem broker and result backend in a
temporary folder, so nothing listens on the network.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_SEND = """
import json

from airflow.providers.celery.executors.celery_executor_utils import app
from tests.dags.celery_probe import PROBE_TASK

print(json.dumps(app.send_task(PROBE_TASK).get(timeout=240)))
"""


def celery_environment(tmp_path: Path, config: str) -> dict[str, str]:
    queue = tmp_path / "queue"
    queue.mkdir()
    results = tmp_path / "results"
    results.mkdir()
    home = tmp_path / "airflow"
    home.mkdir()
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": "filesystem://",
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__DATA_FOLDER_IN": str(queue),
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__DATA_FOLDER_OUT": str(queue),
        # The exchanges of remote control, by default in ./control.
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__CONTROL_FOLDER": str(tmp_path / "control"),
        "AIRFLOW__CELERY__RESULT_BACKEND": f"file://{results}",
        "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": f"tests.dags.celery_probe.{config}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }


def probe_worker(tmp_path: Path, config: str) -> dict:
    """Start a worker, run the probe task on it and return the task's result."""
    environment = celery_environment(tmp_path, config)
    airflow = Path(sys.executable).parent / "airflow"
    log = tmp_path / "worker.log"
    with log.open("w") as output:
        worker = subprocess.Popen(
            [
                str(airflow),
                "celery",
                "worker",
                "--concurrency",
                "1",
                "--skip-serve-logs",
                "--without-mingle",
                "--without-gossip",
            ],
            env=environment,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        sender = subprocess.Popen(
            [sys.executable, "-c", _SEND],
            env=environment,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # A worker that dies at start would leave the sender waiting for
        # its full timeout.
        while sender.poll() is None and worker.poll() is None:
            time.sleep(0.2)
        if sender.poll() is None:
            sender.kill()
        stdout, stderr = sender.communicate(timeout=60)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    assert sender.returncode == 0, stderr[-3000:] + log.read_text()[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.mark.airflow
def test_dupmon_worker_preloads_gx(tmp_path):
    result = probe_worker(tmp_path, "DUPMON_CONFIG")

    assert result["loaded"]["great_expectations"]
    # The preload defers SciPy's statistics as the validate step does.
    assert result["loaded"]["scipy.stats"]
    assert not result["loaded"]["scipy.stats._stats_py"]
    assert result["modules_added"] == 0


@pytest.mark.airflow
def test_default_worker_lacks_gx(tmp_path):
    result = probe_worker(tmp_path, "AIRFLOW_DEFAULT_CONFIG")

    assert not result["loaded"]["great_expectations"]
    assert result["modules_added"] > 100


_PRELOAD = """
import gc
import logging
import sys
import threading
import time

from dupmon import validate

logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(message)s")


def failing():
    raise ImportError("no module named great_expectations (test)")


def starting_thread():
    threading.Thread(target=time.sleep, args=(30,), name="gx-test-thread", daemon=True).start()


validate.import_great_expectations = {"failing": failing, "thread": starting_thread}[sys.argv[1]]
import dupmon_airflow.worker_preload  # noqa: E402, F401

print("frozen", gc.get_freeze_count() > 0)
"""


def run_preload(case: str, script: str = _PRELOAD) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", script, case],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.splitlines()


_PRELOAD_GARBAGE = """
import gc
import weakref

import dupmon.validate  # noqa: F401
from dupmon_airflow.preload import preload_great_expectations


class Node:
    pass


cycle = Node()
cycle.itself = cycle
cycle.payload = bytearray(10_000_000)
alive = weakref.ref(cycle)
del cycle
preload_great_expectations()
gc.collect()
print("freed", alive() is None)
"""


def test_preload_frees_garbage_before_freeze():
    # The import freezes what is in memory, and a dropped cycle must not stay.
    result = subprocess.run(
        [sys.executable, "-c", _PRELOAD_GARBAGE],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == "freed True"


def test_preload_failure_logged_not_raised():
    lines = run_preload("failing")

    assert any(line.startswith("ERROR Preloading Great Expectations failed") for line in lines)
    assert "no module named great_expectations (test)" in "\n".join(lines)
    assert lines[-1] == "frozen True"


def test_preload_thread_start_warned():
    lines = run_preload("thread")

    warnings = [line for line in lines if line.startswith("WARNING")]
    assert len(warnings) == 1
    assert "gx-test-thread" in warnings[0]
    assert lines[-1] == "frozen True"


_PRELOAD_TEMPLATES = """
import logging
import sys
import types

logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(message)s")


def failing():
    raise RuntimeError("template compiler broken (test)")


if sys.argv[1] == "failing":
    sys.modules["dupmon.data_docs_view"] = types.SimpleNamespace(compile_templates=failing)

from dupmon_airflow.preload import preload_great_expectations  # noqa: E402

preload_great_expectations()
if sys.argv[1] == "working":
    from dupmon.data_docs_view import COMPILED_TEMPLATES

    print("cached", len(COMPILED_TEMPLATES))
"""


def test_preload_compiles_data_docs_templates():
    lines = run_preload("working", _PRELOAD_TEMPLATES)

    logged = [line for line in lines if line.startswith("INFO Compiled ")]
    assert len(logged) == 1
    count = int(logged[0].split()[2])
    assert count >= 40
    assert lines[-1] == f"cached {count}"


def test_preload_template_failure_logged():
    lines = run_preload("failing", _PRELOAD_TEMPLATES)

    assert any(line.startswith("ERROR Compiling the Data Docs templates failed") for line in lines)
    assert "template compiler broken (test)" in "\n".join(lines)


def test_failed_gx_import_compiles_nothing():
    lines = run_preload("failing")

    assert not any("Compiled" in line for line in lines)
