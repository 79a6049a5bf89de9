"""E-mail of the documents: building the MIME messages, sending them, the ledger.

Each document (the справка for the region, a reminder for one УО) goes to
each of its recipients as a separate message. A SQLite ledger records every
message the SMTP server accepted, keyed by monitoring date, document and
recipient, so that a rerun of the sending task sends only what is missing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import fcntl
import hashlib
import logging
import mimetypes
import smtplib
import sqlite3
import ssl
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP, EmailPolicy
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dupmon.settings import Settings

log = logging.getLogger(__name__)

# Types of the files the pipeline attaches. Python's built-in mimetypes table
# has no .docx or .xlsx, so without this map the type would depend on the
# host's /etc/mime.types.
ATTACHMENT_TYPES = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".html": "text/html",
    ".htm": "text/html",
    ".csv": "text/csv",
    ".pdf": "application/pdf",
    ".json": "application/json",
    ".txt": "text/plain",
}

# RFC 5322 section 2.1.1: a line must not exceed 998 characters.
MAX_HEADER_LINE = 998
# Line length given to email.header's encoder for the Subject, so that no
# RFC 2047 encoded word exceeds 75 characters.
ENCODED_WORD_LINE = 76


# --- settings and messages ------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SmtpSettings:
    """Connection to the SMTP server that sends the documents.

    ``use_ssl`` opens an implicit TLS connection (SMTPS, usually port 465)
    and ``starttls`` upgrades a plain one (usually port 587), so at most one
    of them is set. ``timeout`` is in seconds and applies to each socket
    operation.
    """

    host: str
    port: int
    from_email: str
    use_ssl: bool = False
    starttls: bool = False
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: int = 30

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("SMTP host is missing. Set the host of the SMTP connection.")
        if not 0 < self.port < 65536:
            raise ValueError(f"SMTP port {self.port} is invalid. Use a port from 1 to 65535.")
        if self.timeout <= 0:
            raise ValueError(
                f"SMTP timeout {self.timeout} is invalid. Use a number of seconds above 0."
            )
        if self.use_ssl and self.starttls:
            raise ValueError(
                "SMTP settings set both use_ssl and starttls. "
                "Use use_ssl for SMTPS (port 465) or starttls for submission (port 587), not both."
            )
        envelope_address(self.from_email)

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpSettings:
        """Build the settings of a command-line run: a local server, no TLS, no login."""
        return cls(host=settings.smtp_host, port=settings.smtp_port, from_email=settings.mail_from)


@dataclass
class OutgoingMessage:
    """One document for one recipient.

    ``document`` is the id the ledger keys on, such as ``spravka`` or
    ``reminder:dolinsky``. ``attachments`` pairs each file with the file name
    shown to the recipient, for example «Справка_дубли_17.01.2025.docx». Without an
    ``html_body`` the message is plain text.
    """

    document: str
    recipient: str
    subject: str
    text_body: str
    html_body: str | None = None
    attachments: list[tuple[Path, str]] = field(default_factory=list)

    def content_digest(self) -> str:
        """Return the SHA-256 of what the recipient reads: subject, bodies and attachments.

        Headers that change on every send (Date, Message-ID) are not part of
        it, so the same documents give the same digest on a rerun.
        """
        digest = hashlib.sha256()
        for part in (self.subject, self.text_body, self.html_body or ""):
            digest.update(part.encode("utf-8") + b"\x00")
        for path, display_name in self.attachments:
            digest.update(display_name.encode("utf-8") + b"\x00")
            digest.update(hashlib.sha256(Path(path).read_bytes()).digest())
        return digest.hexdigest()

    def __post_init__(self) -> None:
        if not self.document:
            raise ValueError(f"message to {self.recipient!r} has no document id")
        envelope_address(self.recipient)
        if "," in self.recipient or ";" in self.recipient:
            raise ValueError(
                f"recipient {self.recipient!r} of {self.document!r} lists several addresses. "
                "Make one message per address."
            )


def envelope_address(address: str) -> str:
    """Return the bare address of ``address``, which may carry a display name.

    Raises ValueError when the text contains no ``local@domain`` address or a line break.
    """
    if "\r" in address or "\n" in address:
        raise ValueError(f"e-mail address {address!r} contains a line break")
    _, bare = email.utils.parseaddr(address)
    local, at, domain = bare.rpartition("@")
    if not (local and at and domain):
        raise ValueError(f"e-mail address {address!r} is invalid. Use the form name@example.org.")
    return bare


def normalise_address(address: str) -> str:
    """Return the ledger key of an address: bare and lower-case.

    RFC 5321 allows case-sensitive local parts but advises mail hosts not to
    rely on that. A recipients file whose case changes between runs must not
    send a document twice.
    """
    return envelope_address(address).lower()


# --- building -------------------------------------------------------------


class _MailPolicy(EmailPolicy):
    """``email.policy.SMTP``, except that file-name parameters are not split.

    At 78 characters the standard policy splits a long Cyrillic file name
    into RFC 2231 continuations (``filename*0*=``, ``filename*1*=``), and not
    every mail client joins them back. This policy folds Content-Disposition
    and Content-Type at 998 characters instead, so the name stays one
    ``filename*=utf-8''...`` parameter up to 160 Cyrillic letters.
    """

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() in ("content-disposition", "content-type"):
            return _LONG_LINE_POLICY.fold_binary(name, value)
        if name.lower() == "subject" and not str(value).isascii():
            # CPython 3.11's folder drops the space between two encoded words
            # when it folds a line there («устранить дубли» arrives as
            # «устранитьдубли»). The compat32 encoder keeps each space inside
            # an encoded word. At its default of 78 it writes 76-character
            # words; RFC 2047 section 2 allows 75, which 76 here keeps.
            encoded = Header(str(value), "utf-8", header_name=name).encode(
                linesep=self.linesep, maxlinelen=ENCODED_WORD_LINE
            )
            return f"{name}: {encoded}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


_LONG_LINE_POLICY = SMTP.clone(max_line_length=MAX_HEADER_LINE)
# The settings of email.policy.SMTP: CRLF line ends, 78-character lines.
MAIL_POLICY = _MailPolicy(linesep=SMTP.linesep, max_line_length=SMTP.max_line_length)


def attachment_type(file_name: str) -> tuple[str, str]:
    """Return the (maintype, subtype) of an attachment, judged by its name."""
    suffix = Path(file_name).suffix.lower()
    content_type = ATTACHMENT_TYPES.get(suffix) or mimetypes.guess_type(file_name)[0]
    if content_type is None:
        content_type = "application/octet-stream"
    maintype, _, subtype = content_type.partition("/")
    return maintype, subtype


def build_email(message: OutgoingMessage, from_email: str) -> EmailMessage:
    """Build the MIME message of one document for one recipient.

    The bodies are multipart/alternative text and HTML, encoded in base64
    because a server without 8BITMIME may reject raw UTF-8. The Cyrillic
    subject becomes RFC 2047 encoded words, and the attachment names RFC 2231
    parameters. Raises OSError when an attachment cannot be read and
    ValueError when a name or address is invalid.
    """
    domain = envelope_address(from_email).rpartition("@")[2]

    email_message = EmailMessage(policy=MAIL_POLICY)
    email_message["From"] = from_email
    email_message["To"] = message.recipient
    email_message["Subject"] = message.subject
    email_message["Date"] = email.utils.formatdate(localtime=True)
    email_message["Message-ID"] = email.utils.make_msgid(domain=domain)

    email_message.set_content(message.text_body, cte="base64")
    if message.html_body is not None:
        email_message.add_alternative(message.html_body, subtype="html", cte="base64")

    for path, display_name in message.attachments:
        _attach_file(email_message, Path(path), display_name)
    return email_message


def _attach_file(email_message: EmailMessage, path: Path, display_name: str) -> None:
    name = display_name or path.name
    if "/" in name or "\\" in name:
        raise ValueError(
            f"attachment name {name!r} contains a path separator. Give a bare file name."
        )
    maintype, subtype = attachment_type(name)
    email_message.add_attachment(
        path.read_bytes(), maintype=maintype, subtype=subtype, filename=name
    )


# --- ledger ---------------------------------------------------------------


@dataclass(frozen=True)
class LedgerEntry:
    """One message the SMTP server accepted."""

    monitoring_date: str
    document: str
    recipient: str
    sent_at: str
    message_id: str
    subject: str
    send_count: int

    def to_dict(self) -> dict:
        return asdict(self)


_LEDGER_SCHEMA = """
CREATE TABLE IF NOT EXISTS sent_messages (
    monitoring_date TEXT NOT NULL,
    document TEXT NOT NULL,
    recipient TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    message_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    send_count INTEGER NOT NULL DEFAULT 1,
    content_sha256 TEXT,
    UNIQUE (monitoring_date, document, recipient)
)
"""


class MailLedger:
    """SQLite file of the messages sent, per monitoring date, document and recipient.

    Every call opens its own connection, so one ledger file can be used by
    several processes and threads. ``busy_timeout`` is the time in seconds
    a call waits for another process's write lock before it raises
    ``sqlite3.OperationalError``. Senders hold ``exclusive()`` while they
    check and record, so two runs at the same time cannot both send one
    message.

    NOTE: both the SQLite locks and the flock(2) of ``exclusive()`` need a
    local file system shared by the senders (one host, or containers on one
    host with one volume), not NFS or SMB.
    """

    def __init__(self, path: Path, busy_timeout: float = 30.0):
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as connection, connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(_LEDGER_SCHEMA)
            columns = {row[1] for row in connection.execute("PRAGMA table_info(sent_messages)")}
            if "content_sha256" not in columns:
                # Ledgers written before the digest was recorded.
                connection.execute("ALTER TABLE sent_messages ADD COLUMN content_sha256 TEXT")

    def _connect(self) -> sqlite3.Connection:
        # The timeout argument installs SQLite's busy handler.
        return sqlite3.connect(self.path, timeout=self.busy_timeout)

    @contextlib.contextmanager
    def exclusive(self, timeout: float = 900.0) -> Iterator[None]:
        """Hold the ledger's lock file, so that one sender at a time checks and records.

        Waits up to ``timeout`` seconds for another sender to finish, then
        raises TimeoutError. The default of 15 minutes is an estimate: one
        date's few dozen messages take seconds while the server responds.
        """
        with open(self.lock_path, "a+b") as lock_file:
            deadline = time.monotonic() + timeout
            waiting_logged = False
            while True:
                try:
                    fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise TimeoutError(
                            f"the mail ledger {self.path} stayed locked by another sender for "
                            f"{timeout:.0f} s; wait for that run to finish and retry"
                        ) from None
                    if not waiting_logged:
                        log.info("Waiting for another sender to release %s", self.lock_path)
                        waiting_logged = True
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def was_sent(self, monitoring_date: str, document: str, recipient: str) -> bool:
        _check_monitoring_date(monitoring_date)
        with closing(self._connect()) as connection:
            row = connection.execute(
                "SELECT 1 FROM sent_messages"
                " WHERE monitoring_date = ? AND document = ? AND recipient = ?",
                (monitoring_date, document, normalise_address(recipient)),
            ).fetchone()
        return row is not None

    def sent_digest(self, monitoring_date: str, document: str, recipient: str) -> str | None:
        """Return the content digest recorded for a sent message.

        Returns ``""`` for a message recorded without one (by an older
        version), and None for a message not sent.
        """
        _check_monitoring_date(monitoring_date)
        with closing(self._connect()) as connection:
            row = connection.execute(
                "SELECT content_sha256 FROM sent_messages"
                " WHERE monitoring_date = ? AND document = ? AND recipient = ?",
                (monitoring_date, document, normalise_address(recipient)),
            ).fetchone()
        if row is None:
            return None
        return row[0] or ""

    def record(
        self,
        monitoring_date: str,
        document: str,
        recipient: str,
        message_id: str,
        subject: str,
        content_sha256: str | None = None,
    ) -> None:
        """Record a message the server accepted. Recording it again counts a resend."""
        _check_monitoring_date(monitoring_date)
        sent_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with closing(self._connect()) as connection, connection:
            connection.execute(
                "INSERT INTO sent_messages"
                " (monitoring_date, document, recipient, sent_at, message_id, subject,"
                " content_sha256)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (monitoring_date, document, recipient) DO UPDATE SET"
                " sent_at = excluded.sent_at, message_id = excluded.message_id,"
                " subject = excluded.subject, content_sha256 = excluded.content_sha256,"
                " send_count = send_count + 1",
                (
                    monitoring_date,
                    document,
                    normalise_address(recipient),
                    sent_at,
                    message_id,
                    subject,
                    content_sha256,
                ),
            )

    def entries(self, monitoring_date: str | None = None) -> list[LedgerEntry]:
        """Return the recorded messages, of one monitoring date or of all, oldest first."""
        query = (
            "SELECT monitoring_date, document, recipient, sent_at, message_id, subject, send_count"
            " FROM sent_messages"
        )
        parameters: tuple = ()
        if monitoring_date is not None:
            _check_monitoring_date(monitoring_date)
            query += " WHERE monitoring_date = ?"
            parameters = (monitoring_date,)
        query += " ORDER BY monitoring_date, sent_at, document, recipient"
        with closing(self._connect()) as connection:
            rows = connection.execute(query, parameters).fetchall()
        return [LedgerEntry(*row) for row in rows]


def _check_monitoring_date(monitoring_date: str) -> None:
    # One spelling of the key, so that 17.01.2025 and 2025-01-17 never count as two dates.
    try:
        dt.date.fromisoformat(monitoring_date)
    except (TypeError, ValueError):
        raise ValueError(
            f"monitoring date {monitoring_date!r} is invalid. Use the ISO form YYYY-MM-DD."
        ) from None


# --- report ---------------------------------------------------------------


# Reason of a skipped message whose documents differ from the copy sent.
CHANGED_SINCE_SENT = "already sent, but the content has changed since; use force_resend to send it"


@dataclass(frozen=True)
class Delivery:
    """Outcome of one message. ``reason`` is empty for a message sent."""

    document: str
    recipient: str
    reason: str = ""
    message_id: str | None = None


class MailDeliveryError(RuntimeError):
    """Messages the SMTP server did not accept, listed in ``failed``."""

    def __init__(self, monitoring_date: str, failed: Sequence[Delivery]):
        self.monitoring_date = monitoring_date
        self.failed = list(failed)
        lines = [f"{item.document} to {item.recipient}: {item.reason}" for item in self.failed]
        super().__init__(
            f"{len(self.failed)} message(s) of {monitoring_date} were not delivered: "
            + "; ".join(lines)
            + ". Fix the address or the server and rerun; messages already sent are skipped."
        )


@dataclass
class SendReport:
    """Outcome of one ``send_messages`` call, JSON-serialisable through ``to_dict``."""

    monitoring_date: str
    sent: list[Delivery] = field(default_factory=list)
    skipped: list[Delivery] = field(default_factory=list)
    failed: list[Delivery] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SendReport:
        return cls(
            monitoring_date=data["monitoring_date"],
            sent=[Delivery(**item) for item in data.get("sent", [])],
            skipped=[Delivery(**item) for item in data.get("skipped", [])],
            failed=[Delivery(**item) for item in data.get("failed", [])],
        )

    def raise_for_failures(self) -> None:
        """Raise MailDeliveryError naming each failed document and recipient, if any."""
        if self.failed:
            raise MailDeliveryError(self.monitoring_date, self.failed)


# --- sending --------------------------------------------------------------


class SmtpConnectionError(Exception):
    """The SMTP server could not be reached or rejected the login."""


class _SmtpSession:
    """One SMTP connection, opened when first needed and reopened once it drops.

    After a failed connect or login the session does not try again, so the
    remaining messages fail at once instead of each waiting for the timeout.
    """

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self._client: smtplib.SMTP | None = None
        self._error: str | None = None

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def client(self) -> smtplib.SMTP:
        """Return a live connection. Raises SmtpConnectionError when none can be opened."""
        if self._error is not None:
            raise SmtpConnectionError(self._error)

        if self._client is not None:
            if _is_alive(self._client):
                return self._client
            log.info("SMTP server %s closed the connection, opening a new one", self.address)
            self._client = None

        try:
            self._client = _open_connection(self.settings)
        except (OSError, smtplib.SMTPException) as error:
            self._error = f"could not connect to the SMTP server {self.address}: {error}"
            log.error("%s", self._error)
            raise SmtpConnectionError(self._error) from error
        return self._client

    def discard(self) -> None:
        """Drop a connection that failed in the middle of a message."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def close(self) -> None:
        if self._client is None:
            return
        try:
            self._client.quit()
        except (OSError, smtplib.SMTPException) as error:
            # Messages are recorded as soon as the server accepts them, so a
            # failed QUIT changes nothing about what was delivered.
            log.warning("Closing the connection to %s failed: %s", self.address, error)
            self._client.close()
        self._client = None


