"""Writing a large file past the page cache (O_DIRECT).

A file that no step reads back, such as ``appendix2.csv``, still fills the
page cache when it is written the usual way, and it is synced to disk at
once anyway. Written with O_DIRECT, the bytes go from one reused buffer to
the disk, so the kernel allocates no page cache for them. On a virtual
machine that hands free memory back to its host, allocating that cache is
most of the cost. On the benchmark's machine (docs/benchmarks.md), 342 MB
took 0.82 to 0.99 s through the page cache and 0.12 to 0.16 s with
O_DIRECT. Where the file system does not take O_DIRECT, the file is
written the usual way.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import mmap
import os
from collections.abc import Iterable

log = logging.getLogger(__name__)

# O_DIRECT needs the buffer's address, the file offset and the length to be
# multiples of the device's logical block size. 4096 covers the usual sizes
# of 512 and 4096. A write that still fails with EINVAL goes through the page
# cache instead.
ALIGNMENT = 4096
BUFFER_BYTES = 8 << 20


def write_chunks_direct(descriptor: int, chunks: Iterable[bytes | memoryview]) -> bool:
    """Append ``chunks`` to the empty file open at ``descriptor``, past the page cache.

    Every full buffer of ``BUFFER_BYTES`` is written with O_DIRECT, and the
    last part, which is shorter, through the page cache. Returns False when
    the file system rejected O_DIRECT, so that some or all of the buffers
    went through the page cache too. The caller still has to fsync the file.
    The descriptor's flags are as they were on return.
    """
    flags = fcntl.fcntl(descriptor, fcntl.F_GETFL)
    buffered = flags & ~os.O_DIRECT
    direct = _set_flags(descriptor, flags | os.O_DIRECT)
    try:
        # An anonymous map is page-aligned, so it meets O_DIRECT's rule for
        # the buffer's address.
        with mmap.mmap(-1, BUFFER_BYTES) as buffer, memoryview(buffer) as view:
            filled = 0
            for chunk in chunks:
                source = memoryview(chunk).cast("B")
                while len(source):
                    count = min(len(source), BUFFER_BYTES - filled)
                    view[filled : filled + count] = source[:count]
                    filled += count
                    source = source[count:]
                    if filled == BUFFER_BYTES:
                        direct = _write_block(descriptor, view, direct, buffered)
                        filled = 0
            # The last part is seldom a whole number of blocks.
            fcntl.fcntl(descriptor, fcntl.F_SETFL, buffered)
            _write_range(descriptor, view, 0, filled)
    finally:
        fcntl.fcntl(descriptor, fcntl.F_SETFL, flags)
    return direct


def _set_flags(descriptor: int, flags: int) -> bool:
    """Set the descriptor's status flags. Returns False where the file system rejects them."""
    try:
        fcntl.fcntl(descriptor, fcntl.F_SETFL, flags)
    except OSError as error:
        if error.errno != errno.EINVAL:
            raise
        return False
    return True


def _write_block(descriptor: int, block: memoryview, direct: bool, buffered: int) -> bool:
    """Write one full buffer. Returns whether O_DIRECT is still in use after it.

    ``buffered`` are the descriptor's flags without O_DIRECT.
    """
    if direct:
        try:
            written = os.write(descriptor, block)
        except OSError as error:
            if error.errno != errno.EINVAL:
                raise
            log.info("O_DIRECT write failed (%s), so the file goes through the page cache", error)
            written = 0
        if written == len(block):
            return True
        # A short or rejected write leaves the offset where the kernel
        # stopped, so the rest of the block goes through the page cache.
        fcntl.fcntl(descriptor, fcntl.F_SETFL, buffered)
        _write_range(descriptor, block, written, len(block))
        return False
    _write_range(descriptor, block, 0, len(block))
    return False


def _write_range(descriptor: int, view: memoryview, start: int, end: int) -> None:
    """Write ``view[start:end]`` without keeping a slice of the buffer in a variable.

    A traceback keeps the variables of its frames, and a live slice would
    make closing the map raise BufferError in place of the write's OSError,
    such as that of a full disk.
    """
    while start < end:
        start += os.write(descriptor, view[start:end])
