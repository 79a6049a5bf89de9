"""A DAG whose one task writes what its process had imported to $DUPMON_PROBE_RESULT (test helper)."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag, task


@dag(dag_id="dupmon_gx_probe", schedule=None, start_date=dt.datetime(2025, 1, 1), catchup=False)
def dupmon_gx_probe():
    @task
    def report() -> None:
        import json
        import os
        from pathlib import Path

        from tests.dags.import_probe import report_imports

        Path(os.environ["DUPMON_PROBE_RESULT"]).write_text(json.dumps(report_imports()))

    report()


dupmon_gx_probe()
