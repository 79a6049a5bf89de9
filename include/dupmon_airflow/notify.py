"""The operators' notice of a failed task, sent through the SMTP provider's SmtpNotifier."""

from __future__ import annotations

import datetime as dt
import html
import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

# The context keys in which each region task of dupmon_airflow.factory stores
# its region and monitoring date.
REGION_KEY = "dupmon_region"
DATE_KEY = "dupmon_monitoring_date"

# Maximum length of the error text in a notice, in characters. The task log has all of it.
MAX_ERROR_CHARS = 4000


def notify_operators(context: Mapping[str, Any]) -> None:
    """Mail the operators which task failed, for which monitoring date, and the error.

    The ``on_failure_callback`` of every dupmon task. It runs once a task has
    failed for good (after its last retry), in the process that ran the task.
    Without an operator address it only logs a warning.
    """
    from dupmon_airflow import runtime

    ti = context["ti"]
    region = context.get(REGION_KEY)
    addresses = runtime.operator_addresses(region)
    if not addresses:
        log.warning(
            "Task %s of %s failed, and no operator address is configured for the notice: "
            "set the dupmon_operator_email Variable or the operators list of the recipients file",
            ti.task_id,
            ti.dag_id,
        )
        return

    day = _monitoring_date_text(context)
    error = _error_text(context.get("exception"))
    where = f"регион {region}, " if region else ""
    subject = f"dupmon: сбой задачи {ti.task_id} ({ti.dag_id}), {where}дата мониторинга {day}"
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    notifier = SmtpNotifier(
        to=addresses,
        from_email=runtime.smtp_settings().from_email,
        subject=subject,
        html_content=_html_body(context, day, error),
        smtp_conn_id=runtime.SMTP_CONN_ID,
    )
    # The subject and body are final text. Rendered as Jinja templates, they
    # would break on an error message that contains "{{".
    notifier.template_fields = ("from_email", "to", "smtp_conn_id")
    notifier(context)
    log.info(
        "Sent the failure notice of %s of %s for %s to %d operator address(es)",
        ti.task_id,
        ti.dag_id,
        day,
        len(addresses),
    )


def _monitoring_date_text(context: Mapping[str, Any]) -> str:
    """Return the failed task's monitoring date as DD.MM.YYYY, or why it has none.

    A region task puts its date into the context first thing. The task that
    lists the regions has only the ``monitoring_date`` parameter, if any.
    """
    value = context.get(DATE_KEY) or (context.get("params") or {}).get("monitoring_date")
    if not value:
        return "не определена (задача выбирает регионы)"
    try:
        return dt.date.fromisoformat(str(value)).strftime("%d.%m.%Y")
    except ValueError:
        return f"не определена ({value!r})"


def _error_text(error: BaseException | str | None) -> str:
    if error is None:
        return "(Airflow did not pass the error; see the task log)"
    if isinstance(error, BaseException):
        cause = error.__cause__ or error
        text = f"{type(cause).__name__}: {error}"
    else:
        text = str(error)
    if len(text) > MAX_ERROR_CHARS:
        text = text[:MAX_ERROR_CHARS] + " …"
    return text


def _html_body(context: Mapping[str, Any], day: str, error: str) -> str:
    ti = context["ti"]
    dag_run = context.get("dag_run")
    rows = [
        ("DAG", ti.dag_id),
        ("Задача", ti.task_id),
        ("Запуск", getattr(dag_run, "run_id", "")),
        ("Тип запуска", getattr(getattr(dag_run, "run_type", ""), "value", "")),
        ("Регион", context.get(REGION_KEY) or "все"),
        ("Попытка", getattr(ti, "try_number", "")),
        ("Дата мониторинга", day),
        ("Журнал", getattr(ti, "log_url", "")),
    ]
    cells = "".join(
        f"<tr><th align='left'>{html.escape(name)}</th><td>{html.escape(str(value))}</td></tr>"
        for name, value in rows
    )
    return (
        "<p>Задача мониторинга дублей завершилась ошибкой.</p>"
        f"<table>{cells}</table>"
        f"<p>Ошибка:</p><pre>{html.escape(error)}</pre>"
    )

