"""Airflow inputs of the tasks: the due regions and their monitoring dates, the settings,
the SMTP connection, the operators' addresses and whether a run mails."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dupmon.mail import SmtpSettings
    from dupmon.settings import Settings

log = logging.getLogger(__name__)

# Airflow Variable -> environment variable of dupmon.settings. A Variable
# wins over the environment, so a deployment can set them in the UI.
VARIABLES = {
    "dupmon_data_dir": "DUPMON_DATA_DIR",
    "dupmon_inbox": "DUPMON_INBOX",
    "dupmon_regions": "DUPMON_REGIONS",
    "dupmon_config_dir": "DUPMON_CONFIG_DIR",
    "dupmon_pair_key_secret": "DUPMON_PAIR_KEY_SECRET",
    "dupmon_secret_file": "DUPMON_SECRET_FILE",
    "dupmon_max_file_bytes": "DUPMON_MAX_FILE_BYTES",
    "dupmon_operator_email": "DUPMON_OPERATOR_EMAIL",
}
SMTP_CONN_ID = "smtp_default"
# Values of DagRun.run_type: runs of `airflow backfill create`, of the schedule and of asset events.
BACKFILL_RUN_TYPE = "backfill"
SCHEDULED_RUN_TYPE = "scheduled"
ASSET_RUN_TYPE = "asset_triggered"
HOUR = dt.timedelta(hours=1)
# How far back a scheduled run looks for regions that fell due while no run
# was made (see due_interval).
MAX_CATCH_UP = dt.timedelta(days=7)


def due_interval(context: Mapping) -> tuple[dt.datetime, dt.datetime]:
    """Return the interval (start, end] in which a region's cron must fire to be due.

    It is the run's data interval (one hour for the scheduled runs). A run
    without one, or with an empty one, takes the hour before ``run_after``.
    A scheduled run that follows a gap (the scheduler was down, or the
    previous run outlasted its hour, and ``catchup`` is off) also covers the
    hours since the previous run, up to ``MAX_CATCH_UP``, so no region's
    date is skipped.
    """
    dag_run = context.get("dag_run")
    end = context.get("data_interval_end") or dag_run.run_after
    start = context.get("data_interval_start")
    if start is None or start >= end:
        start = end - HOUR
    if run_type(dag_run) != SCHEDULED_RUN_TYPE:
        return start, end

    previous = context["ti"].get_previous_dagrun()
    previous_end = getattr(previous, "data_interval_end", None)
    if previous_end is not None and previous_end < start:
        earliest = end - MAX_CATCH_UP
        if previous_end < earliest:
            log.warning(
                "The previous run ended its interval at %s, over %s ago; regions due before "
                "%s are not run: trigger them with the monitoring_date parameter",
                previous_end.isoformat(),
                MAX_CATCH_UP,
                earliest.isoformat(),
            )
        start = max(previous_end, earliest)
        log.info("Covering the hours since the previous run: from %s", start.isoformat())
    return start, end


def due_regions(params: Mapping, context: Mapping, schedule: str) -> list[dict]:
    """Return the regions a run of a monitoring DAG works on, each with its monitoring date.

    With the ``monitoring_date`` parameter: the regions of the ``regions``
    parameter (empty: every configured one), all for that date. Otherwise the
    regions whose ``schedule`` cron (``spravka`` or ``reminders``) fires in
    :func:`due_interval`, each with the date of that time on its own clock.
    Raises ValueError or ConfigError for invalid parameters or settings.
    """
    from dupmon.regions import due_regions as regions_due
    from dupmon.regions import load_region_config, select_regions

    settings = load_task_settings()
    names = select_regions(settings, _requested_regions(params))
    requested = params.get("monitoring_date")
    if requested:
        day = _parse_date(requested, "monitoring_date parameter").isoformat()
        due = [{"region": name, "monitoring_date": day} for name in names]
    else:
        start, end = due_interval(context)
        configs = [load_region_config(settings.config_dir / name) for name in names]
        due = regions_due(configs, schedule, start, end)
        log.info(
            "Regions due for %s in (%s, %s]: %s",
            schedule,
            start.isoformat(),
            end.isoformat(),
            ", ".join(f"{d['region']} {d['monitoring_date']}" for d in due) or "none",
        )
    if due and len(names) > 1 and settings.inbox_is_shared:
        _raise_shared_inbox(settings, names)
    return due


def snapshot_regions(params: Mapping, context: Mapping) -> list[dict]:
    """Return the regions and dates whose snapshots triggered a run of the follow-up DAG.

    With the ``monitoring_date`` parameter: as :func:`due_regions`. Otherwise
    one entry per region named in the triggering asset events, for the
    latest monitoring date among its events. A run that no event triggered
    (a manual one) takes the regions whose ``spravka`` cron fired in its
    interval. Raises ValueError for an asset-triggered run whose events name
    no date.
    """
    from dupmon.regions import select_regions

    settings = load_task_settings()
    requested = params.get("monitoring_date")
    if requested:
        day = _parse_date(requested, "monitoring_date parameter").isoformat()
        names = select_regions(settings, _requested_regions(params))
        return [{"region": name, "monitoring_date": day} for name in names]

    if run_type(context.get("dag_run")) != ASSET_RUN_TYPE and not context.get(
        "triggering_asset_events"
    ):
        return due_regions(params, context, "spravka")

    latest: dict[str, dt.date] = {}
    for region, day in snapshot_events(context, settings):
        if region not in latest or day > latest[region]:
            if region in latest:
                log.info("%s: snapshots of %s and %s triggered the run; using the latest",
                         region, latest[region], day)
            latest[region] = day
    if not latest:
        raise ValueError(
            "the asset events of this run name no region and monitoring date (extra 'region' "
            "and 'monitoring_date'); trigger the DAG with the monitoring_date parameter"
        )
    return [{"region": r, "monitoring_date": latest[r].isoformat()} for r in sorted(latest)]


def snapshot_events(context: Mapping, settings: Settings) -> list[tuple[str, dt.date]]:
    """Return the (region, monitoring date) pairs in the extras of the triggering asset events.

    An event written before events named their region counts for the only
    configured region, and is skipped with a warning when there are several.
    """
    from dupmon.settings import configured_regions

    events = context.get("triggering_asset_events") or {}
    found = []
    for asset in events:
        for event in events[asset]:
            extra = event.extra or {}
            value = extra.get("monitoring_date")
            if not value:
                continue
            day = _parse_date(value, f"monitoring_date of an event of {asset.name}")
            region = extra.get("region")
            if not region:
                configured = configured_regions(settings.config_dir)
                if len(configured) != 1:
                    log.warning(
                        "Skipping an event of %s for %s that names no region", asset.name, day
                    )
                    continue
                region = configured[0]
            found.append((str(region), day))
    return found


def _requested_regions(params: Mapping) -> list[str]:
    value = params.get("regions") or []
    if isinstance(value, str):
        value = value.split(",")
    return [str(name).strip() for name in value if str(name).strip()]


def _raise_shared_inbox(settings: Settings, names: list[str]) -> None:
    from dupmon.errors import ConfigError

    raise ConfigError(
        f"the regions {', '.join(names)} would all read the inbox {settings.inbox_pattern}, "
        "and take each other's exports; put {region} into DUPMON_INBOX (the dupmon_inbox "
        "Variable), such as /srv/exchange/{region}, and give each region its folder"
    )


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


def operator_addresses(region: str | None = None) -> list[str]:
    """Return the addresses that receive the notice of a failed task.

    The ``dupmon_operator_email`` Variable or ``DUPMON_OPERATOR_EMAIL``
    (addresses separated by commas), else the ``operators`` list of the
    region's recipients file. Without a region (a task that runs for all of
    them) the operators of every region to run, each once; a region whose
    files fail to load is skipped with a warning. Raises ValueError or
    ConfigError for an invalid address.
    """
    from dupmon.errors import ConfigError
    from dupmon.regions import select_regions
    from dupmon.settings import load_settings

    environ = _environment()
    listed = environ.get("DUPMON_OPERATOR_EMAIL", "")
    if listed.strip():
        from dupmon.recipients import parse_address_list

        return parse_address_list(listed)

    settings = load_settings(environ)
    if region is not None:
        return _region_operators(settings.for_region(region))
    addresses: dict[str, str] = {}
    for name in select_regions(settings):
        try:
            operators = _region_operators(settings.for_region(name))
        except ConfigError as error:
            log.warning("Skipping the operators of %s: %s", name, error)
            continue
        for address in operators:
            addresses.setdefault(address.lower(), address)
    return list(addresses.values())


def _region_operators(settings: Settings) -> list[str]:
    from dupmon.directory import load_directory
    from dupmon.recipients import load_recipients

    folder = settings.region_config_dir
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
