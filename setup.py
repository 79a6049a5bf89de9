"""The compiled part of dupmon; the rest of the package is described in pyproject.toml.

dupmon._blake2b computes keyed BLAKE2b over whole Arrow columns.
dupmon._lookup finds strings in a set of strings. dupmon._cells scans
text cells for intersection ranges and for cells that need a full
clean-up, and CSV exports for bytes that are not UTF-8 and for line ends.
dupmon._stack_chunks keeps freed chunks of Python's frame stack for reuse.
All four are optional. Without a C compiler the install goes on:
dupmon.pseudonymise computes the same digests with hashlib,
dupmon.lookup calls pyarrow's index_in, dupmon.staging and
dupmon.text_arrays run regular expressions, pyarrow checks the UTF-8 of
each cell, Python counts the line ends of a CSV export, and Python maps a
new chunk each time a call crosses the end of one. The fallbacks are
slower.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "dupmon._blake2b",
            sources=["include/dupmon/_blake2b.c"],
            depends=["include/dupmon/_buffer_format.h"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
        Extension(
            "dupmon._lookup",
            sources=["include/dupmon/_lookup.c"],
            depends=["include/dupmon/_buffer_format.h"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
        Extension(
            "dupmon._cells",
            sources=["include/dupmon/_cells.c"],
            depends=["include/dupmon/_buffer_format.h"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
        Extension(
            "dupmon._stack_chunks",
            sources=["include/dupmon/_stack_chunks.c"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
    ]
)
