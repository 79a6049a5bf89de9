"""
### Quarterly duplicate monitoring (справка)

Runs every hour and works on each configured region whose `spravka` cron
(`region.yaml`, on the region's own clock; for Sakhalin 09:00 Asia/Sakhalin
on the 17th of January, April, July and October) fired in that hour. Each
such region runs in a mapped task group of its own. The group takes the
exports of «Список учащихся-«дублей»» from the region's inbox, validates
them, stores a depersonalised snapshot and compares it with the previous
one. It renders the справка with both appendices and the reminders, and
mails them (each message once per recipient). An hour with no region due skips the
group and succeeds.

Parameters: `monitoring_date` (default: for each due region, the day its
cron fired on its own clock) with `regions` (default: every configured
region), `baseline` (default: the previous quarter's snapshot, the latest
one at least 80 days earlier), `send_mail` (default: yes, except in a
backfill, which mails only with `send_mail: true` in its run conf),
`force_resend`. The snapshot task writes the `dupmon_snapshot` asset, with
the region and the date in the event. A task that fails for good mails the
operators (`dupmon_operator_email`, else the region's `operators`).
Settings: the `dupmon_*` Variables or `DUPMON_*` environment variables
(`dupmon_regions` picks the regions), and the `smtp_default` connection.
"""

from __future__ import annotations

from dupmon_airflow.factory import build_monitoring_dag

dag = build_monitoring_dag(
    dag_id="dupmon_quarterly",
    schedule="spravka",
    include_spravka=True,
    doc_md=__doc__,
    tags=["dupmon", "quarterly", "справка"],
)
