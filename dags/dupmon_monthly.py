"""
### Monthly duplicate reminders

On the 17th of the months without a quarterly run (February, March, May,
June, August, September, November, December) at 09:00 Asia/Sakhalin, runs the
same steps as the quarterly DAG on that date's exports and mails only the
reminders to the municipal education authorities that still have duplicates,
with their list and the deadline. In the quarterly months the quarterly DAG
sends the reminders with the справка.

Parameters: `monitoring_date` (default: the logical date in Asia/Sakhalin),
`baseline` (default: the latest earlier snapshot), `send_mail` (default: yes,
except in a backfill, which mails only with `send_mail: true` in its run
conf), `force_resend`. The snapshot task writes the `dupmon_snapshot` asset.
A task that fails for good mails the operators (`dupmon_operator_email`).
Settings: the `dupmon_*` Variables or `DUPMON_*` environment variables, and
the `smtp_default` connection.
"""

from __future__ import annotations

from dupmon_airflow.factory import build_monitoring_dag

dag = build_monitoring_dag(
    dag_id="dupmon_monthly",
    cron="0 9 17 2,3,5,6,8,9,11,12 *",
    include_spravka=False,
    doc_md=__doc__,
    tags=["dupmon", "monthly", "reminders"],
)
