"""Celery settings of the dupmon workers: Airflow's defaults plus a preload of Great Expectations.

Point ``[celery] celery_config_options`` at ``CELERY_CONFIG`` (as
docker-compose.yml does). A Celery worker imports the modules in its
``imports`` setting once at start, before it forks its pool. Airflow 3 runs
each task in a fork of a pool process (``airflow.sdk.execution_time.supervisor``),
so every validate task finds GX imported instead of paying about a second
for the import.
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

PRELOAD_MODULE = "dupmon_airflow.worker_preload"

CELERY_CONFIG = {
    **DEFAULT_CELERY_CONFIG,
    "imports": [*DEFAULT_CELERY_CONFIG.get("imports", ()), PRELOAD_MODULE],
}
