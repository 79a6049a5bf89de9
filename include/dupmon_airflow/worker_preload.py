"""Imports that a Celery worker makes once, before forking, for the tasks it will run.

Listed in the ``imports`` setting of ``dupmon_airflow.celery_config``. The
import of Great Expectations is the validate step's own, with its logging
and deferred modules set the same way.
"""

from __future__ import annotations

import gc
import logging
import threading

log = logging.getLogger(__name__)

threads_before = set(threading.enumerate())
try:
    from dupmon.validate import import_great_expectations

    import_great_expectations()
except Exception:
    # The worker still starts, so that the other tasks run and a validate
    # task fails on the same error, which mails the operators.
    log.exception("Preloading Great Expectations failed, so each validate task imports it itself")

# A fork copies only the thread that forks, so a thread started by the
# import would be missing in every task, with any lock it held. Only Python
# threads are counted.
started = set(threading.enumerate()) - threads_before
if started:
    log.warning(
        "The import of Great Expectations started the Python threads %s, which the tasks "
        "forked from this worker will lack",
        sorted(thread.name for thread in started),
    )

# Airflow's own preload freezes the objects it imported, so that the pool
# processes do not copy their pages when the collector touches them. Celery
# imports this module after that freeze, so GX's objects are frozen here.
gc.freeze()
