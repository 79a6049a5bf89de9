"""GX's Data Docs page view, with its Jinja templates compiled once per process.

GX 1.24's ``DefaultJinjaPageView`` builds a Jinja environment of its own for
every view, and Data Docs makes one view per section (the suite page and
the validation page). Each environment compiled the same templates again:
0.09 s of the 0.13 s that the validate step's Data Docs took at every run,
whatever the number of rows (``bench/run_benchmark.py``'s data, on the
machine of ``docs/benchmarks.md``). ``PageView`` gives every view one
cache of compiled code, so a process compiles each template once. A
process that forks the task processes can compile them all beforehand
(``compile_templates``).

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
from types import CodeType

import jinja2
from great_expectations.render.view import DefaultJinjaPageView

log = logging.getLogger(__name__)


class CompiledTemplates(jinja2.BytecodeCache):
    """Jinja's compiled code of each template, kept in memory for the life of the process.

    Entries are keyed by the template's name, file and source checksum, as
    Jinja's own caches are, so a changed template file is compiled again.
    A dictionary's get and set are atomic in CPython, so threads may share
    the cache. It takes no lock, which a process forked while another
    thread held it could never take.
    """

    def __init__(self) -> None:
        self._code: dict[tuple[str, str], CodeType] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get((bucket.key, bucket.checksum))
        if code is not None:
            bucket.code = code

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[(bucket.key, bucket.checksum)] = bucket.code

    def clear(self) -> None:
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
