"""An import that fails on purpose, for the scripts tests run in a subprocess."""

from __future__ import annotations

import sys


class RejectingFinder:
    """An import finder that raises ImportError for one module and passes on the rest."""

    def __init__(self, name: str):
        self.name = name

    def find_spec(self, name, path, target=None):
        if name == self.name:
            raise ImportError("rejected by the test")
        return None


def reject_import(name: str) -> None:
    """Make every later import of the module ``name`` raise ImportError."""
    sys.meta_path.insert(0, RejectingFinder(name))
