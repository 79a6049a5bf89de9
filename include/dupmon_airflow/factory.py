"""The monitoring DAGs: one per schedule, and one that follows new snapshots.

Each task calls one step of ``dupmon.pipeline``; the steps pass files under
the data root to each other and return small summaries as XComs. The
snapshot task's outlet is the asset ``SNAPSHOT_ASSET``; its events carry the
monitoring date in their extra, and the snapshot-triggered DAG reads it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging

from airflow.sdk import Asset, CronTriggerTimetable, Param, dag, get_current_context, task

from dupmon_airflow.notify import notify_operators

log = logging.getLogger(__name__)

TIMEZONE = "Asia/Sakhalin"

# The depersonalised snapshot of one monitoring date. The data root differs
# between deployments, so the URI names the kind of data, not a path.
SNAPSHOT_ASSET = Asset(name="dupmon_snapshot", uri="x-dupmon://snapshots")


def _params(*, send_mail_description: str) -> dict[str, Param]:
    return {
        "monitoring_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Monitoring date, YYYY-MM-DD. Empty: the date of the triggering "
            "snapshot, else the run's logical date in Asia/Sakhalin.",
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


def _context() -> tuple[object, dt.date]:
    from airflow.sdk.exceptions import AirflowFailException

    from dupmon_airflow import runtime

    context = get_current_context()
    try:
        settings = runtime.load_task_settings()
        return settings, runtime.monitoring_date(context["params"], context, TIMEZONE)
    except ValueError as error:
        raise AirflowFailException(str(error)) from error


# --- steps shared by the DAGs ------------------------------------------------


def _run_delta(baseline_rule: str) -> dict:
    from airflow.sdk.exceptions import AirflowFailException

    from dupmon import pipeline
    from dupmon_airflow import runtime

    settings, day = _context()
    params = get_current_context()["params"]
    try:
        baseline = runtime.baseline_date(params)
        with _no_retry_on_bad_input():
            return pipeline.run_delta(settings, day, baseline, baseline_rule)
    except ValueError as error:
        # An invalid or missing baseline fails the same way on a retry, so fail at once.
        raise AirflowFailException(str(error)) from error


def _run_render() -> dict:
    from dupmon import pipeline

    settings, day = _context()
    with _no_retry_on_bad_input():
        return pipeline.run_render(settings, day)


def _run_mail(*, include_spravka: bool, default_send: bool) -> dict:
    from dupmon import pipeline
    from dupmon_airflow import runtime

    settings, day = _context()
    context = get_current_context()
    params = context["params"]
    if not runtime.mail_requested(params, context["dag_run"], default=default_send):
        log.info(
            "No message sent for %s: mail is off for this %s run (send_mail=%s)",
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
    *, dag_id: str, cron: str, include_spravka: bool, doc_md: str | None, tags: list[str]
):
    """Return the monitoring DAG for one schedule (cron in Asia/Sakhalin).

    With ``include_spravka`` the delta compares with the previous quarter's
    snapshot (baseline rule ``quarter``), else with the latest earlier one.
    """
    baseline_rule = "quarter" if include_spravka else "latest"

    @dag(
        dag_id=dag_id,
        schedule=CronTriggerTimetable(cron, timezone=TIMEZONE),
        start_date=dt.datetime(2024, 9, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        params=_params(send_mail_description=SCHEDULED_SEND_MAIL),
        tags=tags,
        doc_md=doc_md,
    )
    def monitoring():
        @task
        def ingest() -> list[dict]:
            from airflow.sdk.exceptions import AirflowFailException

            from dupmon import pipeline
            from dupmon.ingest import NoExportsError

            settings, day = _context()
            try:
                with _no_retry_on_bad_input():
                    return pipeline.run_ingest(settings, day)
            except NoExportsError as error:
                # A retry minutes later rarely finds the export. The operators
                # get a notice and clear the task once the file is in the inbox.
                raise AirflowFailException(
                    f"{error}. In Airflow, clear this task once the export is in the inbox."
                ) from error

        @task
        def validate(_: list[dict]) -> list[dict]:
            from dupmon import pipeline

            settings, day = _context()
            with _no_retry_on_bad_input():
                return pipeline.run_validate(settings, day)

        @task
        def normalise(_: list[dict]) -> dict:
            from dupmon import pipeline

            settings, day = _context()
            with _no_retry_on_bad_input():
                return pipeline.run_normalise(settings, day)

        @task(outlets=[SNAPSHOT_ASSET])
        def snapshot(_: dict) -> dict:
            from dupmon import pipeline

            settings, day = _context()
            with _no_retry_on_bad_input():
                summary = pipeline.run_snapshot(settings, day)
            get_current_context()["outlet_events"][SNAPSHOT_ASSET].extra = {
                "monitoring_date": day.isoformat(),
                "pairs": summary["pairs"],
            }
            return summary

        @task
        def delta(_: dict) -> dict:
            return _run_delta(baseline_rule)

        @task
        def render(_: dict) -> dict:
            return _run_render()

        @task
        def mail(_: dict) -> dict:
            return _run_mail(include_spravka=include_spravka, default_send=True)

        @task
        def retention(_: dict) -> dict:
            from dupmon import pipeline

            settings, _day = _context()
            return pipeline.run_retention(settings)

        retention(mail(render(delta(snapshot(normalise(validate(ingest())))))))

    return monitoring()


def build_snapshot_followup_dag(*, dag_id: str, doc_md: str | None, tags: list[str]):
    """Return the DAG that rebuilds the справка whenever a snapshot is written.

    Runs on each event of ``SNAPSHOT_ASSET``, for the monitoring date the
    event names, and mails only when triggered with ``send_mail`` true.
    """

    @dag(
        dag_id=dag_id,
        schedule=[SNAPSHOT_ASSET],
        start_date=dt.datetime(2024, 9, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        params=_params(send_mail_description=FOLLOWUP_SEND_MAIL),
        tags=tags,
        doc_md=doc_md,
    )
    def followup():
        @task
        def delta() -> dict:
            return _run_delta("quarter")

        @task
        def render(_: dict) -> dict:
            return _run_render()

        @task
        def mail(_: dict) -> dict:
            return _run_mail(include_spravka=True, default_send=False)

        mail(render(delta()))

    return followup()
