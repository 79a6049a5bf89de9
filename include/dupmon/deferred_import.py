"""Deferred imports: modules that load on first use instead of when imported.

Great Expectations 1.24 imports SciPy's statistics and Altair at its own
import, for an expectation (KL divergence) and charts that the dupmon suite
never uses. They take about 0.8 s of its 1.8 s import on the benchmark
machine (``bench/run_benchmark.py``), and every validate task pays the
import. ``deferring`` hands such modules to ``importlib.util.LazyLoader``:
the module object exists at once, and its code runs on the first attribute
access, so code that does use it still gets the whole module.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterable, Iterator


class _DeferringFinder(importlib.abc.MetaPathFinder):
    """A finder that gives the named modules a lazy loader and leaves the rest alone."""

    def __init__(self, names: Iterable[str]):
        self.names = frozenset(names)

    def find_spec(self, fullname, path, target=None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        # LazyLoader defers a loader's exec_module. An extension module is
        # built by its loader's create_module, so deferring it saves nothing.
        if not hasattr(spec.loader, "exec_module") or isinstance(
            spec.loader, importlib.machinery.ExtensionFileLoader
        ):
            return None
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


@contextlib.contextmanager
def deferring(names: Iterable[str]) -> Iterator[None]:
    """Defer the code of the named modules to first use for imports made inside the block.

    A module already imported stays as it is. A module imported inside the
    block stays deferred after it, until some code reads one of its
    attributes. Only modules found on ``sys.path`` are deferred.

    NOTE: Python 3.11's LazyLoader takes no lock. A thread that touches a
    deferred module while another thread runs its code may find attributes
    missing. The pipeline imports and uses these modules from one thread.
    """
    finder = _DeferringFinder(names)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
