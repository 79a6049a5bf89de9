"""Transparent huge pages: a step's process turns them off unless the settings keep them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_python


def kernel_reports_thp_flag() -> bool:
    """Return whether /proc/self/status has THP_enabled, as on Linux 5.0 and newer."""
    status = Path("/proc/self/status")
    return status.exists() and "THP_enabled:" in status.read_text()


pytestmark = pytest.mark.skipif(
    not kernel_reports_thp_flag(),
    reason="needs Linux 5.0 or newer, whose /proc/self/status reports THP_enabled",
)


STATUS_OF_SELF = """
    def thp_enabled():
        for line in open("/proc/self/status"):
            if line.startswith("THP_enabled:"):
                return line.split()[1]
"""


def test_switch_reported_by_kernel():
    printed = run_python(
        STATUS_OF_SELF,
        """
        from dupmon.huge_pages import set_transparent_huge_pages, transparent_huge_pages_disabled
        # The flag is inherited, so the test runner's own choice is undone first.
        states = []
        for enabled in (True, False, True):
            accepted = set_transparent_huge_pages(enabled)
            states += [str(accepted), thp_enabled(), str(transparent_huge_pages_disabled())]
        print(" ".join(states))
        """,
        environment={"PATH": "/usr/bin:/bin"},
    )

    assert printed == "True 1 False True 0 True True 1 False"


def test_disable_inherited_by_child():
    printed = run_python(
        """
        import subprocess, sys
        from dupmon.huge_pages import set_transparent_huge_pages
        set_transparent_huge_pages(False)
        child = "print(open('/proc/self/status').read().split('THP_enabled:')[1].split()[0])"
        print(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True).stdout)
        """,
        environment={"PATH": "/usr/bin:/bin"},
    )

    assert printed == "0"


STEP = """
    import os
    from dupmon import pipeline
    from dupmon.settings import load_settings
    settings = load_settings()
    pipeline.run_retention(settings)
    print(thp_enabled())
"""


@pytest.mark.parametrize(("setting", "expected"), [(None, "0"), ("off", "0"), ("on", "1")])
def test_step_follows_setting(tmp_path, setting, expected):
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DUPMON_DATA_DIR": str(tmp_path / "data"),
        "DUPMON_REGION": "sakhalin",
    }
    if setting is not None:
        environment["DUPMON_TRANSPARENT_HUGE_PAGES"] = setting

    assert run_python(STATUS_OF_SELF, STEP, environment=environment) == expected
