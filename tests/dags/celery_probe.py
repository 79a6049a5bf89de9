"""A Celery task that reports what a worker's pool process has imported (test helper)."""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery import shared_task
from dupmon_airflow.celery_config import CELERY_CONFIG

from tests.dags.import_probe import report_imports

# Worker settings for the tests, dupmon's and Airflow's defaults, each plus
# this module, so that the worker registers the probe task.
DUPMON_CONFIG = {**CELERY_CONFIG, "include": [__name__]}
AIRFLOW_DEFAULT_CONFIG = {**DEFAULT_CELERY_CONFIG, "include": [__name__]}
PROBE_TASK = "dupmon_probe_imports"


@shared_task(name=PROBE_TASK)
def probe_imports() -> dict:
    return report_imports()
