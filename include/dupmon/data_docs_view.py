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
(``CompiledTemplates.keep_in``), and a later process loads it from there.
Python runs code loaded from that folder. So the cache opens the folder
once, uses it only if it belongs to this process's user and no one else
may write to it, and then reads and writes its files through that open
folder: a folder put in its place later is never read. Each file carries
the SHA-256 of its content, so a damaged file is compiled anew and
written over rather than loaded.

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

import contextlib
import hashlib
import logging
import os
import secrets
import stat
from pathlib import Path
from types import CodeType

import jinja2
from great_expectations.render.view import DefaultJinjaPageView

log = logging.getLogger(__name__)


# The start of every kept file. A file of another Jinja release is compiled anew.
_FILE_HEADER = f"dupmon compiled Jinja template, Jinja {jinja2.__version__}\n".encode()
_DIGEST_BYTES = hashlib.sha256().digest_size


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
        # The open folder of kept files, or None to keep code in memory only.
        self._folder: int | None = None
        self._write_failed = False

    def keep_in(self, folder: Path | None) -> bool:
        """Keep compiled code in ``folder`` from now on, or in memory only if None.

        The folder is created, readable by its owner alone. Returns whether
        it is used: a folder of another user, one others may write to, a
        symbolic link, or one that cannot be created or opened, is not.
        """
        self._close_folder()
        if folder is None:
            return False
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError as error:
            log.warning("Data Docs templates are compiled anew: %s", error)
            return False
        status = os.fstat(descriptor)
        if status.st_uid != os.getuid() or status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            os.close(descriptor)
            log.warning(
                "Data Docs templates are compiled anew: the folder %s belongs to another user "
                "or others may write to it; make it this user's own, mode 0700",
                folder,
            )
            return False
        self._folder = descriptor
        self._write_failed = False
        return True

    def _close_folder(self) -> None:
        if self._folder is not None:
            os.close(self._folder)
            self._folder = None

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get((bucket.key, bucket.checksum))
        if code is None and self._folder is not None:
            code = self._read(bucket)
            if code is not None:
                self._code[(bucket.key, bucket.checksum)] = code
        if code is not None:
            bucket.code = code

    def _read(self, bucket: jinja2.bccache.Bucket) -> CodeType | None:
        """Return the kept code of a template, or None for a missing, other or damaged file."""
        try:
            descriptor = os.open(
                _file_name(bucket), os.O_RDONLY | os.O_NOFOLLOW, dir_fd=self._folder
            )
            with os.fdopen(descriptor, "rb") as file:
                data = file.read()
        except OSError:
            return None
        content = data[len(_FILE_HEADER) + _DIGEST_BYTES :]
        digest = data[len(_FILE_HEADER) : len(_FILE_HEADER) + _DIGEST_BYTES]
        if not data.startswith(_FILE_HEADER) or hashlib.sha256(content).digest() != digest:
            log.info("The kept code of Data Docs template %s is damaged or old", bucket.key)
            return None
        # Jinja's own format: its magic, the template's checksum and the code.
        # A file of another template source leaves the bucket empty.
        try:
            bucket.bytecode_from_string(content)
        except Exception as error:
            log.warning(
                "The kept code of Data Docs template %s is unreadable: %s", bucket.key, error
            )
            bucket.reset()
        if not isinstance(bucket.code, CodeType):
            bucket.reset()
            return None
        return bucket.code

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[(bucket.key, bucket.checksum)] = bucket.code
        if self._folder is None:
            return
        content = bucket.bytecode_to_string()
        data = _FILE_HEADER + hashlib.sha256(content).digest() + content
        name = _file_name(bucket)
        temporary = f".{name}.{secrets.token_hex(8)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        try:
            descriptor = os.open(temporary, flags, 0o600, dir_fd=self._folder)
            try:
                with os.fdopen(descriptor, "wb") as file:
                    file.write(data)
                os.replace(temporary, name, src_dir_fd=self._folder, dst_dir_fd=self._folder)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary, dir_fd=self._folder)
                raise
        except OSError as error:
            # Once per folder: every template of a run would fail alike.
            if not self._write_failed:
                self._write_failed = True
                log.warning("Compiled Data Docs templates are not kept on disk: %s", error)

    def clear(self) -> None:
        """Forget the code kept in memory; files in the folder stay."""
        self._code.clear()

    def __len__(self) -> int:
        return len(self._code)


def _file_name(bucket: jinja2.bccache.Bucket) -> str:
    # Jinja's key is the hexadecimal SHA-1 of the template's name and file.
    return f"{bucket.key}.code"


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
