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
import sys
import threading

log = logging.getLogger(__name__)


def preload_great_expectations() -> None:
    """Import GX as the validate step does, and compile its Data Docs templates.

    A failed import is logged and not raised, so that the process still
    starts and a validate task fails on the same error, which mails the
    operators. With the templates compiled, each validate task saves the
    0.05 to 0.09 s it would spend compiling them (``dupmon.data_docs_view``).
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
    else:
        _compile_data_docs_templates()

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


def _compile_data_docs_templates() -> None:
    """Compile GX's templates, once GX's import has loaded it with dupmon's settings."""
    # The module of the templates imports GX itself, which would skip the
    # settings of import_great_expectations.
    if "great_expectations" not in sys.modules:
        return
    try:
        from dupmon.data_docs_view import compile_templates

        count = compile_templates()
    except Exception:
        log.exception(
            "Compiling the Data Docs templates failed, so each validate task compiles them itself"
        )
        return
    log.info("Compiled %d Data Docs templates for the validate tasks", count)
