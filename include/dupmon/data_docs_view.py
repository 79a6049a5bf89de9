"""GX's Data Docs page view, with its Jinja templates compiled once.

GX 1.24's ``DefaultJinjaPageView`` builds a Jinja environment of its own for
every view, and Data Docs makes one view per section (the suite page and
the validation page). Each environment compiled the same templates again:
0.09 s of the 0.13 s that the validate step's Data Docs took at every run,
whatever the number of rows (``bench/run_benchmark.py``'s data, on the
machine of ``docs/benchmarks.md``). ``PageView`` gives every view one
cache of compiled code, so a process compiles each template once. A
process that forks the task processes can compile them all beforehand
(``compile_templates``).

Each validate task in a process of its own still compiled the templates
it used once: 0.17 s of its Data Docs on a 2-core Intel Xeon virtual
machine. So the cache can also keep the code in a folder
(``CompiledTemplates.keep_in``), as Jinja's ``FileSystemBytecodeCache``
does, and a later process loads it from there. Python runs code loaded
from that folder, so it is used only if it belongs to this process's user
and no one else may write to it.

The cache keeps Jinja's compiled code objects, not templates. A template
made from cached code still runs in its own view's environment, with that
view's filters, because Jinja executes the code anew for each environment.
Every ``PageView`` has the same environment settings, which the compiled
code depends on (autoescape and extensions), so the code fits every view.

This module imports GX at its top, so import it only where GX is imported
already: GX imports it to build a site that names ``PageView``, and
``dupmon_airflow.preload`` after its import of GX.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from types import CodeType

import jinja2
from great_expectations.render.view import DefaultJinjaPageView

log = logging.getLogger(__name__)


class CompiledTemplates(jinja2.BytecodeCache):
    """Jinja's compiled code of each template, kept in memory and, if asked, in a folder.

    Entries are keyed by the template's name, file and source checksum, as
    Jinja's own caches are, so a changed template file is compiled again.
    A dictionary's get and set are atomic in CPython, so threads may share
    the cache. It takes no lock, which a process forked while another
    thread held it could never take. Files in the folder are written to a
    temporary name and renamed, so processes may share it too.
    """

    def __init__(self) -> None:
        self._code: dict[tuple[str, str], CodeType] = {}
        self._files: jinja2.FileSystemBytecodeCache | None = None

    def keep_in(self, folder: Path | None) -> bool:
        """Keep compiled code in ``folder`` from now on, or in memory only if None.

        The folder is created, readable by its owner alone. Returns whether
        it is used: a folder of another user, or one others may write to, is
        not, and neither is one that cannot be created.
        """
        self._files = None
        if folder is None:
            return False
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            status = folder.stat()
        except OSError as error:
            log.warning("Data Docs templates are compiled anew: %s", error)
            return False
        if status.st_uid != os.getuid() or status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            log.warning(
                "Data Docs templates are compiled anew: the folder %s belongs to another user "
                "or others may write to it; make it this user's own, mode 0700",
                folder,
            )
            return False
        self._files = jinja2.FileSystemBytecodeCache(str(folder))
        return True

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get((bucket.key, bucket.checksum))
        if code is None and self._files is not None:
            # Jinja reads the checksum in the file with pickle, which raises
            # on a file cut short, as a full disk leaves one. Such a template
            # is compiled anew and its file written over.
            try:
                self._files.load_bytecode(bucket)
            except Exception as error:
                log.warning(
                    "The compiled Data Docs template %s is unreadable: %s", bucket.key, error
                )
                bucket.reset()
            code = bucket.code
            if code is not None:
                self._code[(bucket.key, bucket.checksum)] = code
        if code is not None:
            bucket.code = code

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[(bucket.key, bucket.checksum)] = bucket.code
        if self._files is not None:
            try:
                self._files.dump_bytecode(bucket)
            except OSError as error:
                log.warning(
                    "Keeping the compiled Data Docs template %s failed: %s", bucket.key, error
                )

    def clear(self) -> None:
        """Forget the code kept in memory; files in the folder stay."""
        self._code.clear()

    def __len__(self) -> int:
        return len(self._code)


COMPILED_TEMPLATES = CompiledTemplates()


class PageView(DefaultJinjaPageView):
    """GX's page view, compiling its templates through ``COMPILED_TEMPLATES``."""

    def __init__(self, custom_styles_directory=None, custom_views_directory=None) -> None:
        super().__init__(
            custom_styles_directory=custom_styles_directory,
            custom_views_directory=custom_views_directory,
        )
        self.env.bytecode_cache = COMPILED_TEMPLATES


def compile_templates() -> int:
    """Compile every template a GX page view can load into ``COMPILED_TEMPLATES``.

    Returns how many were compiled. These are GX's templates and its style
    sheets, which ``page.j2`` includes as templates. A template that fails
    to compile is logged and skipped, so that the Data Docs that use it
    fail where GX renders them, as they would without this step.
    """
    environment = PageView().env
    compiled = 0
    for name in environment.list_templates():
        try:
            environment.get_template(name)
        except jinja2.TemplateError:
            log.warning("Compiling the Data Docs template %s failed", name, exc_info=True)
            continue
        compiled += 1
    return compiled
