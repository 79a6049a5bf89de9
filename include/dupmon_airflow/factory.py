"""The monitoring DAGs: one per schedule, and one that follows new snapshots.

A region is configuration (``include/config/regions/<region>/``), with its
own crons and time zone, so the scheduled DAGs run every hour. Their first
task, ``due_regions``, lists the regions whose cron fired in the run's data
interval. The task group ``region`` is then mapped over them, so each
region runs its steps on its own (on any worker), and one region's failure
stops no other. Each task calls one step of ``dupmon.pipeline``; the steps
pass files in the region's data folder to each other and return small
summaries as XComs. The snapshot task's outlet is the asset
``SNAPSHOT_ASSET``; each event carries the region and the monitoring date in
its extra, and the snapshot-triggered DAG reads them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging

from airflow.sdk import (
    Asset,
    CronTriggerTimetable,
    Param,
    dag,
    get_current_context,
    task,
    task_group,
)

from dupmon_airflow.notify import DATE_KEY, REGION_KEY, notify_operators

log = logging.getLogger(__name__)

# Every hour on the hour, in UTC, with a one-hour data interval. A region is
# due in the run whose interval contains its cron's time. So a region cron at
# minute 0 runs on time in every time zone with a whole-hour offset, and a
# cron at another minute runs at the next full hour.
HOURLY = CronTriggerTimetable("0 * * * *", timezone="UTC", interval=dt.timedelta(hours=1))
# The label of each mapped task in the UI: the region and date that the task
# put into its context (REGION_KEY, DATE_KEY).
MAP_INDEX_TEMPLATE = "{{ dupmon_region }} {{ dupmon_monitoring_date }}"

# The depersonalised snapshot of one region and monitoring date. The data
# root differs between deployments, so the URI names the kind of data, not a path.
SNAPSHOT_ASSET = Asset(name="dupmon_snapshot", uri="x-dupmon://snapshots")


def _params(*, send_mail_description: str, date_description: str) -> dict[str, Param]:
    return {
        "monitoring_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description=date_description,
        ),
        "regions": Param(
            [],
            type="array",
            items={"type": "string"},
            description="With monitoring_date: the region folders to run for that date. "
            "Empty: every configured region (dupmon_regions).",
        ),
        "baseline": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Snapshot date to compare with. Empty: for the справка the latest "
            "snapshot about a quarter earlier, for the reminders the latest earlier one.",
        ),
        "send_mail": Param(None, type=["null", "boolean"], description=send_mail_description),
        "force_resend": Param(
            False,
            type="boolean",
            description="Send again what the mail ledger records as sent.",
        ),
    }


SCHEDULED_DATE = (
    "Monitoring date, YYYY-MM-DD, for the regions parameter. Empty: the regions whose "
    "cron fired in the run's hour, each for that day on its own clock."
)
FOLLOWUP_DATE = (
    "Monitoring date, YYYY-MM-DD, for the regions parameter. Empty: the region and date "
    "of each triggering snapshot."
)


# The default is empty, not true: the backfill dialog of the Airflow 3.3 UI
# appears to send its parameter form, defaults included, as the run conf, and
# an empty send_mail there does not ask for mail.
SCHEDULED_SEND_MAIL = (
    "Mail the documents. Empty: yes, except in a backfill, which mails only with "
    "send_mail set to true in its run conf."
)
FOLLOWUP_SEND_MAIL = (
    "Mail the справка and reminders. Empty: no, because the scheduled DAGs mail their own."
)

DEFAULT_ARGS = {
    "owner": "dupmon",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=5),
    "on_failure_callback": notify_operators,
}


@contextlib.contextmanager
def _no_retry_on_bad_input():
    """Fail the task at once for bad input: a retry cannot fix a rejected file."""
    from airflow.sdk.exceptions import AirflowFailException

    from dupmon.errors import ConfigError, RejectedFileError

    try:
        yield
    except (RejectedFileError, ConfigError) as error:
        raise AirflowFailException(str(error)) from error


def _region_context(due: dict) -> tuple[object, dt.date]:
    """Return the settings of the mapped task's region and its monitoring date.

    Also puts both into the task's context, for the map index label and the
    failure notice.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from dupmon_airflow import runtime

    context = get_current_context()
    context[REGION_KEY] = due["region"]
    context[DATE_KEY] = due["monitoring_date"]
    try:
        settings = runtime.load_task_settings().for_region(due["region"])
        return settings, dt.date.fromisoformat(due["monitoring_date"])
    except ValueError as error:
        raise AirflowFailException(str(error)) from error


