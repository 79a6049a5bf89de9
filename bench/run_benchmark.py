"""Benchmark of the pipeline from ingest to delta on synthetic exports.

For each size it writes two monitoring dates of synthetic exports (the
older 14-column layout as CSV, every pupil invented), spread over several
files per region and over every region configured under
``include/config/regions``. With ``--regions N`` it spreads them over N
regions instead: copies of the configured ones in turn, under names of
their own, in a temporary folder of the work folder that is removed at the
end. It processes the baseline date, then runs each
step of the second date region by region, each in its own process, and
reports per step the wall time (summed over the regions) and the peak
resident memory (the largest of the step's processes).

The floor is measured the same way: pyarrow's CSV reader on the same bytes
and a Parquet write of the result. Each figure is also given as a ratio to
the floor, so results compare across machines. The steps turn transparent
huge pages off in their processes (``dupmon.huge_pages``), and the plain
floor leaves them as the kernel has them, so the floor is measured a second
time with them off, and the total is given as a ratio to that floor too. Great Expectations is
reported apart as well: its import, and its import plus the suite runs.
With ``--preload-gx``, each validate process imports GX before its timer
starts and runs the step in a fork, as a Celery worker with dupmon's
settings (``dupmon_airflow.celery_config``) or dupmon's LocalExecutor
(``dupmon_airflow.local_executor``) runs the validate task.

With ``--repeat N``, the floors and the steps of the second date run in N
rounds, each of which runs both floors and then every step once, in the
pipeline's order. Each figure is the median over the rounds, with the
fastest and slowest run beside it. The total's ratio to a floor is the
median of the rounds' own ratios. On a machine whose speed drifts from
minute to minute, a round's steps and its floor share the drift. Medians
taken over the whole run would compare figures measured minutes apart. A
step's own ratio is its median over the median floor.

Before each timed run, the files a first run would not find are removed.
These are the files the floor wrote, and the step's own outputs for the
date: the raw copies and staged tables before ingest, the validation
results before validate, the table of pairs before normalise, the snapshot
before the snapshot step and the reports before the delta. On ext4, renaming a file over an existing
one, or truncating one, starts writing its data to disk at once (the
``auto_da_alloc`` mount option, on by default), which a first run does not
pay.

Before each timed run of the floor and of the steps it waits ``--pause``
seconds (5 by default), so that every measurement starts from the same
state of the machine, as an Airflow task does: by our estimate the
scheduler takes seconds to start the next task. On a virtual machine whose
balloon device reports freed memory to the host, memory freed a moment
before costs little to touch again, and memory freed seconds before costs
much more (measured on one such machine: 0.25 s against 1.3 s of system
time for the same normalise step). Without the pause, the times of a step
fall into two groups by how soon it followed the run before.

Last, it times how long each DAG file takes to parse beyond the import of
``airflow.sdk``: in a fresh process per file, ``airflow.sdk`` is imported
first and then the file is run with ``runpy``.

    .venv/bin/python bench/run_benchmark.py --sizes 10000 100000 1000000 --repeat 3 \\
        --workdir /tmp/dupmon-bench --json results.json --markdown results.md

Timings are never asserted: the tests only run this script on a tiny size.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from importlib import metadata
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "include" / "config" / "regions"
DAGS_DIR = ROOT / "dags"
STEPS = ("ingest", "validate", "normalise", "snapshot", "delta")
# The floor as pyarrow runs it, and the same with transparent huge pages off.
FLOORS = ("floor", "floor-no-thp")
# The floor's Parquet files, in each region's data folder.
FLOOR_FOLDER = "floor"
BASELINE = dt.date(2024, 10, 17)
CURRENT = dt.date(2025, 1, 17)
SECRET = "benchmark-secret-" + "0" * 32
HEADER = [
    "№ п/п",
    "Управление",
    "ФИО ученика",
    "ID",
    "Пол",
    "Дата рождения",
    "ОО",
    "Район",
    "Населенный пункт",
    "Класс",
    "Промежутки пересечения",
    "ОО",
    "Район",
    "Населенный пункт",
]


def configured_regions(config_dir: Path = CONFIG_DIR) -> list[str]:
    """Return the region folders of ``config_dir``: those with a region.yaml and a directory."""
    return sorted(
        path.name
        for path in config_dir.iterdir()
        if (path / "region.yaml").is_file() and (path / "municipalities.yaml").is_file()
    )


def municipalities_of(region: str, config_dir: Path = CONFIG_DIR) -> list[tuple[str, str]]:
    """Return (name as exports print it, one of its settlements) per municipality of a region.

    A municipality without settlements gets none, so its schools are resolved
    by the name alone.
    """
    raw = yaml.safe_load((config_dir / region / "municipalities.yaml").read_text(encoding="utf-8"))
    return [
        (entry["name"], (entry.get("settlements") or [""])[0]) for entry in raw["municipalities"]
    ]


def write_exports(
    inbox: Path,
    day: dt.date,
    pairs: int,
    files: int,
    first_pair: int,
    municipalities: list[tuple[str, str]] | None = None,
) -> int:
    """Write ``pairs`` synthetic pairs of ``day`` into ``files`` CSV files; return bytes written.

    Pair numbers start at ``first_pair``, so two dates share the pairs their
    number ranges share. The files get equal shares, give or take a pair, so
    none is empty while there are at least as many pairs as files.
    ``municipalities`` default to the first region's.
    """
    municipalities = municipalities or municipalities_of(configured_regions()[0])
    generator = random.Random(pairs * 31 + day.toordinal())
    inbox.mkdir(parents=True, exist_ok=True)
    written = 0
    for file_index in range(files):
        path = inbox / f"dubli_part{file_index + 1}_{day.strftime('%d.%m.%Y')}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter=";")
            writer.writerow(["Список учащихся-«дублей» (образовательные организации)"])
            writer.writerow([f"Период: 02.09.2024 - {day.strftime('%d.%m.%Y')}"])
            writer.writerow(HEADER)
            start = first_pair + pairs * file_index // files
            for number in range(start, first_pair + pairs * (file_index + 1) // files):
                municipality, settlement = municipalities[number % len(municipalities)]
                other, other_settlement = municipalities[generator.randrange(len(municipalities))]
                end_day = 1 + number % 15
                writer.writerow(
                    [
                        number - start + 1,
                        "Управление образования",
                        f"Фамилия{number} Имя Отчество",
                        f"s{10_000_000 + number}",
                        "МЖ"[number % 2],
                        f"{1 + number % 28}.0{1 + number % 9}.2012",
                        f"МБОУ СОШ № {number % 40 + 1} ({settlement or municipality})",
                        municipality,
                        settlement,
                        f"{number % 11 + 1}{'АБВ'[number % 3]}",
                        f"2.09.2024-{end_day}.10.2024 (s{50_000_000 + number})",
                        f"МБОУ СОШ № {number % 37 + 2} ({other_settlement or other})",
                        other,
                        other_settlement,
                    ]
                )
        written += path.stat().st_size
    return written


def machine() -> dict:
    memory = None
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            memory = int(handle.readline().split()[1]) * 1024
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            model = next(
                (line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")),
                model,
            )
    except OSError:
        pass
    packages = ["apache-airflow", "great-expectations", "pandas", "pyarrow"]
    return {
        "platform": platform.platform(),
        "processor": model,
        "cpus": os.cpu_count(),
        "memory_bytes": memory,
        "python": platform.python_version(),
        "packages": {name: metadata.version(name) for name in packages},
    }


def run_child(arguments: list[str], environment: dict[str, str] | None = None) -> dict:
    """Run this script with ``arguments`` in a child process; return its JSON line."""
    command = [sys.executable, __file__, *arguments]
    process = subprocess.run(command, capture_output=True, text=True, env=environment)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(arguments[:2])} failed:\n{process.stderr[-4000:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])


def run_step(
    step: str,
    data: Path,
    inbox: Path,
    day: dt.date,
    region: str,
    config_dir: Path = CONFIG_DIR,
    preload_gx: bool = False,
) -> dict:
    """Run one step of one region in a child process; return its wall time and peak memory."""
    arguments = [
        "--child",
        step,
        "--data",
        str(data),
        "--inbox",
        str(inbox),
        "--date",
        day.isoformat(),
        "--region",
        region,
        "--config-dir",
        str(config_dir),
    ]
    if preload_gx:
        arguments.append("--preload-gx")
    return run_child(arguments)


def child(
    step: str,
    data: Path,
    inbox: Path,
    day: dt.date,
    region: str,
    config_dir: Path = CONFIG_DIR,
    preload_gx: bool = False,
) -> None:
    """Run one step in this process and print its figures as one JSON line."""
    import logging
    import resource

    from dupmon.huge_pages import transparent_huge_pages_disabled

    logging.disable(logging.WARNING)
    environment = {
        "DUPMON_DATA_DIR": str(data),
        "DUPMON_INBOX": str(inbox),
        "DUPMON_REGION": region,
        "DUPMON_CONFIG_DIR": str(config_dir),
        "DUPMON_PAIR_KEY_SECRET": SECRET,
        "DUPMON_MAX_FILE_BYTES": str(10 * 1024**3),
        "GX_ANALYTICS_ENABLED": "false",
    }
    figures = {}
    if step in FLOORS:
        from dupmon.huge_pages import set_transparent_huge_pages

        # Set either way, because a child inherits the flag of this script.
        set_transparent_huge_pages(step == "floor")
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        floor_dir = data / region / FLOOR_FOLDER
        floor_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        for path in sorted(inbox.glob("*.csv")):
            table = pacsv.read_csv(
                path,
                read_options=pacsv.ReadOptions(skip_rows=2),
                parse_options=pacsv.ParseOptions(delimiter=";"),
            )
            pq.write_table(table, floor_dir / f"{path.stem}.parquet")
        seconds = time.perf_counter() - started
    else:
        os.environ.update(environment)
        from dupmon import pipeline
        from dupmon.settings import load_settings

        settings = load_settings(environment)
        function = getattr(pipeline, f"run_{step}")
        if step == "validate" and preload_gx:
            print(json.dumps(_in_preloaded_fork(function, settings, day)))
            return
        if step == "validate":
            gx_figures = _gx_timed()
        started = time.perf_counter()
        function(settings, day)
        seconds = time.perf_counter() - started
        if step == "validate":
            figures.update(gx_figures)
            figures["gx_seconds"] = figures["gx_import_seconds"] + _GX_RUNS["seconds"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    figures["thp_disabled"] = transparent_huge_pages_disabled()
    print(json.dumps({"seconds": seconds, "peak_bytes": peak, **figures}))


def _in_preloaded_fork(function, settings, day: dt.date) -> dict:
    """Preload GX, then run the validate step timed in a fork of this process.

    This is how the step runs on a Celery worker with dupmon's settings, or
    under dupmon's LocalExecutor. Either preloads GX once, as here, before
    it forks the processes that run the tasks.
    The timer starts in the fork, so the fork itself is not timed. The peak
    memory is the fork's largest resident size, which starts from this
    process's size with GX imported, as the figure of a step that imports GX
    itself includes the import.
    """
    import resource

    from dupmon.huge_pages import transparent_huge_pages_disabled
    from dupmon_airflow.preload import preload_great_expectations

    preload_great_expectations()
    reading, writing = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(reading)
        try:
            figures = _gx_timed()
            started = time.perf_counter()
            function(settings, day)
            figures["seconds"] = time.perf_counter() - started
            figures["gx_seconds"] = figures["gx_import_seconds"] + _GX_RUNS["seconds"]
            figures["thp_disabled"] = transparent_huge_pages_disabled()
            with os.fdopen(writing, "w") as pipe:
                pipe.write(json.dumps(figures))
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
        os._exit(0)
    os.close(writing)
    with os.fdopen(reading) as pipe:
        output = pipe.read()
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        # A negative code is the signal that ended the fork, with nothing printed.
        raise SystemExit(
            f"the validate step failed in the fork (exit code {code}). Any error it printed "
            "is above."
        )
    figures = json.loads(output)
    figures["peak_bytes"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return figures


_GX_RUNS = {"seconds": 0.0}


def _gx_timed() -> dict:
    """Time the validate step's import of Great Expectations and every suite run from now on.

    The step imports GX on a thread while it reads its first rows, so the
    import's time is taken where it runs, and part of it overlaps the step's
    other work. The figures are filled in as the step runs.
    """
    from dupmon import validate

    figures = {"gx_import_seconds": 0.0, "gx_preloaded": "great_expectations" in sys.modules}
    validate.import_great_expectations = _adding_time(
        validate.import_great_expectations, figures, "gx_import_seconds"
    )
    validate.run_suite = _adding_time(validate.run_suite, _GX_RUNS, "seconds")
    return figures


def _adding_time(function, totals: dict, key: str):
    """Wrap ``function`` so that each call adds its seconds to ``totals[key]``."""

    def timed(*args, **kwargs):
        begun = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[key] += time.perf_counter() - begun

    return timed


def sum_steps(parts: list[dict]) -> dict:
    """Add up one step's figures over the regions: times add, peak memory is the largest."""
    total = {
        "seconds": sum(p["seconds"] for p in parts),
        "peak_bytes": max(p["peak_bytes"] for p in parts),
    }
    for name in ("gx_import_seconds", "gx_seconds"):
        if name in parts[0]:
            total[name] = sum(p[name] for p in parts)
    for name in ("gx_preloaded", "thp_disabled"):
        if name in parts[0]:
            total[name] = all(p[name] for p in parts)
    return total


