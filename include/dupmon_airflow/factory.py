"""The monitoring DAG, built once for each schedule.

Each task calls one step of ``dupmon.pipeline``; the steps pass files under
the data root to each other and return small summaries as XComs.
"""

from __future__ import annotations

import contextlib
import datetime as dt

from airflow.sdk import CronTriggerTimetable, Param, dag, get_current_context, task

TIMEZONE = "Asia/Sakhalin"

PARAMS = {
    "monitoring_date": Param(
        None,
        type=["null", "string"],
        format="date",
        description="Monitoring date, YYYY-MM-DD. Empty: the run's logical date in Asia/Sakhalin.",
    ),
    "baseline": Param(
        None,
        type=["null", "string"],
        format="date",
        description="Snapshot date to compare with. Empty: the latest earlier snapshot.",
    ),
    "send_mail": Param(True, type="boolean", description="Mail the documents."),
    "force_resend": Param(
        False,
        type="boolean",
        description="Send again what the mail ledger records as sent.",
    ),
}

DEFAULT_ARGS = {
    "owner": "dupmon",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=5),
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
    from dupmon_airflow import runtime

    from airflow.sdk.exceptions import AirflowFailException

    context = get_current_context()
    try:
        settings = runtime.load_task_settings()
        return settings, runtime.monitoring_date(context["params"], context, TIMEZONE)
    except ValueError as error:
        raise AirflowFailException(str(error)) from error


def build_monitoring_dag(
    *, dag_id: str, cron: str, include_spravka: bool, doc_md: str | None, tags: list[str]
):
    """Return the monitoring DAG for one schedule (cron in Asia/Sakhalin)."""

    @dag(
        dag_id=dag_id,
        schedule=CronTriggerTimetable(cron, timezone=TIMEZONE),
        start_date=dt.datetime(2024, 9, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        params=PARAMS,
        tags=tags,
        doc_md=doc_md,
    )
    def monitoring():
        @task
        def ingest() -> list[dict]:
            from dupmon import pipeline

            settings, day = _context()
            with _no_retry_on_bad_input():
                return pipeline.run_ingest(settings, day)

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

        @task
        def snapshot(_: dict) -> dict:
            from dupmon import pipeline

            settings, day = _context()
            with _no_retry_on_bad_input():
                return pipeline.run_snapshot(settings, day)

        @task
        def delta(_: dict) -> dict:
            from dupmon import pipeline
            from dupmon_airflow import runtime

            settings, day = _context()
            params = get_current_context()["params"]
            with _no_retry_on_bad_input():
                return pipeline.run_delta(settings, day, runtime.baseline_date(params))

        @task
        def render(_: dict) -> dict:
            from dupmon import pipeline

            settings, day = _context()
            with _no_retry_on_bad_input():
                return pipeline.run_render(settings, day)

        @task
        def mail(_: dict) -> dict:
            import logging

            from dupmon import pipeline
            from dupmon_airflow import runtime

            settings, day = _context()
            params = get_current_context()["params"]
            if not params.get("send_mail", True):
                logging.getLogger(__name__).info("send_mail is off: no message sent for %s", day)
                return {"sent": [], "skipped": [], "failed": [], "send_mail": False}
            with _no_retry_on_bad_input():
                return pipeline.run_mail(
                    settings,
                    day,
                    runtime.smtp_settings(),
                    include_spravka=include_spravka,
                    force_resend=bool(params.get("force_resend")),
                )

        @task
        def retention(_: dict) -> dict:
            from dupmon import pipeline

            settings, _day = _context()
            return pipeline.run_retention(settings)

        retention(mail(render(delta(snapshot(normalise(validate(ingest())))))))

    return monitoring()
