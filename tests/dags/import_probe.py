"""What a task's process has imported before it runs (test helper)."""

from __future__ import annotations

import os
import sys


def report_imports() -> dict:
    """Return which modules this process has, and how many the validate step's import adds."""
    loaded = {
        name: name in sys.modules
        for name in ("great_expectations", "scipy.stats", "scipy.stats._stats_py")
    }
    from dupmon.validate import import_great_expectations

    before = len(sys.modules)
    import_great_expectations()
    return {"pid": os.getpid(), "loaded": loaded, "modules_added": len(sys.modules) - before}
