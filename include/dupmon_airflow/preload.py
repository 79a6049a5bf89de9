"""Great Expectations imported by a process that later forks the task processes.

Its import takes about 1 s (``bench/run_benchmark.py`` on a 2-core AMD EPYC
machine). Airflow 3 runs each task on Linux in a fork of a long-lived
process: a Celery worker's pool process, or a LocalExecutor worker forked
from the scheduler. When that process imports GX before it forks, each
validate task finds GX in ``sys.modules`` and skips the import.
"""

from __future__ import annotations

import gc
import logging
import threading

log = logging.getLogger(__name__)


def preload_great_expectations() -> None:
    """Import GX as the validate step does.

    A failed import is logged and not raised, so that the process still
    starts and a validate task fails on the same error, which mails the
    operators.
    """
    threads_before = set(threading.enumerate())
    try:
        from dupmon.validate import import_great_expectations

        # The import freezes every object then in memory. This process lives
        # long, so its garbage is collected first rather than kept for good.
        gc.collect()
        import_great_expectations()
    except Exception:
        log.exception(
            "Preloading Great Expectations failed, so each validate task imports it itself"
        )

    # A fork copies only the thread that forks, so a thread started by the
    # import would be missing in every task, with any lock it held. Only
    # Python threads are counted.
    started = set(threading.enumerate()) - threads_before
    if started:
        log.warning(
            "The import of Great Expectations started the Python threads %s, which the "
            "tasks forked from this process will lack",
            sorted(thread.name for thread in started),
        )
