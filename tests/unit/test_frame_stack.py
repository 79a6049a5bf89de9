"""Freed chunks of Python's frame stack kept for reuse (dupmon.frame_stack).

The cache is installed once per process and stays, so every test runs its
code in a fresh interpreter.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.conftest import ROOT, run_python

needs_module = pytest.mark.skipif(
    importlib.util.find_spec("dupmon._stack_chunks") is None,
    reason="dupmon._stack_chunks is not built: no C compiler at install",
)

# Calls 300 deep run past the end of the thread's first chunk of frames, so
# each of them takes a chunk and gives it back on return.
CROSSING = """
    import resource

    def down(depth):
        return 0 if depth == 0 else down(depth - 1) + 1

    def faults_of_crossings(times):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(times):
            assert down(300) == 300
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
"""


@needs_module
def test_crossings_touch_no_fresh_pages():
    printed = run_python(
        CROSSING,
        """
        import json
        from dupmon import _stack_chunks
        from dupmon.frame_stack import reuse_stack_chunks

        faults_of_crossings(10)
        without = faults_of_crossings(10_000)
        installed = reuse_stack_chunks()
        with_cache = faults_of_crossings(10_000)
        print(json.dumps([without, installed, with_cache, _stack_chunks.stats()]))
        """,
    )
    without, installed, with_cache, stats = json.loads(printed)

    # Each crossing maps a fresh chunk and touches at least one of its pages.
    assert without >= 10_000
    assert installed
    assert with_cache < 100
    assert stats["installed"]
    assert stats["reused"] >= 10_000
    assert 0 < stats["kept"] <= 8


@needs_module
def test_gx_import_reuses_chunks():
    printed = run_python(
        """
        import json
        from dupmon import _stack_chunks
        from dupmon.validate import import_great_expectations

        before = _stack_chunks.stats()
        import_great_expectations()
        print(json.dumps([before, _stack_chunks.stats()]))
        """,
    )
    before, after = json.loads(printed)

    assert not before["installed"]
    assert after["installed"]
    # In a bare interpreter, GX 1.24's import crossed the end of a chunk
    # 37 to 39 thousand times.
    assert after["reused"] > 5_000


@needs_module
def test_step_installs_cache(tmp_path):
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DUPMON_DATA_DIR": str(tmp_path / "data"),
        "DUPMON_REGION": "sakhalin",
    }
    printed = run_python(
        """
        from dupmon import _stack_chunks, pipeline
        from dupmon.settings import load_settings

        print(_stack_chunks.stats()["installed"])
        pipeline.run_retention(load_settings())
        print(_stack_chunks.stats()["installed"])
        """,
        environment=environment,
    )

    assert printed.split() == ["False", "True"]


@needs_module
def test_threads_and_fork_keep_working():
    printed = run_python(
        CROSSING,
        """
        import json
        import os
        import threading
        from dupmon import _stack_chunks
        from dupmon.frame_stack import reuse_stack_chunks

        reuse_stack_chunks()
        failures = []

        def work():
            try:
                for depth in range(0, 900, 3):
                    for _ in range(20):
                        assert down(depth) == depth
            except BaseException as error:
                failures.append(repr(error))

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        # A fork while the threads cross: the child goes on using the cache.
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                before = _stack_chunks.stats()["reused"]
                faults_of_crossings(1_000)
                code = 0 if _stack_chunks.stats()["reused"] >= before + 1_000 else 3
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        for thread in threads:
            thread.join()
        stats = _stack_chunks.stats()
        print(json.dumps([os.waitstatus_to_exitcode(status), failures, stats["kept"]]))
        """,
    )
    child_code, failures, kept = json.loads(printed)

    assert child_code == 0
    assert failures == []
    assert 0 <= kept <= 8


@needs_module
def test_install_checks_arguments():
    printed = run_python(
        """
        from dupmon import _stack_chunks
        from dupmon.frame_stack import CHUNK_BYTES, KEPT_CHUNKS, reuse_stack_chunks

        for arguments in [(0, 8), (16384, -1), (16384, 65)]:
            try:
                _stack_chunks.install(*arguments)
            except ValueError as error:
                print("ValueError", error)
        print(reuse_stack_chunks(), reuse_stack_chunks())
        print(_stack_chunks.install(CHUNK_BYTES, KEPT_CHUNKS))
        try:
            _stack_chunks.install(CHUNK_BYTES * 2, KEPT_CHUNKS)
        except RuntimeError as error:
            print("RuntimeError", error)
        """,
    )
    lines = printed.splitlines()

    assert [line.split()[0] for line in lines[:3]] == ["ValueError"] * 3
    assert "limit from 0 to 64" in lines[0]
    assert lines[3:5] == ["True True", "False"]
    assert lines[5].startswith("RuntimeError the chunk cache is installed already")


def test_without_module_nothing_changes():
    printed = run_python(
        """
        import sys
        sys.modules["dupmon._stack_chunks"] = None
        from dupmon.frame_stack import reuse_stack_chunks
        print(reuse_stack_chunks())
        """,
    )

    assert printed == "False"


@needs_module
def test_big_frames_and_recursion_errors():
    printed = run_python(
        CROSSING,
        """
        import json
        import sys
        from dupmon import _stack_chunks
        from dupmon.frame_stack import reuse_stack_chunks

        reuse_stack_chunks()

        # A function with 5000 locals needs a frame of about 40 KiB, more
        # than a chunk the cache keeps.
        source = "def big(n):\\n"
        source += "".join(f"    v{i} = n + {i}\\n" for i in range(5000))
        source += "    return v0 + v4999\\n"
        namespace = {}
        exec(source, namespace)
        big = namespace["big"]

        def big_at(depth):
            return big(1) if depth == 0 else big_at(depth - 1)

        sys.setrecursionlimit(5000)
        results = []
        for _ in range(20):
            try:
                down(10**6)
            except RecursionError:
                pass
            results.append(down(4000))
        big_results = [big_at(depth) for depth in range(0, 600, 7)]
        print(json.dumps([results, big_results, _stack_chunks.stats()]))
        """,
    )
    results, big_results, stats = json.loads(printed)

    assert results == [4000] * 20
    assert big_results == [5001] * len(big_results)
    assert stats["reused"] > 0
    assert stats["kept"] <= 8


@needs_module
def test_thread_churn_keeps_memory_flat():
    printed = run_python(
        CROSSING,
        """
        import json
        import os
        import threading
        from dupmon.frame_stack import reuse_stack_chunks

        reuse_stack_chunks()

        def work():
            for depth in range(0, 2000, 97):
                down(depth)

        def resident_bytes():
            with open("/proc/self/statm") as statm:
                return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

        sizes = []
        for _ in range(4):
            for _ in range(250):
                threads = [threading.Thread(target=work) for _ in range(4)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
            sizes.append(resident_bytes())
        print(json.dumps(sizes))
        """,
    )
    sizes = json.loads(printed)

    # After the first thousand threads, three thousand more add under 1 MiB.
    assert max(sizes) - sizes[0] < 1024 * 1024


def test_child_imports_this_checkout(tmp_path):
    # The step test passes an environment of its own, and its child must
    # still import this checkout's dupmon, not the installed one.
    printed = run_python(
        "import dupmon; print(dupmon.__file__)",
        environment={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )

    assert printed.startswith(str(ROOT / "include"))
