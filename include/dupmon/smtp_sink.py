"""Local SMTP server that stores every message it receives, for the demo and the tests.

Each message becomes one ``.eml`` file of the raw bytes under the mail
folder, and one JSON line in ``index.jsonl`` there. The server listens on a
loopback address only, because it delivers nothing and accepts any sender.

Run it with ``python -m dupmon.smtp_sink --maildir DIR [--port N] [--pid-file F]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import ipaddress
import itertools
import json
import logging
import os
import signal
import sys
import threading
import time
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from types import FrameType
from typing import Any

from aiosmtpd.controller import Controller

from dupmon.raw_store import make_private_dir, write_atomic

log = logging.getLogger(__name__)

INDEX_FILE = "index.jsonl"
# The name the server gives itself in its greeting. Setting it saves the
# reverse DNS lookup aiosmtpd makes by default, which can take seconds.
SERVER_NAME = "dupmon-sink.localhost"


def loopback_host(host: str) -> str:
    """Return the address to bind for ``host``, which must be a loopback address.

    ``localhost`` becomes 127.0.0.1, so that port 0 picks one port and not
    one for each address the name resolves to. Raises ValueError for any
    other name and for addresses outside 127.0.0.0/8 and ::1.
    """
    if host.lower() == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise ValueError(
            f"SMTP sink host {host!r} is not a loopback address. "
            "The sink accepts mail from anyone, so it listens only on 127.0.0.0/8, ::1 "
            "or localhost."
        )
    return host


class MaildirHandler:
    """aiosmtpd handler that writes each message to ``maildir`` and accepts it.

    Subclasses in the tests add ``handle_RCPT`` or change ``handle_DATA`` to
    imitate a server that rejects a recipient or drops the connection.
    """

    def __init__(self, maildir: Path):
        self.maildir = Path(maildir)
        self._sequence = itertools.count(1)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        try:
            file_name = self.store(envelope.mail_from, envelope.rcpt_tos, envelope.original_content)
        except OSError as error:
            log.error(
                "Could not store a message from %s in %s: %s",
                envelope.mail_from,
                self.maildir,
                error,
            )
            return "451 4.3.0 Could not store the message; try again later"
        return f"250 2.0.0 Stored as {file_name}"

    def store(self, mail_from: str, recipients: list[str], raw: bytes) -> str:
        """Write the raw message and its index line, and return the ``.eml`` file name."""
        message_id = BytesHeaderParser(policy=compat32).parsebytes(raw).get("Message-ID", "")
        digest = hashlib.sha256(message_id.encode() if message_id else raw).hexdigest()[:16]
        # Nanoseconds keep names sortable across restarts, and the counter breaks ties.
        file_name = f"{time.time_ns():020d}-{next(self._sequence):06d}-{digest}.eml"

        write_atomic(self.maildir / file_name, raw)
        entry = {
            "file": file_name,
            "received_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "mail_from": mail_from,
            "rcpt_tos": list(recipients),
            "message_id": str(message_id),
            "size": len(raw),
        }
        with open(self.maildir / INDEX_FILE, "a", encoding="utf-8") as index:
            index.write(json.dumps(entry, ensure_ascii=False) + "\n")

        log.info(
            "Stored a message from %s to %s as %s", mail_from, ", ".join(recipients), file_name
        )
        return file_name


class _Controller(Controller):
    """aiosmtpd's threaded controller that learns its port after binding.

    aiosmtpd 1.4.6 connects to the configured port to check that the server
    is up, so with port 0 it would connect to port 0. Reading the bound port
    back before that check makes port 0 work.
    """

    async def _bind(self) -> Any:
        server = await super()._create_server()
        self.port = server.sockets[0].getsockname()[1]
        return server

    def _create_server(self) -> Any:
        return self._bind()


class SmtpSink:
    """SMTP server on a loopback address that stores every message under ``maildir``.

    ``port=0`` picks a free port, and ``port`` is the bound port after ``start``.
    ``handler`` replaces the default MaildirHandler, and ``server_options``
    go to aiosmtpd's SMTP class (for example ``authenticator`` and
    ``auth_require_tls``).
    """

    def __init__(
        self,
        maildir: Path,
        host: str = "127.0.0.1",
        port: int = 8025,
        *,
        handler: Any | None = None,
        **server_options: Any,
    ):
        self.maildir = Path(maildir)
        self.host = loopback_host(host)
        self.port = port
        self.handler = handler if handler is not None else MaildirHandler(self.maildir)
        self.server_options = server_options
        self._controller: _Controller | None = None

    def start(self) -> None:
        if self._controller is not None:
            raise RuntimeError(f"SMTP sink on {self.host}:{self.port} is already running")
        make_private_dir(self.maildir)
        controller = _Controller(
            self.handler,
            hostname=self.host,
            port=self.port,
            server_hostname=SERVER_NAME,
            **self.server_options,
        )
        controller.start()
        self._controller = controller
        self.port = controller.port
        log.info(
            "SMTP sink listening on %s:%d, storing mail in %s", self.host, self.port, self.maildir
        )

    def stop(self) -> None:
        """Stop the server. Does nothing when it is not running."""
        if self._controller is None:
            return
        self._controller.stop()
        self._controller = None
        log.info("SMTP sink on %s:%d stopped", self.host, self.port)

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stored_files(self) -> list[Path]:
        """Return the stored ``.eml`` files, oldest first."""
        return sorted(self.maildir.glob("*.eml"))

    def index(self) -> list[dict]:
        """Return the entries of ``index.jsonl``, oldest first."""
        path = self.maildir / INDEX_FILE
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="dupmon smtp-sink",
        description="Run a local SMTP server that stores every message it receives "
        "as an .eml file.",
    )
    parser.add_argument(
        "--maildir", type=Path, required=True, help="folder the .eml files and index.jsonl go to"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=8025, help="TCP port; 0 picks a free one (default 8025)"
    )
    parser.add_argument(
        "--pid-file", type=Path, help="file to write the process id to while the server runs"
    )
    arguments = parser.parse_args(argv)
    try:
        loopback_host(arguments.host)
    except ValueError as error:
        parser.error(str(error))
    return arguments


def main(argv: list[str] | None = None) -> int:
    """Run the sink until SIGTERM or SIGINT and return the exit status."""
    arguments = _parse_arguments(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    stop_requested = threading.Event()

    def request_stop(signal_number: int, frame: FrameType | None) -> None:
        log.info("Received %s, stopping", signal.Signals(signal_number).name)
        stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    sink = SmtpSink(arguments.maildir, host=arguments.host, port=arguments.port)
    try:
        sink.start()
    except OSError as error:
        log.error(
            "Could not listen on %s:%d: %s. "
            "Stop the program using the port or pass another --port.",
            arguments.host,
            arguments.port,
            error,
        )
        return 1

    pid_file: Path | None = arguments.pid_file
    try:
        if pid_file is not None:
            write_atomic(pid_file, f"{os.getpid()}\n".encode(), mode=0o644)
        stop_requested.wait()
    finally:
        sink.stop()
        if pid_file is not None:
            _remove_pid_file(pid_file)
    return 0


def _remove_pid_file(pid_file: Path) -> None:
    # Leave the file alone if another sink has written its own pid there since.
    try:
        if pid_file.read_text().strip() == str(os.getpid()):
            pid_file.unlink()
    except FileNotFoundError:
        pass


if __name__ == "__main__":
    sys.exit(main())
