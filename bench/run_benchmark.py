"""Benchmark of the pipeline from ingest to delta on synthetic exports.

For each size it writes two monitoring dates of synthetic exports (the
older 14-column layout as CSV, every pupil invented, split over several
files), runs the steps of the second date one by one, each in its own
process, and reports per step the wall time and the peak resident memory.

The floor is measured the same way: pyarrow's CSV reader on the same bytes
and a Parquet write of the result. Each figure is also given as a ratio to
the floor, so results compare across machines.

    .venv/bin/python bench/run_benchmark.py --sizes 10000 100000 1000000 \\
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
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

STEPS = ("ingest", "validate", "normalise", "snapshot", "delta")
BASELINE = dt.date(2024, 10, 17)
CURRENT = dt.date(2025, 1, 17)
SECRET = "benchmark-secret-" + "0" * 32
HEADER = [
    "№ п/п", "Управление", "ФИО ученика", "ID", "Пол", "Дата рождения", "ОО", "Район",
    "Населенный пункт", "Класс", "Промежутки пересечения", "ОО", "Район", "Населенный пункт",
]
# (municipality as exports print it, one of its settlements)
MUNICIPALITIES = [
    ("Городской округ «Город Южно-Сахалинск»", "Южно-Сахалинск"),
    ("Александровск-Сахалинский городской округ", "Александровск-Сахалинский"),
    ("Анивский городской округ", "Анива"),
    ("Городской округ «Долинский»", "Долинск"),
    ("Корсаковский городской округ", "Корсаков"),
    ("Курильский городской округ", "Курильск"),
    ("Макаровский городской округ", "Макаров"),
    ("Невельский городской округ", "Невельск"),
    ("Городской округ Ногликский", "Ноглики"),
    ("Городской округ «Охинский»", "Оха"),
    ("Поронайский городской округ", "Поронайск"),
    ("Северо-Курильский городской округ", "Северо-Курильск"),
    ("Городской округ «Смирныховский»", "Смирных"),
    ("Томаринский городской округ", "Томари"),
    ("Тымовский городской округ", "Тымовское"),
    ("Углегорский городской округ", "Углегорск"),
    ("Холмский городской округ", "Холмск"),
    ("Южно-Курильский городской округ", "Южно-Курильск"),
]


def write_exports(inbox: Path, day: dt.date, pairs: int, files: int, first_pair: int) -> int:
    """Write ``pairs`` synthetic pairs of ``day`` into ``files`` CSV files; return bytes written.

    Pair numbers start at ``first_pair``, so two dates share the pairs their
    number ranges share.
    """
    generator = random.Random(pairs * 31 + day.toordinal())
    inbox.mkdir(parents=True, exist_ok=True)
    written = 0
    per_file = -(-pairs // files)
    for file_index in range(files):
        path = inbox / f"dubli_part{file_index + 1}_{day.strftime('%d.%m.%Y')}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter=";")
            writer.writerow(["Список учащихся-«дублей» (образовательные организации)"])
            writer.writerow([f"Период: 02.09.2024 - {day.strftime('%d.%m.%Y')}"])
            writer.writerow(HEADER)
            start = first_pair + file_index * per_file
            for number in range(start, min(start + per_file, first_pair + pairs)):
                municipality, settlement = MUNICIPALITIES[number % len(MUNICIPALITIES)]
                other, other_settlement = MUNICIPALITIES[generator.randrange(len(MUNICIPALITIES))]
                end_day = 1 + number % 15
                writer.writerow([
                    number - start + 1, "Управление образования", f"Фамилия{number} Имя Отчество",
                    f"s{10_000_000 + number}", "МЖ"[number % 2], f"{1 + number % 28}.0{1 + number % 9}.2012",
                    f"МБОУ СОШ № {number % 40 + 1} ({settlement})", municipality, settlement,
                    f"{number % 11 + 1}{'АБВ'[number % 3]}",
                    f"2.09.2024-{end_day}.10.2024 (s{50_000_000 + number})",
                    f"МБОУ СОШ № {number % 37 + 2} ({other_settlement})", other, other_settlement,
                ])
        written += path.stat().st_size
    return written


def machine() -> dict:
    memory = None
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            memory = int(handle.readline().split()[1]) * 1024
    except OSError:
        pass
    packages = ["apache-airflow", "great-expectations", "pandas", "pyarrow"]
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "memory_bytes": memory,
        "python": platform.python_version(),
        "packages": {name: metadata.version(name) for name in packages},
    }


def run_step(step: str, data: Path, inbox: Path, day: dt.date) -> dict:
    """Run one step in a child process; return its wall time and peak memory."""
    command = [sys.executable, __file__, "--child", step, "--data", str(data),
               "--inbox", str(inbox), "--date", day.isoformat()]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"step {step} failed:\n{stderr[-4000:]}")
    return json.loads(stdout.strip().splitlines()[-1])


def child(step: str, data: Path, inbox: Path, day: dt.date) -> None:
    """Run one step in this process and print its figures as one JSON line."""
    import logging
    import resource

    logging.disable(logging.WARNING)
    environment = {
        "DUPMON_DATA_DIR": str(data),
        "DUPMON_INBOX": str(inbox),
        "DUPMON_PAIR_KEY_SECRET": SECRET,
        "DUPMON_MAX_FILE_BYTES": str(10 * 1024**3),
        "GX_ANALYTICS_ENABLED": "false",
    }
    if step == "floor":
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        started = time.perf_counter()
        for path in sorted(inbox.glob("*.csv")):
            table = pacsv.read_csv(
                path,
                read_options=pacsv.ReadOptions(skip_rows=2),
                parse_options=pacsv.ParseOptions(delimiter=";"),
            )
            pq.write_table(table, data / f"floor-{path.stem}.parquet")
        seconds = time.perf_counter() - started
    else:
        from dupmon import pipeline
        from dupmon.settings import load_settings

        settings = load_settings(environment)
        function = getattr(pipeline, f"run_{step}")
        started = time.perf_counter()
        function(settings, day)
        seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "peak_bytes": peak}))


def benchmark(size: int, files: int, workdir: Path) -> dict:
    root = workdir / f"pairs-{size}"
    shutil.rmtree(root, ignore_errors=True)
    data = root / "data"
    data.mkdir(parents=True)
    # Two thirds of the baseline's pairs are still there at the current date.
    write_exports(root / "inbox-baseline", BASELINE, size, files, first_pair=0)
    size_bytes = write_exports(root / "inbox", CURRENT, size, files, first_pair=size // 3)
    for step in STEPS:
        run_step(step, data, root / "inbox-baseline", BASELINE)

    result = {"pairs": size, "files": files, "input_bytes": size_bytes, "steps": {}}
    result["floor"] = run_step("floor", data, root / "inbox", CURRENT)
    for step in STEPS:
        result["steps"][step] = run_step(step, data, root / "inbox", CURRENT)
    floor = result["floor"]["seconds"]
    total = sum(item["seconds"] for item in result["steps"].values())
    result["total_seconds"] = total
    result["total_ratio"] = total / floor if floor else None
    result["peak_bytes"] = max(item["peak_bytes"] for item in result["steps"].values())
    result["validate_share"] = result["steps"]["validate"]["seconds"] / total if total else None
    shutil.rmtree(root, ignore_errors=True)
    return result


def markdown(results: list[dict], info: dict, command: str) -> str:
    lines = [
        f"Command: `{command}`",
        "",
        f"Machine: {info['platform']}, {info['cpus']} CPUs, "
        f"{(info['memory_bytes'] or 0) / 1024**3:.1f} GiB; Python {info['python']}; "
        + ", ".join(f"{k} {v}" for k, v in info["packages"].items()),
        "",
        "| pairs | files | input MB | floor s | " + " | ".join(f"{s} s (x floor)" for s in STEPS)
        + " | total s (x floor) | peak MiB | validate share |",
        "|" + "---|" * (7 + len(STEPS)),
    ]
    for result in results:
        floor = result["floor"]["seconds"]
        cells = [
            f"{result['pairs']:,}", str(result["files"]), f"{result['input_bytes'] / 1e6:.1f}",
            f"{floor:.2f}",
        ]
        for step in STEPS:
            seconds = result["steps"][step]["seconds"]
            cells.append(f"{seconds:.2f} ({seconds / floor:.1f})" if floor else f"{seconds:.2f}")
        cells.append(f"{result['total_seconds']:.2f} ({result['total_ratio']:.1f})")
        cells.append(f"{result['peak_bytes'] / 1024**2:.0f}")
        cells.append(f"{result['validate_share']:.0%}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000],
                        help="numbers of pairs to benchmark")
    parser.add_argument("--files", type=int, default=4, help="export files per monitoring date")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dupmon-bench"),
                        help="scratch folder, deleted size by size")
    parser.add_argument("--json", type=Path, help="write the results as JSON to this file")
    parser.add_argument("--markdown", type=Path, help="write the results table to this file")
    parser.add_argument("--child", choices=[*STEPS, "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--inbox", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--date", type=dt.date.fromisoformat, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        child(args.child, args.data, args.inbox, args.date)
        return 0

    info = machine()
    results = []
    for size in args.sizes:
        result = benchmark(size, args.files, args.workdir)
        results.append(result)
        print(
            f"{size:>9,} pairs: total {result['total_seconds']:.2f} s = "
            f"{result['total_ratio']:.1f} x floor, peak {result['peak_bytes'] / 1024**2:.0f} MiB",
            flush=True,
        )
    command = "bench/run_benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "results": results}, indent=1))
    table = markdown(results, info, command)
    if args.markdown:
        args.markdown.write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
