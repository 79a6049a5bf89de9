"""Celery settings of dupmon's deployment: Airflow's defaults plus a preload of Great Expectations.

Point ``[celery] celery_config_options`` at ``CELERY_CONFIG``, as
docker-compose.yml does for every Airflow service. Only a worker acts on
the preload. It imports the modules of the ``imports`` setting once at
start, before it forks its pool. On Linux, Airflow 3 runs each task in a
bare fork of a pool process (``airflow.sdk.execution_time.supervisor``), so
every validate task finds GX imported. Otherwise each pays for the import,
about 1 s in ``bench/run_benchmark.py`` on a 2-core AMD EPYC machine.

NOTE: the settings start from the global ``DEFAULT_CELERY_CONFIG``, so they
do not follow the per-team Celery settings of Airflow's multi-team mode.
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

PRELOAD_MODULE = "dupmon_airflow.worker_preload"

CELERY_CONFIG = {
    **DEFAULT_CELERY_CONFIG,
    "imports": [*DEFAULT_CELERY_CONFIG.get("imports", ()), PRELOAD_MODULE],
}
