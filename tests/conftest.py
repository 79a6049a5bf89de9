"""Shared fixtures: a project-local Airflow in a temporary home, sample data, SMTP sink.

Airflow reads its configuration when it is first imported, so the
environment is set here, before any test module imports it.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "include" / "sample_exports"
SECRET = "0123456789abcdef" * 4  # test-only pair-key secret
OCTOBER = dt.date(2024, 10, 17)
JANUARY = dt.date(2025, 1, 17)

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="dupmon-airflow-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(_AIRFLOW_HOME / "logs"),
        "GX_ANALYTICS_ENABLED": "false",
    }
)
for name in [n for n in os.environ if n.startswith(("DUPMON_", "AIRFLOW_VAR_DUPMON_"))]:
    del os.environ[name]


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


def run_python(*parts: str, environment: dict[str, str] | None = None) -> str:
    """Run the code ``parts`` in a fresh interpreter in the project folder; return what it printed.

    An ``environment`` gets this checkout's package folder first on
    ``PYTHONPATH``, so the child imports the code under test, not the
    checkout that the virtual environment has installed.
    """
    code = "\n".join(textwrap.dedent(part) for part in parts)
    if environment is not None:
        path = [str(ROOT / "include"), environment.get("PYTHONPATH", "")]
        environment = {**environment, "PYTHONPATH": os.pathsep.join(filter(None, path))}
    completed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout.strip()


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate the temporary Airflow metadata database (SQLite) once per session."""
    airflow = Path(sys.executable).parent / "airflow"
    result = subprocess.run(
        [str(airflow), "db", "migrate"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return _AIRFLOW_HOME


@pytest.fixture
def env_settings(tmp_path, monkeypatch):
    """Point the DUPMON_* variables at a fresh data root and the bundled samples."""
    data = tmp_path / "data"
    values = {
        "DUPMON_DATA_DIR": str(data),
        "DUPMON_INBOX": str(SAMPLES),
        "DUPMON_PAIR_KEY_SECRET": SECRET,
        "DUPMON_SECRET_FILE": str(tmp_path / "secret" / "pair_key_secret"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    from dupmon.settings import load_settings

    return load_settings()


@pytest.fixture
def smtp_sink(tmp_path):
    """A real SMTP server on 127.0.0.1 that stores what it receives."""
    from dupmon.smtp_sink import SmtpSink

    sink = SmtpSink(tmp_path / "received", host="127.0.0.1", port=0)
    sink.start()
    yield sink
    sink.stop()


def received_messages(maildir: Path):
    """Parse every stored message with Python's email parser."""
    import email
    import email.policy

    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(maildir.glob("*.eml"))
    ]
