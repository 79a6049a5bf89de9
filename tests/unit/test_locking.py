import multiprocessing
import time

import pytest

from dupmon.locking import LockTimeoutError, folder_lock


def hold(path, seconds, started):
    with folder_lock(path):
        started.set()
        time.sleep(seconds)


def test_lock_is_reentrant(tmp_path):
    with folder_lock(tmp_path), folder_lock(tmp_path):
        pass


def test_second_process_waits(tmp_path):
    started = multiprocessing.Event()
    holder = multiprocessing.Process(target=hold, args=(tmp_path, 1.0, started))
    holder.start()
    started.wait(10)
    begin = time.monotonic()
    with folder_lock(tmp_path, poll=0.05):
        waited = time.monotonic() - begin
    holder.join(10)
    assert waited > 0.3


def test_lock_times_out(tmp_path):
    started = multiprocessing.Event()
    holder = multiprocessing.Process(target=hold, args=(tmp_path, 3.0, started))
    holder.start()
    started.wait(10)
    with pytest.raises(LockTimeoutError, match="another run"):
        with folder_lock(tmp_path, timeout=0.2, poll=0.05):
            pass
    holder.join(10)