def _listing(find) -> list[dict]:
    """Run ``find`` (a runtime function that lists regions); fail at once for bad input."""
    from airflow.sdk.exceptions import AirflowFailException

    context = get_current_context()
    try:
        return find(context["params"], context)
    except ValueError as error:
        # ConfigError is a ValueError too: a retry cannot fix a setting.
        raise AirflowFailException(str(error)) from error


# --- steps shared by the DAGs ------------------------------------------------


def _run_delta(due: dict, baseline_rule: str) -> dict:
    from airflow.sdk.exceptions import AirflowFailException

    from dupmon import pipeline
    from dupmon_airflow import runtime

    settings, day = _region_context(due)
    params = get_current_context()["params"]
    try:
        baseline = runtime.baseline_date(params)
        with _no_retry_on_bad_input():
            return pipeline.run_delta(settings, day, baseline, baseline_rule)
    except ValueError as error:
        # An invalid or missing baseline fails the same way on a retry, so fail at once.
        raise AirflowFailException(str(error)) from error


def _run_render(due: dict) -> dict:
    from dupmon import pipeline

    settings, day = _region_context(due)
    with _no_retry_on_bad_input():
        return pipeline.run_render(settings, day)


def _run_mail(due: dict, *, include_spravka: bool, default_send: bool) -> dict:
    from dupmon import pipeline
    from dupmon_airflow import runtime

    settings, day = _region_context(due)
    context = get_current_context()
    params = context["params"]
    if not runtime.mail_requested(params, context["dag_run"], default=default_send):
        log.info(
            "No message sent for %s %s: mail is off for this %s run (send_mail=%s)",
            settings.region_name,
            day,
            runtime.run_type(context["dag_run"]),
            params.get("send_mail"),
        )
        return {"sent": [], "skipped": [], "failed": [], "send_mail": False}
    with _no_retry_on_bad_input():
        return pipeline.run_mail(
            settings,
            day,
            runtime.smtp_settings(),
            include_spravka=include_spravka,
            force_resend=bool(params.get("force_resend")),
        )


# --- the DAGs ----------------------------------------------------------------


