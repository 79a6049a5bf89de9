"""What the tasks read from Airflow: the monitoring date, the settings, the SMTP connection."""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import TYPE_CHECKING
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
}
SMTP_CONN_ID = "smtp_default"


def monitoring_date(params: dict, context: dict, timezone: str) -> dt.date:
    """Return the run's monitoring date: the ``monitoring_date`` parameter, else the
    logical date (else the time the run was due) as a date in the region's time zone.

    Never the wall clock, so a rerun or a backfill gets the date it stands for.
    """
    requested = params.get("monitoring_date")
    if requested:
        try:
            return dt.date.fromisoformat(str(requested))
        except ValueError:
            raise ValueError(
                f"invalid monitoring_date parameter {requested!r}; use YYYY-MM-DD"
            ) from None
    moment = context.get("logical_date") or context["dag_run"].run_after
    return moment.astimezone(ZoneInfo(timezone)).date()


def baseline_date(params: dict) -> dt.date | None:
    requested = params.get("baseline")
    if not requested:
        return None
    try:
        return dt.date.fromisoformat(str(requested))
    except ValueError:
        raise ValueError(f"invalid baseline parameter {requested!r}; use YYYY-MM-DD") from None


def load_task_settings() -> Settings:
    from airflow.sdk import Variable

    from dupmon.settings import load_settings

    environ = dict(os.environ)
    for variable, name in VARIABLES.items():
        value = Variable.get(variable, default=None)
        if value:
            environ[name] = value
    return load_settings(environ)


def smtp_settings(conn_id: str = SMTP_CONN_ID) -> SmtpSettings:
    """Read the SMTP connection through the SMTP provider's hook."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    from dupmon.mail import SmtpSettings

    hook = SmtpHook(smtp_conn_id=conn_id)
    hook.smtp_connection = hook.get_connection(conn_id)
    from_email = hook.from_email or os.environ.get("DUPMON_MAIL_FROM", "monitoring@example.org")
    return SmtpSettings(
        host=hook.host,
        port=int(hook.port or (465 if hook.use_ssl else 25)),
        use_ssl=hook.use_ssl,
        starttls=hook.smtp_starttls and not hook.use_ssl,
        user=hook.smtp_user,
        password=hook.smtp_password,
        timeout=hook.timeout,
        from_email=from_email,
    )
