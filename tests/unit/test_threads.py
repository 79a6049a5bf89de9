import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from dupmon.threads import note_thread_failure


def _failing(message: str, delay: float = 0.0):
    time.sleep(delay)
    raise OSError(message)


def test_note_names_thread_error():
    error = ValueError("reading failed")
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(_failing, "disk full (test)")

        note_thread_failure(error, future, "The import")

    assert error.__notes__ == [
        "The import failed on a thread at the same time: OSError: disk full (test)"
    ]


def test_note_waits_for_thread():
    error = ValueError("reading failed")
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(_failing, "late (test)", 0.2)

        note_thread_failure(error, future, "The import")

    assert len(error.__notes__) == 1
    assert "late (test)" in error.__notes__[0]


def test_no_note_after_success():
    error = ValueError("reading failed")
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(threading.current_thread)

        note_thread_failure(error, future, "The import")

    assert not hasattr(error, "__notes__")


def test_no_note_for_same_error():
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(_failing, "disk full (test)")
        error = future.exception()

        note_thread_failure(error, future, "The import")

    assert not hasattr(error, "__notes__")


def test_no_note_when_cancelled():
    error = ValueError("reading failed")
    future = Future()
    future.cancel()

    note_thread_failure(error, future, "The import")

    assert not hasattr(error, "__notes__")


class _UnprintableError(Exception):
    """An error whose __str__ raises, so its message cannot be formatted."""

    def __str__(self) -> str:
        raise RuntimeError("no message (test)")


def _failing_unprintable():
    raise _UnprintableError()


def test_unprintable_thread_error_keeps_error():
    error = ValueError("reading failed")
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(_failing_unprintable)
        future.exception()

        note_thread_failure(error, future, "The import")

    assert len(error.__notes__) == 1
    assert "_UnprintableError" in error.__notes__[0]
