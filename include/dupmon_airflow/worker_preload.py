"""Imports that a Celery worker makes once, before forking, for the tasks it will run.

Listed in the ``imports`` setting of ``dupmon_airflow.celery_config``.
"""

from __future__ import annotations

import gc

from dupmon_airflow.preload import preload_great_expectations

preload_great_expectations()

# Airflow's own preload freezes the objects it imported, so that the pool
# processes do not copy their pages when the collector touches them. Celery
# imports this module after that freeze. A successful GX import freezes
# every object itself, so this freeze matters when that import failed.
gc.freeze()
