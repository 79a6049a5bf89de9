"""Reuse of freed chunks of Python's frame stack, which CPython 3.11 maps and unmaps over and over.

CPython 3.11 keeps each thread's frames in chunks of 16 KiB that it takes
from its arena allocator and unmaps as soon as they are empty. When the
call depth goes back and forth across the end of a chunk, every crossing
maps a chunk, touches its fresh pages and unmaps it again. A change merged
into CPython in March 2026 keeps one freed chunk per thread, in releases
of 3.13 and later made after it. Python 3.11, which dupmon pins, lacks
it. On a 2-core AMD EPYC virtual machine, importing Great Expectations in
a bare interpreter crossed 37 to 39 thousand times. The import took 1.15
to 1.28 s, with 0.30 to 0.37 s of system time for 54 thousand page faults.
With the chunks kept, it took 0.90 to 0.91 s, with 0.06 s of system time
and 16 thousand faults (three runs each).

``reuse_stack_chunks`` installs ``dupmon._stack_chunks``: a wrapper of the
process's arena allocator that keeps up to ``KEPT_CHUNKS`` freed chunks and
hands them out again, so the cache uses at most 128 KiB. Without a C
compiler at install time the module is missing and nothing changes.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

# The size of the chunks CPython 3.11 maps (DATA_STACK_CHUNK_SIZE).
CHUNK_BYTES = 16 * 1024
# How many freed chunks the cache keeps. One is enough for crossings at one
# depth. A few more serve threads that cross at the same time.
KEPT_CHUNKS = 8


def reuse_stack_chunks() -> bool:
    """Install the cache of freed frame stack chunks in this process; return whether it is on.

    Calling it again changes nothing: the cache is installed once per
    process, and a forked child inherits it.
    """
    try:
        from dupmon import _stack_chunks
    except ImportError:
        return False
    if _stack_chunks.install(CHUNK_BYTES, KEPT_CHUNKS):
        log.debug("Keeping up to %d freed frame stack chunks for reuse", KEPT_CHUNKS)
    return True
