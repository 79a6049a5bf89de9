"""Deferred imports: modules that load on first use instead of when imported.

Great Expectations 1.24 imports SciPy's statistics and Altair at its own
import, for the KL divergence expectation, its Altair chart and the
Kolmogorov-Smirnov test metrics, none of which the dupmon suite uses. In a
process that had pandas and pyarrow imported, the two took 0.8 s of GX's
1.8 s import on a 2-core AMD EPYC virtual machine, and every validate task
pays the import. ``deferring`` hands such modules to
``importlib.util.LazyLoader``. The module object exists at once, and its
code runs on first use, so code that does use it still gets the whole
module.
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
        spec = self._spec_from_others(fullname, path, target)
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

    def _spec_from_others(self, fullname, path, target) -> importlib.machinery.ModuleSpec | None:
        """Return the spec from the first other finder on ``sys.meta_path`` that finds one."""
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                return spec
        return None


@contextlib.contextmanager
def deferring(names: Iterable[str]) -> Iterator[None]:
    """Defer the code of the named modules to first use, for imports made inside the block.

    A module imported before the block stays as it is. A module first
    imported inside the block runs its code when some code reads one of its
    attributes. A later import of the module or of one of its submodules
    counts as a read, because the import system reads ``__spec__`` or
    ``__path__``.

    NOTE: Python 3.11's LazyLoader makes the module a plain module before it
    runs the module's code, and takes no lock. If the code raises, the
    half-run module stays in ``sys.modules``, and later reads raise
    AttributeError in place of the first error. A thread that reads the
    module while another runs its code may find attributes missing. The
    validate step imports GX, and so these modules, on a thread of its own,
    and uses GX only once that import has ended. Other threads import
    modules meanwhile, and the finder, in ``sys.meta_path`` for every
    thread, defers those too if they are named.
    """
    finder = _DeferringFinder(names)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
