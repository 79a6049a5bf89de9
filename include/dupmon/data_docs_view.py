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
Python runs code loaded from that folder. Anyone allowed to rename
folders in the region's data folder could put any file there, such as a
quarantined export. So each file carries an HMAC-SHA256 of its name and
content under a key derived from the pair-key secret, which is kept
outside the data root. A file without a valid HMAC is compiled anew and
written over, and only a regular file of a bounded size is read.

The cache keeps Jinja's compiled code objects, not templates. A template
made from cached code still runs in its own view's environment, with that
view's filters, because Jinja executes the code anew for each environment.
Every ``PageView`` of one release of GX and dupmon has the same
environment settings and filters, which the compiled code depends on
(autoescape, extensions, filters that take the context), so the code fits
every view. Kept files record those releases and ``VIEW_VERSION``.

This module imports GX at its top, so import it only where GX is imported
already: GX imports it to build a site that names ``PageView``, and
``dupmon_airflow.preload`` after its import of GX.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import stat
import time
from importlib import metadata
from pathlib import Path
from types import CodeType

import jinja2
from great_expectations.render.view import DefaultJinjaPageView

log = logging.getLogger(__name__)


# Increase this number when ``PageView`` changes its environment, because
# Jinja's code depends on settings and filters that the template's text does not show.
VIEW_VERSION = 1
# The start of every kept file. Code kept under another release of Jinja or
# GX, whose views set the environment up, or another ``PageView`` is
# compiled anew.
_FILE_HEADER = (
    f"dupmon compiled Jinja template, Jinja {jinja2.__version__}, "
    f"GX {metadata.version('great-expectations')}, view {VIEW_VERSION}\n"
).encode()
_MAC_BYTES = hashlib.sha256().digest_size
# The largest kept file of GX 1.24's templates is about 15 KB.
_MAX_FILE_BYTES = 4 * 1024 * 1024


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
        # The folder of kept files and the key of their HMACs, or None for
        # memory only. Set together, and read together into locals.
        self._files: tuple[Path, bytes] | None = None
        self._write_failed = False

    def keep_in(self, folder: Path | None, key: bytes | None = None) -> bool:
        """Keep compiled code in ``folder`` from now on, authenticated with ``key``.

        Without either, code is kept in memory only. A new folder is made
        readable by its owner alone. A symbolic link is not followed, so
        that no one can make the step write its files elsewhere. Temporary
        files that a killed process left are removed. Returns whether the
        folder is used.
        """
        self._files = None
        if folder is None or not key:
            return False
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if folder.is_symlink():
                raise OSError("the folder is a symbolic link, which is not followed")
            _remove_left_temporaries(folder)
        except OSError as error:
            log.warning(
                "Keeping compiled Data Docs templates in %s failed, so each process compiles "
                "them: %s",
                folder,
                error,
            )
            return False
        self._write_failed = False
        self._files = (folder, key)
        return True

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get((bucket.key, bucket.checksum))
        files = self._files
        if code is None and files is not None:
            code = _read(bucket, *files)
            if code is not None:
                self._code[(bucket.key, bucket.checksum)] = code
        if code is not None:
            bucket.code = code

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[(bucket.key, bucket.checksum)] = bucket.code
        files = self._files
        if files is None:
            return
        folder, key = files
        name = _file_name(bucket)
        content = bucket.bytecode_to_string()
        data = _FILE_HEADER + _mac(key, name, content) + content
        temporary = folder / f".{name}.{secrets.token_hex(8)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        try:
            descriptor = os.open(temporary, flags, 0o600)
            try:
                with os.fdopen(descriptor, "wb") as file:
                    file.write(data)
                os.replace(temporary, folder / name)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
        except OSError as error:
            # Log once per folder, because every template of the run fails the same way.
            if not self._write_failed:
                self._write_failed = True
                log.warning("Compiled Data Docs templates are not kept in %s: %s", folder, error)

    def clear(self) -> None:
        """Forget the code kept in memory. Files in the folder stay."""
        self._code.clear()

    def __len__(self) -> int:
        return len(self._code)


# A temporary file older than this was left by a process that was killed.
_LEFT_AFTER_SECONDS = 3600


def _remove_left_temporaries(folder: Path) -> None:
    """Remove the temporary files in ``folder`` older than ``_LEFT_AFTER_SECONDS``."""
    now = time.time()
    with os.scandir(folder) as entries:
        for entry in entries:
            if not (entry.name.startswith(".") and entry.name.endswith(".tmp")):
                continue
            with contextlib.suppress(OSError):
                if now - entry.stat(follow_symlinks=False).st_mtime > _LEFT_AFTER_SECONDS:
                    os.unlink(entry.path)


def _file_name(bucket: jinja2.bccache.Bucket) -> str:
    # Jinja's key is the hexadecimal SHA-1 of the template's name and file.
    return f"{bucket.key}.code"


def _mac(key: bytes, name: str, content: bytes) -> bytes:
    return hmac.new(key, name.encode("ascii") + b"\0" + content, hashlib.sha256).digest()


def _read(bucket: jinja2.bccache.Bucket, folder: Path, key: bytes) -> CodeType | None:
    """Return the kept code of a template, or None for a missing, foreign, damaged or old file."""
    name = _file_name(bucket)
    try:
        # Without O_NONBLOCK, opening a named pipe would wait for a writer.
        descriptor = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(descriptor, "rb") as file:
            status = os.fstat(file.fileno())
            if not stat.S_ISREG(status.st_mode) or status.st_size > _MAX_FILE_BYTES:
                return None
            data = file.read(_MAX_FILE_BYTES + 1)
    except OSError:
        return None
    content = data[len(_FILE_HEADER) + _MAC_BYTES :]
    mac = data[len(_FILE_HEADER) : len(_FILE_HEADER) + _MAC_BYTES]
    if not data.startswith(_FILE_HEADER) or not hmac.compare_digest(mac, _mac(key, name, content)):
        log.info(
            "Kept code of Data Docs template %s has an invalid header or HMAC "
            "(foreign, damaged or of another release); compiling it again",
            name,
        )
        return None
    # Jinja's own format: its magic, the template's checksum and the code.
    # A file of another template source leaves the bucket empty.
    try:
        bucket.bytecode_from_string(content)
    except Exception as error:
        log.warning("Loading kept code of Data Docs template %s failed: %s", name, error)
        bucket.reset()
    if not isinstance(bucket.code, CodeType):
        bucket.reset()
        return None
    return bucket.code


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
