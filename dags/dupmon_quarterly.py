"""
### Quarterly duplicate monitoring (справка)

On the 17th of January, April, July and October at 09:00 Asia/Sakhalin, takes
the exports of «Список учащихся-«дублей»» from the inbox, validates them,
stores a depersonalised snapshot, compares it with the previous one, renders
the справка with both appendices and the reminders, and mails them (each
message once per recipient).

Parameters: `monitoring_date` (default: the logical date in Asia/Sakhalin),
`baseline` (default: the previous quarter's snapshot, the latest one at
least 80 days earlier), `send_mail` (default: yes, except in a backfill,
which mails only with `send_mail: true` in its run conf), `force_resend`.
The snapshot task writes the `dupmon_snapshot` asset. A task that fails for
good mails the operators (`dupmon_operator_email`).
Settings: the `dupmon_*` Variables or `DUPMON_*` environment variables, and
the `smtp_default` connection.
"""

from __future__ import annotations

from dupmon_airflow.factory import build_monitoring_dag

dag = build_monitoring_dag(
    dag_id="dupmon_quarterly",
    cron="0 9 17 1,4,7,10 *",
    include_spravka=True,
    doc_md=__doc__,
    tags=["dupmon", "quarterly", "справка"],
)
