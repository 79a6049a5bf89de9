"""A Celery task that reports what a worker's pool process has imported (test helper)."""

from __future__ import annotations

import os
import sys

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery import shared_task
from dupmon_airflow.celery_config import CELERY_CONFIG

# Worker settings for the tests, dupmon's and Airflow's defaults, each plus
# this module, so that the worker registers the probe task.
DUPMON_CONFIG = {**CELERY_CONFIG, "include": [__name__]}
AIRFLOW_DEFAULT_CONFIG = {**DEFAULT_CELERY_CONFIG, "include": [__name__]}
PROBE_TASK = "dupmon_probe_imports"


@shared_task(name=PROBE_TASK)
def probe_imports() -> dict:
    """Return which modules this pool process has, and how many the validate step's import adds."""
    loaded = {
        name: name in sys.modules
        for name in ("great_expectations", "scipy.stats", "scipy.stats._stats_py")
    }
    from dupmon.validate import import_great_expectations

    before = len(sys.modules)
    import_great_expectations()
    return {"pid": os.getpid(), "loaded": loaded, "modules_added": len(sys.modules) - before}
