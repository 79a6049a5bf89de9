"""Imports that a Celery worker makes once, before forking, for the tasks it will run.

Listed in the ``imports`` setting of ``dupmon_airflow.celery_config``. The
import of Great Expectations is the validate step's own, with its logging
and deferred modules set the same way.
"""

from __future__ import annotations

import logging
import threading

from dupmon.validate import import_great_expectations

log = logging.getLogger(__name__)

threads_before = threading.active_count()
import_great_expectations()
# A fork copies only the thread that forks, so a thread started by the
# import would be missing in every task, with any lock it held.
if threading.active_count() > threads_before:
    log.warning(
        "The import of Great Expectations started %d threads, which the tasks forked from "
        "this worker will lack",
        threading.active_count() - threads_before,
    )
