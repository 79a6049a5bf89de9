"""The benchmark script runs end to end on a tiny size, so it cannot rot.

No timing is asserted: the figures only go to docs/benchmarks.md.
"""

from __future__ import annotations

import datetime as dt
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
         "--repeat", "2", "--workdir", str(tmp_path / "work"), "--json", str(output),
         "--markdown", str(table)],
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
    assert run["repeat"] == 2
    assert list((tmp_path / "work").iterdir()) == []
    for figures in [run["floor"], *run["steps"].values()]:
        assert figures["min_seconds"] <= figures["seconds"] <= figures["max_seconds"]


def test_reset_for_first_run(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from run_benchmark import reset_for_first_run
    finally:
        sys.path.remove(str(ROOT / "bench"))
    day = dt.date(2025, 1, 17)
    raw = tmp_path / "raw"
    raw.mkdir()
    for sha256, date in (("a" * 64, day.isoformat()), ("b" * 64, "2024-10-17")):
        (raw / f"{sha256}.csv").write_text("export")
        (raw / f"{sha256}.json").write_text(json.dumps({"sha256": sha256, "monitoring_date": date}))
    snapshot = tmp_path / "snapshots" / f"monitoring_date={day.isoformat()}"
    snapshot.mkdir(parents=True)
    reports = tmp_path / "reports" / day.isoformat()
    reports.mkdir(parents=True)

    reset_for_first_run("ingest", tmp_path, day)
    reset_for_first_run("snapshot", tmp_path, day)
    reset_for_first_run("delta", tmp_path, day)

    assert sorted(p.name for p in raw.iterdir()) == ["b" * 64 + ".csv", "b" * 64 + ".json"]
    assert not snapshot.exists()
    assert not reports.exists()
