"""Errors of work that ran on a thread beside the step's own work."""

from __future__ import annotations

import traceback
from concurrent.futures import Future


def note_thread_failure(error: BaseException, future: Future, work: str) -> None:
    """Add a note to ``error`` if ``future``, which ran ``work`` on a thread, failed as well.

    The caller is about to raise ``error``, and nothing else reads the
    future's result, so the thread's own error would be lost. The note puts
    it into the traceback of ``error``. This waits for the thread to end, as
    the executor's shutdown would.
    """
    if future.cancelled():
        return
    failure = future.exception()
    if failure is None or failure is error:
        return
    # format_exception_only writes a placeholder where the message cannot
    # be formatted, so formatting cannot replace the caller's error.
    message = "".join(traceback.format_exception_only(failure)).strip()
    error.add_note(f"{work} failed on a thread at the same time: {message}")