def build_monitoring_dag(
    *, dag_id: str, schedule: str, include_spravka: bool, doc_md: str | None, tags: list[str]
):
    """Return the monitoring DAG of one region schedule: ``spravka`` or ``reminders``.

    The DAG runs hourly and maps the ``region`` task group over the regions
    whose ``schedule`` cron fired in the run's hour. With ``include_spravka``
    the delta compares with the previous quarter's snapshot (baseline rule
    ``quarter``) and the справка is mailed, else the delta compares with the
    latest earlier snapshot and only the reminders go out.
    """
    baseline_rule = "quarter" if include_spravka else "latest"

    @dag(
        dag_id=dag_id,
        schedule=HOURLY,
        start_date=dt.datetime(2024, 9, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        params=_params(
            send_mail_description=SCHEDULED_SEND_MAIL, date_description=SCHEDULED_DATE
        ),
        tags=tags,
        doc_md=doc_md,
    )
    def monitoring():
        @task
        def due_regions() -> list[dict]:
            from dupmon_airflow import runtime

            return _listing(
                lambda params, context: runtime.due_regions(params, context, schedule)
            )

        @task(map_index_template=MAP_INDEX_TEMPLATE)
        def ingest(due: dict) -> list[dict]:
            from airflow.sdk.exceptions import AirflowFailException

            from dupmon import pipeline
            from dupmon.ingest import NoExportsError

            settings, day = _region_context(due)
            try:
                with _no_retry_on_bad_input():
                    return pipeline.run_ingest(settings, day)
            except NoExportsError as error:
                # A retry minutes later rarely finds the export. The operators
                # get a notice and clear the task once the file is in the inbox.
                raise AirflowFailException(
                    f"{error}. In Airflow, clear this task once the export is in the inbox."
                ) from error

        @task(map_index_template=MAP_INDEX_TEMPLATE)
        def validate(due: dict, _: list[dict]) -> list[dict]:
            from dupmon import pipeline

            settings, day = _region_context(due)
            with _no_retry_on_bad_input():
                return pipeline.run_validate(settings, day)

        @task(map_index_template=MAP_INDEX_TEMPLATE)
        def normalise(due: dict, _: list[dict]) -> dict:
            from dupmon import pipeline

            settings, day = _region_context(due)
            with _no_retry_on_bad_input():
                return pipeline.run_normalise(settings, day)

        @task(outlets=[SNAPSHOT_ASSET], map_index_template=MAP_INDEX_TEMPLATE)
        def snapshot(due: dict, _: dict) -> dict:
            from dupmon import pipeline

            settings, day = _region_context(due)
            with _no_retry_on_bad_input():
                summary = pipeline.run_snapshot(settings, day)
            get_current_context()["outlet_events"][SNAPSHOT_ASSET].extra = {
                "region": settings.region_name,
                "monitoring_date": day.isoformat(),
                "pairs": summary["pairs"],
            }
            return summary

        @task(map_index_template=MAP_INDEX_TEMPLATE)
        def delta(due: dict, _: dict) -> dict:
            return _run_delta(due, baseline_rule)

        @task(map_index_template=MAP_INDEX_TEMPLATE)
        def render(due: dict, _: dict) -> dict:
            return _run_render(due)

        @task(map_index_template=MAP_INDEX_TEMPLATE)
        def mail(due: dict, _: dict) -> dict:
            return _run_mail(due, include_spravka=include_spravka, default_send=True)

        @task(map_index_template=MAP_INDEX_TEMPLATE)
        def retention(due: dict, _: dict) -> dict:
            from dupmon import pipeline

            settings, _day = _region_context(due)
            return pipeline.run_retention(settings)

        @task_group(group_id="region")
        def region(due: dict):
            staged = ingest(due)
            checked = validate(due, staged)
            normalised = normalise(due, checked)
            stored = snapshot(due, normalised)
            compared = delta(due, stored)
            rendered = render(due, compared)
            retention(due, mail(due, rendered))

        region.expand(due=due_regions())

    return monitoring()


def build_snapshot_followup_dag(*, dag_id: str, doc_md: str | None, tags: list[str]):
    """Return the DAG that rebuilds the справка whenever a snapshot is written.

    Runs on each event of ``SNAPSHOT_ASSET`` and maps the ``region`` task
    group over the regions the events name, each for its latest monitoring
    date. Mails only when triggered with ``send_mail`` true.
    """

    @dag(
        dag_id=dag_id,
        schedule=[SNAPSHOT_ASSET],
        start_date=dt.datetime(2024, 9, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        params=_params(send_mail_description=FOLLOWUP_SEND_MAIL, date_description=FOLLOWUP_DATE),
        tags=tags,
        doc_md=doc_md,
    )
    def followup():
        @task
        def snapshot_regions() -> list[dict]:
            from dupmon_airflow import runtime

            return _listing(runtime.snapshot_regions)

        @task(map_index_template=MAP_INDEX_TEMPLATE)
        def delta(due: dict) -> dict:
            return _run_delta(due, "quarter")

        @task(map_index_template=MAP_INDEX_TEMPLATE)
        def render(due: dict, _: dict) -> dict:
            return _run_render(due)

        @task(map_index_template=MAP_INDEX_TEMPLATE)
        def mail(due: dict, _: dict) -> dict:
            return _run_mail(due, include_spravka=True, default_send=False)

        @task_group(group_id="region")
        def region(due: dict):
            mail(due, render(due, delta(due)))

        region.expand(due=snapshot_regions())

    return followup()
