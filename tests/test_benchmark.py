"""The benchmark script runs end to end on a tiny size, so it cannot rot.

No timing is asserted: the figures only go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

STEPS = {"ingest", "validate", "normalise", "snapshot", "delta"}


def thp_reported() -> bool:
    """Return whether the kernel reports a process's transparent huge page flag (Linux)."""
    return sys.platform.startswith("linux")


def test_benchmark_tiny_run(tmp_path):
    # The folders of the results do not exist yet: the script creates them.
    output = tmp_path / "results" / "results.json"
    table = tmp_path / "tables" / "results.md"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_benchmark.py"), "--sizes", "120", "--files", "2",
         "--repeat", "2", "--pause", "0.1", "--regions", "2", "--workdir", str(tmp_path / "work"),
         "--json", str(output), "--markdown", str(table)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    (run,) = report["results"]
    assert set(run["steps"]) == STEPS
    assert run["regions"] == ["sakhalin", "sakhalin-2"]
    assert run["files"] == 4
    assert all(step["seconds"] > 0 for step in run["steps"].values())
    assert run["floor"]["seconds"] > 0
    assert run["floor_no_thp"]["seconds"] > 0
    assert run["total_ratio_no_thp"] > 0
    if thp_reported():
        assert run["floor"]["thp_disabled"] is False
        assert run["floor_no_thp"]["thp_disabled"] is True
        assert all(step["thp_disabled"] for step in run["steps"].values())
    validate = run["steps"]["validate"]
    assert 0 < validate["gx_import_seconds"] < validate["gx_seconds"] <= validate["seconds"]
    assert not validate["gx_preloaded"]
    assert not run["gx_preloaded"]
    assert sorted(report["dag_parse"]) == sorted(p.name for p in (ROOT / "dags").glob("*.py"))
    assert "| 120 | 2 | 4 |" in table.read_text(encoding="utf-8")
    assert run["repeat"] == 2
    assert run["pause_seconds"] == 0.1
    assert "after a pause of 0.1 s" in table.read_text(encoding="utf-8")
    assert list((tmp_path / "work").iterdir()) == []
    for figures in [run["floor"], *run["steps"].values()]:
        assert figures["min_seconds"] <= figures["seconds"] <= figures["max_seconds"]
    assert len(run["rounds"]) == 2
    ratios = [item["ratio"] for item in run["rounds"]]
    assert min(ratios) <= run["total_ratio"] <= max(ratios)
    assert "median of the rounds' ratios" in table.read_text(encoding="utf-8")


def test_benchmark_preload_gx(tmp_path):
    output = tmp_path / "results.json"
    table = tmp_path / "results.md"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_benchmark.py"), "--sizes", "40", "--files", "2",
         "--pause", "0", "--preload-gx", "--no-dag-parse", "--workdir", str(tmp_path / "work"),
         "--json", str(output), "--markdown", str(table)],
        capture_output=True, text=True, timeout=600,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = json.loads(output.read_text())["results"]
    validate = run["steps"]["validate"]
    assert run["gx_preloaded"]
    assert validate["gx_preloaded"]
    if thp_reported():
        assert validate["thp_disabled"] is True
    assert validate["seconds"] > 0
    assert validate["peak_bytes"] > 0
    assert validate["gx_import_seconds"] <= validate["gx_seconds"] <= validate["seconds"]
    assert "ran in a fork" in table.read_text(encoding="utf-8")


def test_preloaded_fork_reports_failure(capfd):
    bench = _bench_module()

    def fail(settings, day):
        raise ValueError("the step failed on purpose")

    with pytest.raises(SystemExit, match="failed in the fork"):
        bench._in_preloaded_fork(fail, None, None)

    assert "the step failed on purpose" in capfd.readouterr().err


def _bench_module():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import run_benchmark
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return run_benchmark


