"""
### Monthly duplicate reminders

Runs every hour and works on each configured region whose `reminders` cron
(`region.yaml`, on the region's own clock; for Sakhalin 09:00 Asia/Sakhalin
on the 17th of February, March, May, June, August, September, November and
December) fired in that hour. For each such region, in a mapped task group
of its own, it runs the same steps as the quarterly DAG on that date's
exports. It mails only the reminders to the municipal education
authorities that still have duplicates, with their list and the deadline.
In the quarterly months the quarterly DAG sends the reminders with the
справка. An hour with no region due skips the group and succeeds.

Parameters: `monitoring_date` (default: for each due region, the day its
cron fired on its own clock) with `regions` (default: every configured
region), `baseline` (default: the latest earlier snapshot), `send_mail`
(default: yes, except in a backfill, which mails only with
`send_mail: true` in its run conf), `force_resend`. The snapshot task
writes the `dupmon_snapshot` asset, with the region and the date in the
event. A task that fails for good mails the operators
(`dupmon_operator_email`, else the region's `operators`).
Settings: the `dupmon_*` Variables or `DUPMON_*` environment variables
(`dupmon_regions` picks the regions), and the `smtp_default` connection.
"""

from __future__ import annotations

from dupmon_airflow.factory import build_monitoring_dag

dag = build_monitoring_dag(
    dag_id="dupmon_monthly",
    schedule="reminders",
    include_spravka=False,
    doc_md=__doc__,
    tags=["dupmon", "monthly", "reminders"],
)
