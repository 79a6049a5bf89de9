"""The benchmark script runs end to end on a tiny size, so it cannot rot.

No timing is asserted: the figures only go to docs/benchmarks.md.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

STEPS = {"ingest", "validate", "normalise", "snapshot", "delta"}


def test_benchmark_tiny_run(tmp_path):
    output = tmp_path / "results.json"
    table = tmp_path / "results.md"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_benchmark.py"), "--sizes", "120", "--files", "2",
         "--workdir", str(tmp_path / "work"), "--json", str(output), "--markdown", str(table)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    (run,) = report["results"]
    assert set(run["steps"]) == STEPS
    assert all(step["seconds"] > 0 for step in run["steps"].values())
    assert run["floor"]["seconds"] > 0
    validate = run["steps"]["validate"]
    assert 0 < validate["gx_import_seconds"] < validate["gx_seconds"] <= validate["seconds"]
    assert sorted(report["dag_parse"]) == sorted(p.name for p in (ROOT / "dags").glob("*.py"))
    assert "| 120 |" in table.read_text(encoding="utf-8")
