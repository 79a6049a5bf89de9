"""
### Rebuild the справка after each new snapshot

Runs whenever a task writes the `dupmon_snapshot` asset (the snapshot task of
`dupmon_quarterly` and `dupmon_monthly`, in scheduled, manual and backfill
runs alike). For each region named in the triggering asset events, in a
mapped task group of its own, it compares that region's snapshot of the
event's monitoring date (the latest one, if several) with the previous one
and renders the справка with both appendices and the reminders again. It
mails nothing unless triggered with `send_mail: true`, because the
scheduled DAGs mail their own documents; the mail ledger keeps any message
from going twice to one recipient.

Parameters: `monitoring_date` (default: the region and date of each
triggering snapshot) with `regions` (default: every configured region),
`baseline` (default: the previous quarter's snapshot, the latest one at
least 80 days earlier), `send_mail` (default: no), `force_resend`.
Settings: the `dupmon_*` Variables or `DUPMON_*` environment variables, and
the `smtp_default` connection.
"""

from __future__ import annotations

from dupmon_airflow.factory import build_snapshot_followup_dag

dag = build_snapshot_followup_dag(
    dag_id="dupmon_spravka_on_snapshot",
    doc_md=__doc__,
    tags=["dupmon", "asset", "справка"],
)