def test_pause_before_each_timed_run(tmp_path, monkeypatch):
    bench = _bench_module()
    events = []
    monkeypatch.setattr(bench, "settle", lambda seconds: events.append(("pause", seconds)))

    def run_step(step, data, inbox, day, region, config_dir, preload_gx=False):
        events.append((step, day))
        return {"seconds": 1.0, "peak_bytes": 1, "gx_import_seconds": 0.1, "gx_seconds": 0.2}

    monkeypatch.setattr(bench, "run_step", run_step)
    monkeypatch.setattr(bench, "reset_for_first_run", lambda step, folder, day: None)

    result = bench.benchmark(30, 1, tmp_path, ["sakhalin"], repeat=2, pause=2.5)

    baseline = [(step, bench.BASELINE) for step in bench.STEPS]
    assert events[: len(baseline)] == baseline
    timed = events[len(baseline):]
    assert len(timed) == 2 * 2 * (len(bench.STEPS) + 2)
    assert timed[0::2] == [("pause", 2.5)] * (len(timed) // 2)
    assert {step for step, _ in timed[1::2]} == {"floor", "floor-no-thp", *bench.STEPS}
    assert result["pause_seconds"] == 2.5


def test_repeats_run_in_rounds(tmp_path, monkeypatch):
    bench = _bench_module()
    order = []
    # Each round is slower than the one before, as on a machine that slows
    # down: in round n the floor and each step take n + 1 s.
    def run_step(step, data, inbox, day, region, config_dir, preload_gx=False):
        if day == bench.CURRENT:
            order.append(step)
        seconds = float(1 + order.count("floor")) if day == bench.CURRENT else 1.0
        return {"seconds": seconds, "peak_bytes": 1, "gx_import_seconds": 0.1, "gx_seconds": 0.2}

    monkeypatch.setattr(bench, "run_step", run_step)
    monkeypatch.setattr(bench, "reset_for_first_run", lambda step, folder, day: None)

    result = bench.benchmark(30, 1, tmp_path, ["sakhalin"], repeat=3)

    one_round = ["floor", "floor-no-thp", *bench.STEPS]
    assert order == one_round * 3
    assert [item["floor_seconds"] for item in result["rounds"]] == [2.0, 3.0, 4.0]
    assert [item["total_seconds"] for item in result["rounds"]] == [10.0, 15.0, 20.0]
    # Every round's steps take five times its floor, so its ratio is 5.
    # Medians taken step by step over the whole run would give another.
    assert result["total_ratio"] == 5.0
    assert result["total_ratio_no_thp"] == 5.0


def test_ratio_is_median_of_rounds():
    bench = _bench_module()
    rounds = [
        bench.round_figures(
            {"floor": {"seconds": floor}, "floor-no-thp": {"seconds": floor / 2}}
            | {step: {"seconds": seconds} for step in bench.STEPS}
        )
        for floor, seconds in ((1.0, 1.0), (2.0, 1.0), (1.0, 2.0), (4.0, 1.0))
    ]

    assert [item["ratio"] for item in rounds] == [5.0, 2.5, 10.0, 1.25]
    # With an even number of rounds the lower middle ratio is taken.
    assert bench.median_ratio(rounds, "ratio") == 2.5
    assert bench.median_ratio(rounds, "ratio_no_thp") == 5.0
    assert bench.ratio_spread(rounds, "ratio") == " [1.2-10.0]"


def test_pause_rejects_invalid_values():
    bench = _bench_module()
    assert bench.pause_seconds("0") == 0.0
    for text in ("-1", "nan", "inf", "86400"):
        with pytest.raises(argparse.ArgumentTypeError):
            bench.pause_seconds(text)


def test_copy_regions_names_and_contents(tmp_path):
    bench = _bench_module()
    config = tmp_path / "config"
    for name in ("alpha", "beta"):
        (config / name).mkdir(parents=True)
        (config / name / "region.yaml").write_text(f"name: {name}\n", encoding="utf-8")
        (config / name / "municipalities.yaml").write_text("municipalities: []\n")
    (config / "not-a-region").mkdir()

    names = bench.copy_regions(5, tmp_path / "copies", config)

    assert names == ["alpha", "beta", "alpha-3", "beta-4", "alpha-5"]
    assert sorted(p.name for p in (tmp_path / "copies").iterdir()) == sorted(names)
    copied = tmp_path / "copies" / "beta-4" / "region.yaml"
    assert copied.read_text(encoding="utf-8") == "name: beta\n"


def test_copy_regions_keeps_existing_files(tmp_path):
    bench = _bench_module()
    target = tmp_path / "copies"
    target.mkdir()
    (target / "notes.txt").write_text("kept", encoding="utf-8")

    with pytest.raises(SystemExit, match="not empty"):
        bench.copy_regions(2, target)

    assert (target / "notes.txt").read_text(encoding="utf-8") == "kept"


def test_copy_regions_name_taken_rejected(tmp_path):
    bench = _bench_module()
    config = tmp_path / "config"
    for name in ("a", "a-3"):
        (config / name).mkdir(parents=True)
        (config / name / "region.yaml").write_text("name: a\n", encoding="utf-8")
        (config / name / "municipalities.yaml").write_text("municipalities: []\n")

    with pytest.raises(SystemExit, match="a-3 is taken"):
        bench.copy_regions(3, tmp_path / "copies", config)


def test_exports_split_evenly_over_files(tmp_path):
    bench = _bench_module()
    places = [("Город", "Город")]

    bench.write_exports(tmp_path, bench.CURRENT, 5, 4, 100, places)

    files = sorted(tmp_path.glob("*.csv"))
    rows = [len(path.read_text(encoding="utf-8").splitlines()) - 3 for path in files]
    assert rows == [1, 1, 1, 2]


def test_size_too_small_rejected(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_benchmark.py"), "--sizes", "3",
         "--regions", "5", "--files", "1", "--workdir", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 2
    assert "invalid size 3: the exports are 5 files (5 regions x 1)" in result.stderr
    assert "use 5 pairs or more" in result.stderr
    assert not (tmp_path / "work").exists()


def test_failed_step_leaves_no_files(tmp_path, monkeypatch):
    bench = _bench_module()

    def run_step(step, data, inbox, day, region, config_dir, preload_gx=False):
        raise SystemExit(f"{step} failed")

    monkeypatch.setattr(bench, "run_step", run_step)

    with pytest.raises(SystemExit, match="ingest failed"):
        bench.benchmark(30, 1, tmp_path, ["sakhalin"])

    assert list(tmp_path.iterdir()) == []


def test_reset_for_first_run(tmp_path):
    bench = _bench_module()
    day = dt.date(2025, 1, 17)
    raw = tmp_path / "raw"
    raw.mkdir()
    for sha256, date in (("a" * 64, day.isoformat()), ("b" * 64, "2024-10-17")):
        (raw / f"{sha256}.csv").write_text("export")
        (raw / f"{sha256}.json").write_text(json.dumps({"sha256": sha256, "monitoring_date": date}))
    work = tmp_path / "work" / day.isoformat()
    (work / "staged").mkdir(parents=True)
    (work / "staged" / "exports.json").write_text("[]")
    (work / "validation").mkdir()
    (work / "validation_notes.json").write_text("[]")
    (work / "pairs.arrow").write_text("pairs")
    other_day = tmp_path / "work" / "2024-10-17" / "pairs.arrow"
    other_day.parent.mkdir(parents=True)
    other_day.write_text("pairs")
    floor = tmp_path / bench.FLOOR_FOLDER
    floor.mkdir()
    (floor / "export.parquet").write_text("table")
    snapshot = tmp_path / "snapshots" / f"monitoring_date={day.isoformat()}"
    snapshot.mkdir(parents=True)
    reports = tmp_path / "reports" / day.isoformat()
    reports.mkdir(parents=True)

    for step in ("floor", *bench.STEPS):
        bench.reset_for_first_run(step, tmp_path, day)

    assert sorted(p.name for p in raw.iterdir()) == ["b" * 64 + ".csv", "b" * 64 + ".json"]
    assert list((tmp_path / "work" / day.isoformat()).iterdir()) == []
    assert other_day.exists()
    assert not floor.exists()
    assert not snapshot.exists()
    assert not reports.exists()


def test_reset_keeps_earlier_steps_outputs(tmp_path):
    bench = _bench_module()
    day = dt.date(2025, 1, 17)
    work = tmp_path / "work" / day.isoformat()
    (work / "staged").mkdir(parents=True)
    (work / "pairs.arrow").write_text("pairs")

    bench.reset_for_first_run("validate", tmp_path, day)
    bench.reset_for_first_run("snapshot", tmp_path, day)

    assert (work / "staged").is_dir()
    assert (work / "pairs.arrow").exists()