def _open_connection(settings: SmtpSettings) -> smtplib.SMTP:
    # NOTE: the use_ssl and starttls branches run in no test, because the test
    # server has no TLS certificate. The system CA store verifies the server.
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if settings.use_ssl:
        client = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=context
        )
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)

    try:
        client.ehlo()
        if settings.starttls:
            client.starttls(context=context)
            client.ehlo()
        if settings.user:
            client.login(settings.user, settings.password or "")
    except BaseException:
        client.close()
        raise

    log.info("Connected to the SMTP server %s:%d", settings.host, settings.port)
    return client


def _is_alive(client: smtplib.SMTP) -> bool:
    # NOOP comes before MAIL FROM, so a failure here never leaves a message half sent.
    try:
        return client.noop()[0] == 250
    except (OSError, smtplib.SMTPException):
        client.close()
        return False


def _decode_reply(reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        return reply.decode("utf-8", errors="replace")
    return reply


def send_messages(
    messages: Iterable[OutgoingMessage],
    monitoring_date: str,
    smtp: SmtpSettings,
    ledger: MailLedger,
    *,
    force_resend: bool = False,
) -> SendReport:
    """Send every message the ledger does not list yet, one message per recipient.

    A message is recorded in the ledger right after the server accepts it,
    so a connection lost later (at QUIT, say) does not undo it. A message is
    never retried here, because a retry after acceptance would deliver it
    twice. The caller reruns and the ledger skips what went out.
    ``force_resend`` sends messages the ledger lists too. Failures are in
    ``SendReport.failed``; call ``raise_for_failures`` to fail the task.
    The whole batch runs under the ledger's ``exclusive()`` lock.
    """
    _check_monitoring_date(monitoring_date)
    report = SendReport(monitoring_date=monitoring_date)
    with ledger.exclusive():
        _send_all(messages, monitoring_date, smtp, ledger, report, force_resend)

    log.info(
        "Mail of %s: %d sent, %d skipped, %d failed",
        monitoring_date,
        len(report.sent),
        len(report.skipped),
        len(report.failed),
    )
    return report


def _send_all(
    messages: Iterable[OutgoingMessage],
    monitoring_date: str,
    smtp: SmtpSettings,
    ledger: MailLedger,
    report: SendReport,
    force_resend: bool,
) -> None:
    session = _SmtpSession(smtp)
    handled: set[tuple[str, str]] = set()
    try:
        for message in messages:
            key = (message.document, normalise_address(message.recipient))
            if key in handled:
                log.warning(
                    "Skipped %s to %s: listed twice in this run",
                    message.document,
                    message.recipient,
                )
                report.skipped.append(
                    Delivery(message.document, message.recipient, "listed twice in this run")
                )
                continue
            handled.add(key)

            try:
                digest = message.content_digest()
            except OSError as error:
                _fail(report, message, f"could not read an attachment: {error}")
                continue
            sent_digest = ledger.sent_digest(monitoring_date, message.document, message.recipient)
            if sent_digest is not None and not force_resend:
                _skip_sent(report, message, monitoring_date, changed=sent_digest not in ("", digest))
                continue

            _send_one(message, monitoring_date, smtp, ledger, session, report, digest)
    finally:
        session.close()


def _skip_sent(
    report: SendReport, message: OutgoingMessage, monitoring_date: str, *, changed: bool
) -> None:
    """Skip a message the ledger lists, warning when its content differs from what went out."""
    if not changed:
        log.info(
            "Skipped %s to %s: the ledger lists it as sent for %s",
            message.document,
            message.recipient,
            monitoring_date,
        )
        report.skipped.append(Delivery(message.document, message.recipient, "already sent"))
        return
    # The exports of the date were corrected after the mail went out. The
    # recipient keeps the first version until an operator decides to send
    # the new one, because a second справка with other figures needs a word
    # of explanation.
    log.warning(
        "Skipped %s to %s: sent for %s already, but its content has changed since. "
        "Rerun with force_resend to send the new version.",
        message.document,
        message.recipient,
        monitoring_date,
    )
    report.skipped.append(
        Delivery(message.document, message.recipient, CHANGED_SINCE_SENT)
    )


def _send_one(
    message: OutgoingMessage,
    monitoring_date: str,
    smtp: SmtpSettings,
    ledger: MailLedger,
    session: _SmtpSession,
    report: SendReport,
    digest: str | None = None,
) -> None:
    try:
        email_message = build_email(message, smtp.from_email)
    except (OSError, ValueError) as error:
        _fail(report, message, f"could not build the message: {error}")
        return

    try:
        client = session.client()
    except SmtpConnectionError as error:
        _fail(report, message, str(error))
        return

    try:
        refused_recipients = client.send_message(
            email_message,
            from_addr=envelope_address(smtp.from_email),
            to_addrs=[envelope_address(message.recipient)],
        )
    except smtplib.SMTPRecipientsRefused as error:
        replies = [f"{code} {_decode_reply(text)}" for code, text in error.recipients.values()]
        _fail(report, message, "the server rejected the recipient: " + "; ".join(replies))
        return
    except smtplib.SMTPResponseException as error:
        # SMTPSenderRefused or SMTPDataError. smtplib has reset the transaction,
        # so the connection stays usable for the next message.
        reply = f"{error.smtp_code} {_decode_reply(error.smtp_error)}"
        _fail(report, message, f"the server rejected the message: {reply}")
        return
    except smtplib.SMTPNotSupportedError as error:
        _fail(report, message, f"the server does not support the message: {error}")
        return
    except (OSError, smtplib.SMTPException) as error:
        # NOTE: a connection lost after the body was sent but before the
        # server's reply may still have delivered the message, and a rerun
        # then sends it a second time. smtplib does not tell the two apart.
        session.discard()
        _fail(report, message, f"connection to {session.address} failed during sending: {error}")
        return

    if refused_recipients:
        _fail(report, message, f"the server rejected the recipient: {refused_recipients}")
        return

    message_id = email_message["Message-ID"]
    try:
        ledger.record(
            monitoring_date,
            message.document,
            message.recipient,
            message_id,
            message.subject,
            digest,
        )
    except sqlite3.Error:
        log.error(
            "Sent %s to %s (Message-ID %s) but could not record it in the ledger %s. "
            "A rerun will send it again.",
            message.document,
            message.recipient,
            message_id,
            ledger.path,
        )
        raise

    log.info("Sent %s to %s (Message-ID %s)", message.document, message.recipient, message_id)
    report.sent.append(Delivery(message.document, message.recipient, message_id=message_id))


def _fail(report: SendReport, message: OutgoingMessage, reason: str) -> None:
    log.error("Failed to send %s to %s: %s", message.document, message.recipient, reason)
    report.failed.append(Delivery(message.document, message.recipient, reason))
