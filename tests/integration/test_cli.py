"""The dupmon command, in process and as the installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from dupmon.cli import EXIT_BAD_INPUT, main
from tests.conftest import SAMPLES

JANUARY_FILE = SAMPLES / "Список учащихся-дублей 17.01.2025.xlsx"
BAD_CSV = (
    "№ п/п;Управление;ОО;Населенный пункт;Класс/группа;Промежутки пересечения;ОО;"
    "Населенный пункт;Класс/группа\n"
    "1;Сахминобр;Школа А;Энск;5;1.01.2025 - 5.13.2025;Школа Б;Энск;5\n"
)


def test_validate_good_file(capsys):
    code = main(["validate", str(JANUARY_FILE)])
    assert (code, capsys.readouterr().out.strip().splitlines()[-1]) == (0, "valid")


def test_validate_reports_layout(capsys):
    main(["validate", str(JANUARY_FILE)])
    assert "xlsx, two_row_header layout, 2 rows, period 2024-09-02 - 2025-01-17" in capsys.readouterr().out


def test_validate_bad_file_exits_one(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text(BAD_CSV, encoding="utf-8")
    code = main(["validate", str(path)])
    output = capsys.readouterr().out
    assert code == 1
    assert "row 2" in output
    assert "5.13.2025" in output


def test_validate_json(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text(BAD_CSV, encoding="utf-8")
    main(["validate", "--json", str(path)])
    result = json.loads(capsys.readouterr().out)
    assert {p["column"] for p in result["problems"]} >= {"Промежутки пересечения"}


def test_validate_missing_file(tmp_path, capsys):
    code = main(["validate", str(tmp_path / "absent.xlsx")])
    assert code == EXIT_BAD_INPUT
    assert "does not exist" in capsys.readouterr().err


def test_validate_unknown_format(tmp_path, capsys):
    path = tmp_path / "picture.xls"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    code = main(["validate", str(path)])
    assert code == 1
    assert "format cannot be told" in capsys.readouterr().out


_UNREADABLE_WITHOUT_GX = """
import sys

from dupmon.cli import main
from tests.rejected_import import reject_import

