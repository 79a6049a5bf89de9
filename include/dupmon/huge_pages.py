"""Turning transparent huge pages off for the process that runs a step.

Large buffers of pyarrow's default allocator (mimalloc) and of NumPy come
back as transparent huge pages, because both request them, even where the
kernel gives them only on request (``enabled`` set to ``madvise``). A step
allocates hundreds of megabytes once, works through them once and exits,
so it gains little from fewer TLB misses, and each fault needs a free
2 MiB block. Where the kernel compacts memory to find one (``defrag`` set
to ``madvise``, the default), or where a virtual machine has handed such
blocks back to its host, that first touch is the slow part. On the
benchmark's machine (docs/benchmarks.md), turning them off cut the system
time of ingest at a million pairs from 1.4-2.0 s to 0.5-0.8 s. It cut
pyarrow's own CSV read with a Parquet write from 1.17 to 0.69 s. CRuby
turns them off the same way at start-up (``ruby_setup`` in eval.c).

With ``DUPMON_TRANSPARENT_HUGE_PAGES=on`` a step leaves the kernel's
setting in force.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

# From <linux/prctl.h>, since Linux 3.15.
PR_SET_THP_DISABLE = 41
PR_GET_THP_DISABLE = 42


def set_transparent_huge_pages(enabled: bool) -> bool:
    """Turn transparent huge pages off, or back to the kernel's setting, for this process.

    The processes it starts inherit the choice. Pages already faulted in
    keep their size. Returns whether the kernel took the request. On other
    systems than Linux this does nothing and returns False.
    """
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_THP_DISABLE, 0 if enabled else 1, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        log.warning(
            "Could not turn transparent huge pages %s (prctl failed with errno %d), so the step "
            "runs with the kernel's setting",
            "on" if enabled else "off",
            error,
        )
        return False
    return True


def transparent_huge_pages_disabled() -> bool:
    """Return whether transparent huge pages are off for this process (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    return ctypes.CDLL(None).prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1