def median_run(runs: list[dict]) -> dict:
    """Return the run of median time, with the fastest and slowest time of all runs added.

    With an even number of runs, the faster of the two middle runs is returned.
    """
    ordered = sorted(runs, key=lambda run: run["seconds"])
    middle = dict(ordered[(len(ordered) - 1) // 2])
    middle["min_seconds"] = ordered[0]["seconds"]
    middle["max_seconds"] = ordered[-1]["seconds"]
    middle["peak_bytes"] = max(run["peak_bytes"] for run in runs)
    return middle


def round_figures(runs: dict[str, dict]) -> dict:
    """Return one round's floors, its total over the steps and the total's ratios to the floors."""
    total = sum(runs[step]["seconds"] for step in STEPS)
    floor = runs["floor"]["seconds"]
    floor_no_thp = runs["floor-no-thp"]["seconds"]
    return {
        "floor_seconds": floor,
        "floor_no_thp_seconds": floor_no_thp,
        "total_seconds": total,
        "ratio": total / floor if floor else None,
        "ratio_no_thp": total / floor_no_thp if floor_no_thp else None,
    }


def median_ratio(rounds: list[dict], key: str) -> float | None:
    """Return the median of the rounds' ratios, the lower middle one for an even number."""
    ratios = [item[key] for item in rounds if item[key] is not None]
    return statistics.median_low(ratios) if ratios else None


def reset_for_first_run(step: str, region_data: Path, day: dt.date) -> None:
    """Remove from a region's data folder what a first run of ``step`` would not find.

    The outputs of the steps before ``step`` stay, since ``step`` reads them.
    """
    work = region_data / "work" / day.isoformat()
    if step == "ingest":
        raw = region_data / "raw"
        for sidecar in raw.glob("*.json"):
            record = json.loads(sidecar.read_text(encoding="utf-8"))
            if record.get("monitoring_date") == day.isoformat():
                for path in raw.glob(f"{record['sha256']}*"):
                    path.unlink()
    folders = {
        "floor": [region_data / FLOOR_FOLDER],
        "floor-no-thp": [region_data / FLOOR_FOLDER],
        "ingest": [work / "staged"],
        "validate": [work / "validation"],
        "snapshot": [region_data / "snapshots" / f"monitoring_date={day.isoformat()}"],
        "delta": [region_data / "reports" / day.isoformat()],
    }
    files = {"validate": [work / "validation_notes.json"], "normalise": [work / "pairs.arrow"]}
    for folder in folders.get(step, []):
        shutil.rmtree(folder, ignore_errors=True)
    for path in files.get(step, []):
        path.unlink(missing_ok=True)


def split(size: int, regions: list[str]) -> dict[str, int]:
    """Share ``size`` pairs out over the regions, the first ones taking the remainder."""
    share, rest = divmod(size, len(regions))
    return {region: share + (index < rest) for index, region in enumerate(regions)}


def settle(seconds: float) -> None:
    """Wait before a timed run of the floor or a step (see the module's docstring)."""
    if seconds > 0:
        time.sleep(seconds)


def copy_regions(count: int, target: Path, config_dir: Path = CONFIG_DIR) -> list[str]:
    """Write ``count`` region folders into ``target`` and return their names.

    They copy the regions configured in ``config_dir`` in turn. The first copy
    of each keeps its name, and later ones get a number: sakhalin, sakhalin-2.
    ``target`` must be empty or missing: nothing in it is deleted.
    """
    sources = configured_regions(config_dir)
    if not sources:
        raise SystemExit(
            f"no region found to copy in {config_dir}: add a region folder with a region.yaml "
            "and a municipalities.yaml"
        )
    target.mkdir(parents=True, exist_ok=True)
    if any(target.iterdir()):
        raise SystemExit(f"the folder {target} for the region copies is not empty: use a new one")
    names = []
    for index in range(count):
        source = sources[index % len(sources)]
        name = source if index < len(sources) else f"{source}-{index + 1}"
        if name in names:
            raise SystemExit(
                f"the copy name {name} is taken by a configured region: rename that region"
            )
        shutil.copytree(config_dir / source, target / name)
        names.append(name)
    return names


def benchmark(
    size: int,
    files: int,
    workdir: Path,
    regions: list[str],
    repeat: int = 1,
    pause: float = 0.0,
    config_dir: Path = CONFIG_DIR,
    preload_gx: bool = False,
) -> dict:
    root = workdir / f"pairs-{size}"
    shutil.rmtree(root, ignore_errors=True)
    try:
        return _benchmark_in(root, size, files, regions, repeat, pause, config_dir, preload_gx)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _benchmark_in(
    root: Path,
    size: int,
    files: int,
    regions: list[str],
    repeat: int,
    pause: float,
    config_dir: Path,
    preload_gx: bool,
) -> dict:
    data = root / "data"
    data.mkdir(parents=True)
    sizes = split(size, regions)
    size_bytes = 0
    for region in regions:
        places = municipalities_of(region, config_dir)
        # Two thirds of the baseline's pairs are still there at the current date.
        write_exports(root / region / "inbox-baseline", BASELINE, sizes[region], files, 0, places)
        size_bytes += write_exports(
            root / region / "inbox", CURRENT, sizes[region], files, sizes[region] // 3, places
        )
    for region in regions:
        for step in STEPS:
            run_step(step, data, root / region / "inbox-baseline", BASELINE, region, config_dir)

    result = {
        "pairs": size,
        "files": files * len(regions),
        "regions": regions,
        "input_bytes": size_bytes,
        "repeat": repeat,
        "pause_seconds": pause,
        "gx_preloaded": preload_gx,
        "steps": {},
    }
    load_before = os.getloadavg()[0]

    def run_once(step: str) -> dict:
        parts = []
        for region in regions:
            # Reset before the first run too, because the first run of the
            # floor without huge pages would find the plain floor's files.
            reset_for_first_run(step, data / region, CURRENT)
            settle(pause)
            inbox = root / region / "inbox"
            parts.append(run_step(step, data, inbox, CURRENT, region, config_dir, preload_gx))
        return sum_steps(parts)

    runs: dict[str, list[dict]] = {name: [] for name in (*FLOORS, *STEPS)}
    rounds = []
    for _ in range(repeat):
        # Each step reads what the step before it wrote in the same round.
        # The round's total is compared with the floor of the same round.
        this_round = {}
        for name in (*FLOORS, *STEPS):
            this_round[name] = run_once(name)
            runs[name].append(this_round[name])
        rounds.append(round_figures(this_round))
    result["rounds"] = rounds
    result["floor"] = median_run(runs["floor"])
    result["floor_no_thp"] = median_run(runs["floor-no-thp"])
    for step in STEPS:
        result["steps"][step] = median_run(runs[step])
    result["load_average"] = [load_before, os.getloadavg()[0]]
    total = sum(item["seconds"] for item in result["steps"].values())
    validate = result["steps"]["validate"]
    result["total_seconds"] = total
    result["total_ratio"] = median_ratio(rounds, "ratio")
    result["total_ratio_no_thp"] = median_ratio(rounds, "ratio_no_thp")
    result["peak_bytes"] = max(item["peak_bytes"] for item in result["steps"].values())
    result["validate_share"] = validate["seconds"] / total if total else None
    result["gx_share"] = validate["gx_seconds"] / total if total else None
    return result


def dag_parse_times(workdir: Path) -> dict[str, dict]:
    """Time each DAG file in a fresh process, beyond the import of airflow.sdk."""
    environment = {
        **os.environ,
        "AIRFLOW_HOME": str(workdir / "airflow-home"),
        "DUPMON_DATA_DIR": str(workdir / "dag-parse-data"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    times = {
        path.name: run_child(["--parse-dag", str(path)], environment)
        for path in sorted(DAGS_DIR.glob("*.py"))
    }
    shutil.rmtree(workdir / "airflow-home", ignore_errors=True)
    shutil.rmtree(workdir / "dag-parse-data", ignore_errors=True)
    return times


def parse_dag(path: Path) -> None:
    """Import airflow.sdk, then run one DAG file, and print both times as one JSON line."""
    import logging
    import runpy

    logging.disable(logging.WARNING)
    started = time.perf_counter()
    import airflow.sdk  # noqa: F401

    imported = time.perf_counter()
    runpy.run_path(str(path))
    parsed = time.perf_counter()
    print(json.dumps({"sdk_import_seconds": imported - started, "seconds": parsed - imported}))


def spread(figures: dict) -> str:
    return f" [{figures['min_seconds']:.2f}-{figures['max_seconds']:.2f}]"


def ratio_spread(rounds: list[dict], key: str) -> str:
    ratios = [item[key] for item in rounds if item[key] is not None]
    return f" [{min(ratios):.1f}-{max(ratios):.1f}]" if ratios else ""


def markdown(results: list[dict], info: dict, command: str, dags: dict[str, dict] | None) -> str:
    lines = [
        f"Command: `{command}`",
        "",
        f"Machine: {info['platform']}, {info['processor']}, {info['cpus']} CPUs, "
        f"{(info['memory_bytes'] or 0) / 1024**3:.1f} GiB; Python {info['python']}; "
        + ", ".join(f"{k} {v}" for k, v in info["packages"].items()),
        "",
        "| pairs | regions | files | input MB | floor s | floor, THP off s | "
        + " | ".join(f"{s} s (x floor)" for s in STEPS)
        + " | total s (x floor) | x floor, THP off | peak MiB | GX import s | GX s (share) "
        "| load |",
        "|" + "---|" * (12 + len(STEPS)),
    ]
    for result in results:
        floor = result["floor"]["seconds"]
        cells = [
            f"{result['pairs']:,}",
            str(len(result["regions"])),
            str(result["files"]),
            f"{result['input_bytes'] / 1e6:.1f}",
            f"{floor:.2f}",
        ]
        repeated = result.get("repeat", 1) > 1
        if repeated:
            cells[-1] += spread(result["floor"])
        cells.append(f"{result['floor_no_thp']['seconds']:.2f}")
        if repeated:
            cells[-1] += spread(result["floor_no_thp"])
        for step in STEPS:
            seconds = result["steps"][step]["seconds"]
            cells.append(f"{seconds:.2f} ({seconds / floor:.1f})" if floor else f"{seconds:.2f}")
            if repeated:
                cells[-1] += spread(result["steps"][step])
        validate = result["steps"]["validate"]
        cells.append(f"{result['total_seconds']:.2f} ({result['total_ratio']:.1f})")
        cells.append(f"{result['total_ratio_no_thp']:.1f}")
        if repeated and result.get("rounds"):
            cells[-2] += ratio_spread(result["rounds"], "ratio")
            cells[-1] += ratio_spread(result["rounds"], "ratio_no_thp")
        cells.append(f"{result['peak_bytes'] / 1024**2:.0f}")
        cells.append(f"{validate['gx_import_seconds']:.2f}")
        cells.append(f"{validate['gx_seconds']:.2f} ({result['gx_share']:.0%})")
        cells.append(" / ".join(f"{value:.1f}" for value in result["load_average"]))
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "floor, THP off s: the floor with transparent huge pages off, as the steps run. "
        "GX s: the import of Great Expectations plus its suite runs, both within validate s. "
        "load: the one-minute load average before and after the date's steps.",
    ]
    pauses = sorted({result.get("pause_seconds", 0.0) for result in results})
    if pauses != [0.0]:
        lines[-1] += (
            " Each timed run of the floor and the steps started after a pause of "
            + ", ".join(f"{pause:g}" for pause in pauses)
            + " s."
        )
    if any(result.get("gx_preloaded") for result in results):
        lines[-1] += (
            " Great Expectations was imported before each validate step's timer started, and "
            "the step ran in a fork, as on a Celery worker with dupmon's settings. GX import s "
            "is what the step's own import then took."
        )
    if any(result.get("repeat", 1) > 1 for result in results):
        lines[-1] += (
            " With repeats, each figure is the median run, the fastest and slowest in brackets; "
            "the total adds the medians. Each round ran both floors and then every step once. "
            "A step's ratio is its median over the median floor, and a total's ratio is the "
            "median of the rounds' ratios, each round's steps over that round's floor, the "
            "lowest and highest ratio in brackets."
        )
    if dags:
        lines += [
            "",
            "| DAG file | parse s beyond airflow.sdk | airflow.sdk import s |",
            "|---|---|---|",
        ]
        for name, figures in dags.items():
            lines.append(
                f"| {name} | {figures['seconds']:.3f} | {figures['sdk_import_seconds']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid count {value}: use 1 or more")
    return value


def pause_seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"invalid pause {text}: use 0 to 3600 seconds")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[10_000, 100_000, 1_000_000],
        help="numbers of pairs to benchmark, over all regions (default: 10000 100000 1000000; "
        "the million takes several minutes)",
    )
    parser.add_argument(
        "--files",
        type=int,
        default=4,
        help="export files per region and monitoring date (default 4)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path("/tmp/dupmon-bench"),
        help="scratch folder; what each size and the DAG timing write there is deleted after use "
        "(default /tmp/dupmon-bench)",
    )
    parser.add_argument("--json", type=Path, help="write the results as JSON to this file")
    parser.add_argument("--markdown", type=Path, help="write the results table to this file")
    parser.add_argument(
        "--repeat",
        type=positive_int,
        default=1,
        help="rounds of runs of the floors and the steps of the second date; the median is "
        "reported (with an even number, the faster of the two middle runs; default 1)",
    )
    parser.add_argument(
        "--regions",
        type=positive_int,
        help="spread the pairs over this many regions, copies of the configured ones in turn "
        "(default: the configured regions)",
    )
    parser.add_argument(
        "--pause",
        type=pause_seconds,
        default=5.0,
        help="seconds to wait before each timed run of the floor and the steps, so that each "
        "starts from a settled machine (default 5; 0 runs them back to back)",
    )
    parser.add_argument(
        "--preload-gx",
        action="store_true",
        help="import Great Expectations before timing the validate step and run the step in a "
        "fork, as a Celery worker with dupmon's settings or dupmon's LocalExecutor does",
    )
    parser.add_argument(
        "--no-dag-parse", action="store_true", help="skip the timing of the DAG files"
    )
    parser.add_argument("--child", choices=[*STEPS, *FLOORS], help=argparse.SUPPRESS)
    parser.add_argument("--parse-dag", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--inbox", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--region", help=argparse.SUPPRESS)
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR, help=argparse.SUPPRESS)
    parser.add_argument("--date", type=dt.date.fromisoformat, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # Made before the runs, so that a folder that cannot be made fails at once.
    for output in (args.json, args.markdown):
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)

    if args.child:
        child(
            args.child,
            args.data,
            args.inbox,
            args.date,
            args.region,
            args.config_dir,
            args.preload_gx,
        )
        return 0
    if args.parse_dag:
        parse_dag(args.parse_dag)
        return 0

    info = machine()
    region_count = args.regions or len(configured_regions())
    for size in args.sizes:
        if size < region_count * args.files:
            parser.error(
                f"invalid size {size}: the exports are {region_count * args.files} files "
                f"({region_count} regions x {args.files}) of one pair at least, so use "
                f"{region_count * args.files} pairs or more"
            )

    config_dir = CONFIG_DIR
    regions = configured_regions()
    results = []
    try:
        if args.regions:
            args.workdir.mkdir(parents=True, exist_ok=True)
            config_dir = Path(tempfile.mkdtemp(prefix="regions-", dir=args.workdir))
            regions = copy_regions(args.regions, config_dir)
        for size in args.sizes:
            result = benchmark(
                size,
                args.files,
                args.workdir,
                regions,
                args.repeat,
                args.pause,
                config_dir,
                args.preload_gx,
            )
            results.append(result)
            print(
                f"{size:>9,} pairs: total {result['total_seconds']:.2f} s, "
                f"{result['total_ratio']:.1f} x floor "
                f"({result['total_ratio_no_thp']:.1f} x the floor with huge pages off), "
                f"peak {result['peak_bytes'] / 1024**2:.0f} MiB",
                flush=True,
            )
    finally:
        if config_dir != CONFIG_DIR:
            shutil.rmtree(config_dir, ignore_errors=True)
    dags = None if args.no_dag_parse else dag_parse_times(args.workdir)
    command = "bench/run_benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.json:
        args.json.write_text(
            json.dumps({"machine": info, "results": results, "dag_parse": dags}, indent=1)
        )
    table = markdown(results, info, command, dags)
    if args.markdown:
        args.markdown.write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