reject_import("great_expectations")
code = main(["validate", sys.argv[1]])
print("exit", code, "great_expectations" in sys.modules)
"""


def test_validate_unreadable_file_without_gx(tmp_path):
    # A file that cannot be read is reported before GX is imported.
    path = tmp_path / "picture.xls"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")

    result = subprocess.run(
        [sys.executable, "-c", _UNREADABLE_WITHOUT_GX, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).parents[2],
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert "format cannot be told" in result.stdout
    assert result.stdout.splitlines()[-1] == "exit 1 False"


def test_run_bad_inbox_exits_two(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DUPMON_SECRET_FILE", str(tmp_path / "secret"))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "dubli_17.01.2025.csv").write_text(BAD_CSV, encoding="utf-8")
    code = main(["run", "--date", "2025-01-17", "--inbox", str(inbox),
                 "--data", str(tmp_path / "data"), "--no-mail"])
    error = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert "rejected" in error
    assert "dubli_17.01.2025.csv" in error


def test_run_missing_inbox(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DUPMON_SECRET_FILE", str(tmp_path / "secret"))
    code = main(["run", "--date", "2025-01-17", "--inbox", str(tmp_path / "none"),
                 "--data", str(tmp_path / "data"), "--no-mail"])
    assert code == EXIT_BAD_INPUT
    assert "does not exist" in capsys.readouterr().err


def test_run_invalid_date(capsys):
    try:
        main(["run", "--date", "17.01.2025"])
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2
    assert "use YYYY-MM-DD" in capsys.readouterr().err


def test_console_script_runs_both_dates(tmp_path):
    script = Path(sys.executable).parent / "dupmon"
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DUPMON_DATA_DIR": str(tmp_path / "data"),
        "DUPMON_INBOX": str(SAMPLES),
    }
    outputs = []
    for day in ("2024-10-17", "2025-01-17"):
        result = subprocess.run(
            [str(script), "run", "--date", day, "--no-mail"],
            capture_output=True, text=True, env=environment, timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        outputs.append(result.stdout.strip())
    assert outputs[-1].startswith(
        "sakhalin, 2025-01-17: 2 pairs now, 3 at the baseline 2024-10-17, 3 eliminated, 2 new"
    )


def test_console_script_creates_secret_outside_data(tmp_path):
    script = Path(sys.executable).parent / "dupmon"
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DUPMON_DATA_DIR": str(tmp_path / "data"),
        "DUPMON_INBOX": str(SAMPLES),
    }
    result = subprocess.run(
        [str(script), "run", "--date", "2024-10-17", "--no-mail"],
        capture_output=True, text=True, env=environment, timeout=300,
    )
    secret = tmp_path / ".config" / "dupmon" / "pair_key_secret"
    assert result.returncode == 0, result.stderr[-3000:]
    assert secret.exists()
    assert str(secret) in result.stderr
    shutil.rmtree(tmp_path / "data")


def test_data_option_moves_default_inbox(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DUPMON_INBOX", raising=False)
    monkeypatch.setenv("DUPMON_SECRET_FILE", str(tmp_path / "secret"))
    code = main(["run", "--date", "2025-01-17", "--data", str(tmp_path / "data"), "--no-mail"])
    assert code == EXIT_BAD_INPUT
    assert str(tmp_path / "data" / "sakhalin" / "inbox") in capsys.readouterr().err


def test_run_empty_inbox_exits_two(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DUPMON_SECRET_FILE", str(tmp_path / "secret"))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    code = main(["run", "--date", "2025-04-17", "--inbox", str(inbox),
                 "--data", str(tmp_path / "data"), "--no-mail"])
    assert code == EXIT_BAD_INPUT
    assert "no export for 2025-04-17" in capsys.readouterr().err


def test_pdf_failure_is_plain_message(tmp_path, capsys, monkeypatch):
    from dupmon import pipeline
    from dupmon.pdf import PdfConversionError

    def fail(*args, **kwargs):
        raise PdfConversionError("soffice exited with 1")

    monkeypatch.setattr(pipeline, "run_all", fail)
    code = main(["run", "--date", "2025-01-17", "--data", str(tmp_path / "data"), "--no-mail"])
    assert code == 1
    assert "the PDF of the справка failed: soffice exited with 1" in capsys.readouterr().err


def test_run_region_option(tmp_path, capsys, monkeypatch):
    from tests.two_regions import make_two_regions

    for name, value in make_two_regions(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DUPMON_SECRET_FILE", str(tmp_path / "secret"))
    data = tmp_path / "data"

    code = main(["run", "--region", "severnaya", "--date", "2024-10-17", "--data", str(data),
                 "--no-mail"])

    assert code == 0
    assert capsys.readouterr().out.startswith("severnaya, 2024-10-17: 3 pairs now")
    assert (data / "severnaya" / "reports" / "2024-10-17" / "appendix1.csv").exists()
    assert not (data / "sakhalin").exists()


def test_run_without_region_of_several(tmp_path, capsys, monkeypatch):
    from tests.two_regions import make_two_regions

    for name, value in make_two_regions(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DUPMON_SECRET_FILE", str(tmp_path / "secret"))

    code = main(["run", "--date", "2024-10-17", "--data", str(tmp_path / "data"), "--no-mail"])

    error = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert "sakhalin, severnaya" in error
    assert "--region" in error


def test_run_unknown_region(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DUPMON_SECRET_FILE", str(tmp_path / "secret"))

    code = main(["run", "--region", "kamchatka", "--date", "2024-10-17",
                 "--data", str(tmp_path / "data"), "--no-mail"])

    assert code == EXIT_BAD_INPUT
    assert "kamchatka" in capsys.readouterr().err


def test_inbox_option_takes_region(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DUPMON_SECRET_FILE", str(tmp_path / "secret"))
    inbox = tmp_path / "exchange" / "sakhalin"
    shutil.copytree(SAMPLES, inbox)

    code = main(["run", "--date", "2024-10-17", "--inbox", str(tmp_path / "exchange" / "{region}"),
                 "--data", str(tmp_path / "data"), "--no-mail"])

    assert code == 0
    assert "sakhalin, 2024-10-17: 3 pairs now" in capsys.readouterr().out
