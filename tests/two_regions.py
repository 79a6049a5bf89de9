"""A deployment of two regions for the tests: the bundled Sakhalin and the invented
«Северная область» (tests/fixtures/regions/severnaya), each with its own inbox."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import ROOT, SAMPLES

FIXTURES = ROOT / "tests" / "fixtures"
SEVERNAYA_EXPORTS = FIXTURES / "severnaya_exports"
REGIONS = ("sakhalin", "severnaya")


def make_two_regions(root: Path) -> dict[str, str]:
    """Lay out the config folder and the inboxes under ``root``; return the DUPMON_* values.

    The inbox is ``<root>/inbox/{region}``. Sakhalin's contains the bundled
    samples, and Северная's the exports of tools/make_region_fixtures.py.
    """
    config = root / "regions"
    config.mkdir(parents=True)
    shutil.copytree(ROOT / "include" / "config" / "regions" / "sakhalin", config / "sakhalin")
    shutil.copytree(FIXTURES / "regions" / "severnaya", config / "severnaya")
    inbox = root / "inbox"
    shutil.copytree(SAMPLES, inbox / "sakhalin")
    shutil.copytree(SEVERNAYA_EXPORTS, inbox / "severnaya")
    return {
        "DUPMON_CONFIG_DIR": str(config),
        "DUPMON_INBOX": str(inbox / "{region}"),
    }
