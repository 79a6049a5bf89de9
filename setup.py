"""The compiled part of dupmon; the rest of the package is described in pyproject.toml.

dupmon._blake2b computes keyed BLAKE2b over whole Arrow columns. It is
optional. Without a C compiler the install goes on, and dupmon.pseudonymise
computes the same digests with hashlib, more slowly.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "dupmon._blake2b",
            sources=["include/dupmon/_blake2b.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
