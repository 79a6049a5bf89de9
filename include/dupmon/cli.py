"""The ``dupmon`` command: the pipeline in process, without a scheduler."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from pathlib import Path

from dupmon.errors import ConfigError, RejectedFileError
from dupmon.pdf import PdfConversionError

log = logging.getLogger("dupmon")

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_DELIVERY_FAILED = 3
EXIT_INTERRUPTED = 130


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as error:
        if len(text) == 10 and text[4] == "-" and text[7] == "-":
            raise argparse.ArgumentTypeError(f"invalid date {text!r}: {error}") from None
        raise argparse.ArgumentTypeError(f"invalid date {text!r}; use YYYY-MM-DD") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dupmon",
        description="Monitoring of duplicate pupil accounts («Список учащихся-«дублей»»).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run",
        help="run every step for one monitoring date of one region",
        description="Ingest, validate, normalise, snapshot, compare, render and mail one "
        "monitoring date of one region. Settings come from DUPMON_* environment variables.",
    )
    run.add_argument("--date", type=_date, required=True, help="monitoring date, YYYY-MM-DD")
    run.add_argument(
        "--baseline",
        type=_date,
        help="snapshot date to compare with, YYYY-MM-DD (default: the previous quarter's, "
        "the latest one at least 80 days older; with --reminders-only the latest earlier one)",
    )
    run.add_argument(
        "--region",
        help="region folder under the config folder (default: DUPMON_REGION, else the only "
        "region configured)",
    )
    run.add_argument(
        "--inbox",
        help="folder of the exports; {region} is replaced by the region (default: DUPMON_INBOX, "
        "else <data root>/<region>/inbox)",
    )
    run.add_argument(
        "--data",
        type=Path,
        help="data root; the run writes into its <region>/ folder (default: DUPMON_DATA_DIR "
        "or ./data)",
    )
    run.add_argument("--no-mail", action="store_true", help="render the documents but mail no one")
    run.add_argument(
        "--reminders-only",
        action="store_true",
        help="mail the reminders but not the справка (the monthly run)",
    )
    run.add_argument(
        "--force-resend",
        action="store_true",
        help="send again messages that the mail ledger records as sent",
    )

    check = commands.add_parser(
        "validate",
        help="print the validation result of one export file",
        description="Parse and validate one export without storing anything. Exits 1 when "
        "the file would be rejected.",
    )
    check.add_argument("file", type=Path, help="export file (xlsx, xls, html, csv, ...)")
    check.add_argument(
        "--region",
        help="region whose municipality directory checks the file (default: DUPMON_REGION, "
        "else the only region configured)",
    )
    check.add_argument("--json", action="store_true", help="print the result as JSON")

    sink = commands.add_parser(
        "smtp-sink",
        help="run a local SMTP server on loopback that stores every message",
        add_help=False,
    )
    sink.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # GX logs its internals at INFO; only its warnings help an operator.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)


def _run(args) -> int:
    from dupmon import pipeline
    from dupmon.mail import MailDeliveryError, SmtpSettings
    from dupmon.settings import load_settings

    settings = load_settings(data_dir=args.data, inbox_pattern=args.inbox, region=args.region)
    smtp = None
    if not args.no_mail:
        smtp = SmtpSettings(
            host=settings.smtp_host,
            port=settings.smtp_port,
            use_ssl=False,
            starttls=False,
            user="",
            password="",
            timeout=30,
            from_email=settings.mail_from,
        )
    try:
        summary = pipeline.run_all(
            settings,
            args.date,
            baseline=args.baseline,
            smtp=smtp,
            include_spravka=not args.reminders_only,
            force_resend=args.force_resend,
        )
    except MailDeliveryError as error:
        print(f"dupmon: mail delivery failed: {error}", file=sys.stderr)
        return EXIT_DELIVERY_FAILED
    out = pipeline.report_dir(settings, args.date)
    delta = summary["delta"]
    print(
        f"{settings.region_name}, {args.date.isoformat()}: {delta['current']} pairs now, "
        f"{delta['previous']} at the "
        f"baseline {delta['baseline_date'] or '(none)'}, {delta['eliminated']} eliminated, "
        f"{delta['new']} new. Reports in {out}"
    )
    return 0


def _validate(args) -> int:
    from dupmon.pipeline import load_region
    from dupmon.settings import load_settings
    from dupmon.validate import check_file

    settings = load_settings(region=args.region)
    if not args.file.is_file():
        what = "is a folder, not a file" if args.file.is_dir() else "does not exist"
        raise FileNotFoundError(f"{args.file} {what}")
    facts, problems = check_file(args.file, settings, load_region(settings).directory)
    errors = [p for p in problems if p.severity == "error"]
    if args.json:
        print(json.dumps({**facts, "problems": [p.to_dict() for p in problems]}, ensure_ascii=False))
    else:
        if "layout" in facts:
            period = (
                f"period {facts['period_start'] or '?'} - {facts['period_end']}"
                if facts["period_end"]
                else "no period in the header block"
            )
            print(f"{args.file}: {facts['format']}, {facts['layout']} layout, {facts['rows']} rows, {period}")
        for problem in problems:
            print(f"{problem.severity}: {problem.describe(args.file.name)}")
        print("rejected" if errors else "valid")
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "smtp-sink":
        from dupmon import smtp_sink

        return smtp_sink.main(argv[1:])

    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    try:
        if args.command == "run":
            return _run(args)
        return _validate(args)
    except RejectedFileError as error:
        print(f"dupmon: rejected: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (ConfigError, ValueError, OSError) as error:
        # OSError covers a missing inbox, a data root under a regular file and
        # the like: each message names the path.
        print(f"dupmon: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except PdfConversionError as error:
        print(f"dupmon: the PDF of the справка failed: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("dupmon: interrupted; rerun the same command to finish", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
