"""Airflow's LocalExecutor, with Great Expectations imported before its workers fork.

Set ``[core] executor`` (``AIRFLOW__CORE__EXECUTOR``) to
``dupmon_airflow.local_executor.LocalExecutor`` to use it. The scheduler
then imports GX when the executor starts, which adds about 1 s to its start
and the memory of GX to its process. The import also moves the objects
alive in the scheduler at that moment to the permanent generation
(``dupmon.validate.import_great_expectations``), which the garbage
collector no longer walks. Those of them that later end up in a reference
cycle stay in memory. On Linux the executor forks its
workers from the scheduler, and each task from a worker, so every validate
task finds GX imported (see ``dupmon_airflow.preload``).

Where Python's multiprocessing starts processes by spawning, as on macOS,
the workers are fresh interpreters, so the executor imports nothing.
"""

from __future__ import annotations

from airflow.executors.local_executor import LocalExecutor as AirflowLocalExecutor

from dupmon_airflow.preload import preload_great_expectations


class LocalExecutor(AirflowLocalExecutor):
    """Airflow's LocalExecutor, whose forked workers inherit an imported GX."""

    def start(self) -> None:
        # Airflow's start forks all the workers at once, and later ones are
        # forked from the same process, so GX must be imported before it.
        if self.is_mp_using_fork:
            preload_great_expectations()
        super().start()
