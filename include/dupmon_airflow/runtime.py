"""Airflow inputs of the tasks: the monitoring date, the settings, the SMTP connection,
the operators' addresses and whether a run mails."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from dupmon.mail import SmtpSettings
    from dupmon.settings import Settings

log = logging.getLogger(__name__)

# Airflow Variable -> environment variable of dupmon.settings. A Variable
# wins over the environment, so a deployment can set them in the UI.
VARIABLES = {
    "dupmon_data_dir": "DUPMON_DATA_DIR",
    "dupmon_inbox": "DUPMON_INBOX",
    "dupmon_region": "DUPMON_REGION",
    "dupmon_config_dir": "DUPMON_CONFIG_DIR",
    "dupmon_pair_key_secret": "DUPMON_PAIR_KEY_SECRET",
    "dupmon_secret_file": "DUPMON_SECRET_FILE",
    "dupmon_max_file_bytes": "DUPMON_MAX_FILE_BYTES",
    "dupmon_operator_email": "DUPMON_OPERATOR_EMAIL",
}
SMTP_CONN_ID = "smtp_default"
# The value of DagRun.run_type for the runs of `airflow backfill create`.
BACKFILL_RUN_TYPE = "backfill"


def monitoring_date(params: Mapping, context: Mapping, timezone: str) -> dt.date:
    """Return the run's monitoring date, the first of these that is set:

    1. the ``monitoring_date`` parameter;
    2. the latest monitoring date in the snapshot asset events that triggered the run;
    3. the logical date, else the time the run was due (``run_after``), as a
       date in the region's time zone.

    Never the wall clock, so a rerun or a backfill gets the date of its run.
    Raises ValueError for an invalid parameter, and for an asset-triggered
    run whose events name no date.
    """
    requested = params.get("monitoring_date")
    if requested:
        return _parse_date(requested, "monitoring_date parameter")

    event_dates = snapshot_event_dates(context)
    if event_dates:
        if len(event_dates) > 1:
            log.info(
                "The run was triggered by snapshots of %s; using the latest",
                ", ".join(day.isoformat() for day in event_dates),
            )
        return event_dates[-1]
    if run_type(context.get("dag_run")) == "asset_triggered":
        raise ValueError(
            "the asset events of this run name no monitoring date (extra 'monitoring_date'); "
            "trigger the DAG with the monitoring_date parameter"
        )

    moment = context.get("logical_date") or context["dag_run"].run_after
    return moment.astimezone(ZoneInfo(timezone)).date()


def snapshot_event_dates(context: Mapping) -> list[dt.date]:
    """Return the sorted monitoring dates in the extras of the run's triggering asset events."""
    events = context.get("triggering_asset_events") or {}
    dates = set()
    for asset in events:
        for event in events[asset]:
            value = (event.extra or {}).get("monitoring_date")
            if value:
                dates.add(_parse_date(value, f"monitoring_date of an event of {asset.name}"))
    return sorted(dates)


def baseline_date(params: Mapping) -> dt.date | None:
    requested = params.get("baseline")
    if not requested:
        return None
    return _parse_date(requested, "baseline parameter")


def _parse_date(value: Any, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"invalid {what} {value!r}; use YYYY-MM-DD") from None


def mail_requested(params: Mapping, dag_run: Any, *, default: bool = True) -> bool:
    """Return whether the run mails its documents.

    A backfill mails only when its run conf sets ``send_mail`` to true, so
    rebuilding past dates reaches no one by default. Other runs follow the
    ``send_mail`` parameter, and ``default`` when it is empty.
    """
    if run_type(dag_run) == BACKFILL_RUN_TYPE:
        conf = getattr(dag_run, "conf", None) or {}
        return conf.get("send_mail") is True
    requested = params.get("send_mail")
    return default if requested is None else bool(requested)


def run_type(dag_run: Any) -> str | None:
    """Return the run type of a DagRun as stored in the database, such as ``backfill``."""
    run_type = getattr(dag_run, "run_type", None)
    # DagRunType is a str Enum; its value is the spelling stored in the database.
    return getattr(run_type, "value", run_type)


def _environment() -> dict[str, str]:
    """Return the process environment with the dupmon_* Airflow Variables applied."""
    from airflow.sdk import Variable

    environ = dict(os.environ)
    for variable, name in VARIABLES.items():
        value = Variable.get(variable, default=None)
        if value:
            environ[name] = value
    return environ


def load_task_settings() -> Settings:
    from dupmon.settings import load_settings

    return load_settings(_environment())


def operator_addresses() -> list[str]:
    """Return the addresses that receive the notice of a failed task.

    The ``dupmon_operator_email`` Variable or ``DUPMON_OPERATOR_EMAIL``
    (addresses separated by commas), else the ``operators`` list of the
    region's recipients file. Raises ValueError or ConfigError for an invalid
    address.
    """
    from dupmon.directory import load_directory
    from dupmon.recipients import load_recipients, parse_address_list
    from dupmon.settings import load_settings

    environ = _environment()
    listed = environ.get("DUPMON_OPERATOR_EMAIL", "")
    if listed.strip():
        return parse_address_list(listed)

    settings = load_settings(environ)
    folder = settings.region_dir
    directory = load_directory(folder / "municipalities.yaml")
    return load_recipients(folder / "recipients.yaml", directory)["operators"]


def smtp_settings(conn_id: str = SMTP_CONN_ID) -> SmtpSettings:
    """Read the SMTP connection through the SMTP provider's hook."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    from dupmon.mail import SmtpSettings

    hook = SmtpHook(smtp_conn_id=conn_id)
    # get_conn() would log in to the server; the settings need only the connection.
    hook.smtp_connection = hook.get_connection(conn_id)
    from_email = hook.from_email or os.environ.get("DUPMON_MAIL_FROM", "monitoring@example.org")
    return SmtpSettings(
        host=hook.host,
        port=int(hook.port or (465 if hook.use_ssl else 25)),
        use_ssl=hook.use_ssl,
        starttls=hook.smtp_starttls and not hook.use_ssl,
        user=hook.smtp_user or None,
        password=hook.smtp_password or None,
        timeout=hook.timeout,
        from_email=from_email,
    )
