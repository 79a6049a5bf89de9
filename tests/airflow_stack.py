"""Airflow services started by a test: each command in its own process group, logging to a file.

Every service listens on 127.0.0.1 only. The scheduler takes
``--skip-serve-logs``, because Airflow's log server binds every interface.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

AIRFLOW = Path(sys.executable).parent / "airflow"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


class Service:
    """One Airflow command running in its own process group, logging to a file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], logs: Path):
        self.name = name
        self.log_path = logs / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            command, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return f"--- last lines of {self.name} ---\n" + "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the whole process group: the command and every child it forked."""
        group = self.process.pid
        try:
            os.killpg(group, signal.SIGTERM)
            self.process.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.process.wait(timeout=30)
        # Children that outlive the leader (task runners) go too.
        deadline = time.monotonic() + 15
        while group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.2)
        if group_alive(group):
            os.killpg(group, signal.SIGKILL)
        self._log.close()


class Stack:
    """The Airflow processes of a test and how to reach them."""

    def __init__(self, env: dict[str, str], logs: Path):
        self.env = env
        self.logs = logs
        self.services: list[Service] = []

    def start(self, name: str, *arguments: str) -> Service:
        service = Service(name, [str(AIRFLOW), *arguments], self.env, self.logs)
        self.services.append(service)
        return service

    def start_services(self, api_port: int) -> None:
        """Start the Execution API server on ``api_port``, the DAG processor and the scheduler."""
        self.start("api-server", "api-server", "--apps", "execution", "--host", "127.0.0.1",
                   "--port", str(api_port), "--workers", "1")
        self.start("dag-processor", "dag-processor")
        self.start("scheduler", "scheduler", "--skip-serve-logs")

    def stop(self) -> list[str]:
        """Stop every service, last started first; return the names of those still running."""
        for service in reversed(self.services):
            service.stop()
        return [s.name for s in self.services if group_alive(s.process.pid)]

    def airflow(self, *arguments: str, timeout: int = 300) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(AIRFLOW), *arguments], env=self.env, capture_output=True, text=True,
            timeout=timeout,
        )
        command = " ".join(arguments)
        output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        assert result.returncode == 0, f"airflow {command} failed:\n{output}"
        return result

    def tails(self) -> str:
        return "\n".join(service.tail() for service in self.services)

    def wait_for(self, description: str, condition, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for service in self.services:
                if service.process.poll() is not None:
                    pytest.fail(f"{service.name} exited with {service.process.returncode} "
                                f"while waiting for {description}\n{self.tails()}")
            if condition():
                return
            time.sleep(1)
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {description}\n{self.tails()}")
