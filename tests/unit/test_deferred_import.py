"""Deferred imports: the module's code runs on first use, not at import."""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import textwrap

import pytest
from dupmon.deferred_import import deferring


@pytest.fixture
def package(tmp_path, monkeypatch):
    """Make a package ``deferred_probe`` whose modules log to ``runs`` when their code runs."""
    root = tmp_path / "deferred_probe"
    root.mkdir()
    runs = tmp_path / "runs"
    runs.write_text("")
    body = textwrap.dedent(
        f"""
        with open({str(runs)!r}, "a") as log:
            log.write(__name__ + "\\n")
        VALUE = __name__
        """
    )
    (root / "__init__.py").write_text(body)
    (root / "stats.py").write_text(body)
    (root / "charts.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield runs
    for name in [name for name in sys.modules if name.startswith("deferred_probe")]:
        del sys.modules[name]


def executed_modules(runs) -> list[str]:
    return runs.read_text().split()


def test_named_module_runs_on_first_use(package):
    with deferring(["deferred_probe.stats"]):
        from deferred_probe import stats

    assert executed_modules(package) == ["deferred_probe"]
    assert stats.VALUE == "deferred_probe.stats"
    assert executed_modules(package) == ["deferred_probe", "deferred_probe.stats"]


def test_other_modules_load_at_once(package):
    with deferring(["deferred_probe.stats"]):
        import deferred_probe.charts  # noqa: F401

    assert executed_modules(package) == ["deferred_probe", "deferred_probe.charts"]


def test_loaded_module_kept(package):
    import deferred_probe.stats

    loaded = sys.modules["deferred_probe.stats"]
    with deferring(["deferred_probe.stats"]):
        import deferred_probe.stats  # noqa: F401, F811

    assert sys.modules["deferred_probe.stats"] is loaded
    assert executed_modules(package) == ["deferred_probe", "deferred_probe.stats"]


def test_import_again_runs_module(package):
    with deferring(["deferred_probe.stats"]):
        import deferred_probe.stats  # noqa: F401

    assert executed_modules(package) == ["deferred_probe"]
    import deferred_probe.stats  # noqa: F401, F811

    assert executed_modules(package) == ["deferred_probe", "deferred_probe.stats"]


class MemoryLoader(importlib.abc.Loader):
    """A loader of a module that has no file, which counts how often its code runs."""

    def __init__(self):
        self.runs = 0

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        self.runs += 1
        module.VALUE = "from memory"


class MemoryFinder(importlib.abc.MetaPathFinder):
    def __init__(self, loader: MemoryLoader):
        self.loader = loader

    def find_spec(self, fullname, path, target=None):
        if fullname != "deferred_memory_probe":
            return None
        return importlib.util.spec_from_loader(fullname, self.loader)


def test_module_of_other_finder_deferred(monkeypatch):
    loader = MemoryLoader()
    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, MemoryFinder(loader)])
    monkeypatch.delitem(sys.modules, "deferred_memory_probe", raising=False)

    with deferring(["deferred_memory_probe"]):
        import deferred_memory_probe

    assert loader.runs == 0
    assert deferred_memory_probe.VALUE == "from memory"
    assert loader.runs == 1


def test_imports_after_block_load_at_once(package):
    with deferring(["deferred_probe.stats"]):
        pass
    import deferred_probe.stats  # noqa: F401

    assert executed_modules(package) == ["deferred_probe", "deferred_probe.stats"]


def test_finder_removed_after_error(package):
    before = list(sys.meta_path)

    with pytest.raises(RuntimeError), deferring(["deferred_probe.stats"]):
        raise RuntimeError("inside the block")

    assert sys.meta_path == before


def test_missing_module_raises(package):
    with pytest.raises(ModuleNotFoundError), deferring(["deferred_probe.absent"]):
        import deferred_probe.absent  # noqa: F401


def test_extension_module_loads_at_once():
    extension = "_testcapi"
    if extension in sys.modules:
        pytest.skip(f"{extension} is imported already")

    with deferring([extension]):
        try:
            module = __import__(extension)
        except ImportError:
            pytest.skip(f"{extension} is not built into this Python")

    assert type(module) is type(sys)
