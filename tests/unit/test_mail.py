"""Mail building, sending and the ledger, against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import email.policy
import json
import logging
import multiprocessing
import re
import signal
import smtplib
import socket
import subprocess
import sys
import time
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes

import pytest
from aiosmtpd.smtp import AuthResult

from dupmon.mail import (
    CHANGED_SINCE_SENT,
    Delivery,
    MailDeliveryError,
    MailLedger,
    OutgoingMessage,
    SendReport,
    SmtpSettings,
    build_email,
    send_messages,
)
from dupmon.settings import Settings
from dupmon.smtp_sink import MaildirHandler, SmtpSink, loopback_host
from dupmon.smtp_sink import main as sink_main

MONITORING_DATE = "2025-01-17"
FROM_EMAIL = "monitoring@example.org"
SUBJECT = "Справка о дублях учащихся на 17.01.2025 — Сахалинская область"
DOCX_NAME = "Справка_дубли_17.01.2025.docx"
HTML_NAME = "Напоминание_Долинский_17.01.2025.html"
CSV_NAME = "Дубли_Долинский_городской_округ_17.01.2025.csv"
TEXT_BODY = "Добрый день! Во вложении справка о дублях учащихся."
HTML_BODY = "<p>Добрый день! Во вложении справка о дублях учащихся.</p>"
REJECTED = "bad@example.org"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


# --- helpers and fixtures -------------------------------------------------


class RejectingHandler(MaildirHandler):
    """Stores mail like the sink but rejects the address REJECTED at RCPT."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == REJECTED:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"


class DroppingHandler(MaildirHandler):
    """Accepts each message, then closes the connection before the client's QUIT."""

    async def handle_DATA(self, server, session, envelope):
        status = await super().handle_DATA(server, session, envelope)
        # Runs after the 250 reply has been written to the transport.
        asyncio.get_running_loop().call_soon(server.transport.close)
        return status


class SlowHandler(MaildirHandler):
    """Stores mail like the sink, taking 0.1 s per message, so that two senders overlap."""

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.1)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def attachments(tmp_path: Path) -> list[tuple[Path, str]]:
    folder = tmp_path / "reports"
    folder.mkdir()
    docx = folder / "spravka.docx"
    docx.write_bytes(b"PK\x03\x04 not a real document")
    html = folder / "reminder.html"
    html.write_text("<p>Напоминание</p>", encoding="utf-8")
    csv = folder / "pairs.csv"
    csv.write_bytes("pair_key;school\r\nab12;МБОУ СОШ № 1\r\n".encode("utf-8-sig"))
    return [(docx, DOCX_NAME), (html, HTML_NAME), (csv, CSV_NAME)]


def make_message(
    attachments: list[tuple[Path, str]],
    recipient: str = "uo.dolinsky@example.org",
    document: str = "spravka",
) -> OutgoingMessage:
    return OutgoingMessage(
        document=document,
        recipient=recipient,
        subject=SUBJECT,
        text_body=TEXT_BODY,
        html_body=HTML_BODY,
        attachments=list(attachments),
    )


def smtp_settings(sink: SmtpSink, **changes) -> SmtpSettings:
    values = {"host": "127.0.0.1", "port": sink.port, "from_email": FROM_EMAIL, "timeout": 5}
    values.update(changes)
    return SmtpSettings(**values)


def header_block(raw: bytes, name: bytes) -> bytes:
    """Return the first header ``name`` of ``raw`` as sent, folded lines included."""
    lines = raw.split(b"\r\n")
    for index, line in enumerate(lines):
        if line.lower().startswith(name.lower() + b":"):
            block = [line]
            for continuation in lines[index + 1 :]:
                if continuation[:1] not in (b" ", b"\t"):
                    break
                block.append(continuation)
            return b"\r\n".join(block)
    raise AssertionError(f"header {name!r} not found")


# RFC 2047 section 2: charset, encoding B or Q, and the encoded text.
ENCODED_WORD = re.compile(rb"=\?([^?*]+)\?([BbQq])\?([^?]*)\?=")
# RFC 2231 section 7 with RFC 2045's attribute-char: no space, control, tspecial, "*", "'", "%".
EXTENDED_VALUE = re.compile(rb"utf-8''((?:[!#$&+\-.0-9A-Z^_`a-z{|}~]|%[0-9A-F]{2})+)")


def decode_subject_strictly(block: bytes) -> str:
    """Decode a raw Subject header as RFC 2047 allows, without Python's parser.

    The value must consist of encoded words separated only by folding white
    space, each at most 75 characters long, and each B-encoded word must be
    whole UTF-8 characters, as section 5 requires. A client that decodes
    each word on its own then shows the same text.
    """
    value = block.split(b":", 1)[1]
    words = value.split()
    text = []
    for word in words:
        match = ENCODED_WORD.fullmatch(word)
        assert match, f"{word!r} is not an encoded word"
        assert len(word) <= 75, f"encoded word {word!r} is longer than 75 characters"
        charset, encoding, payload = match.groups()
        assert (charset.lower(), encoding.lower()) == (b"utf-8", b"b")
        text.append(base64.b64decode(payload, validate=True).decode("utf-8"))
    return "".join(text)


def parse(raw: bytes) -> EmailMessage:
    return BytesParser(policy=email.policy.default).parsebytes(raw)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def sink(tmp_path: Path):
    with SmtpSink(tmp_path / "maildir", port=0) as server:
        yield server


@pytest.fixture
def ledger(tmp_path: Path) -> MailLedger:
    return MailLedger(tmp_path / "mail" / "ledger.sqlite")


# --- build_email ----------------------------------------------------------


def test_build_subject_header_ascii(attachments):
    raw = build_email(make_message(attachments), FROM_EMAIL).as_bytes()

    subject = header_block(raw, b"Subject")

    assert subject.isascii()
    assert b"=?utf-8?" in subject


def test_build_filename_rfc2231(attachments):
    raw = build_email(make_message(attachments), FROM_EMAIL).as_bytes()

    disposition = header_block(raw, b"Content-Disposition")

    assert disposition.isascii()
    assert f"filename*=utf-8''{quote(DOCX_NAME)}".encode() in disposition


def test_build_long_filename_unsplit(attachments):
    raw = build_email(make_message(attachments), FROM_EMAIL).as_bytes()

    assert f"filename*=utf-8''{quote(CSV_NAME)}".encode() in raw
    assert b"filename*0*=" not in raw


def test_build_subject_strict_rfc2047():
    subject = (
        "Напоминание: устранить дубли учётных записей до 24.01.2025 — Долинский городской округ"
    )
    message = OutgoingMessage("reminder:dolinsky", "uo@example.org", subject, TEXT_BODY)
    raw = build_email(message, FROM_EMAIL).as_bytes()

    block = header_block(raw, b"Subject")

    assert decode_subject_strictly(block) == subject
    assert max(len(line) for line in block.split(b"\r\n")) <= 78


def test_build_filename_strict_rfc2231(attachments):
    raw = build_email(make_message(attachments), FROM_EMAIL).as_bytes()

    names = [
        unquote_to_bytes(match.group(1).decode("ascii")).decode("utf-8")
        for match in EXTENDED_VALUE.finditer(raw)
    ]

    assert names == [DOCX_NAME, HTML_NAME, CSV_NAME]


def test_build_raw_message_ascii_crlf(attachments):
    raw = build_email(make_message(attachments), FROM_EMAIL).as_bytes()

    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_build_parsed_subject(attachments):
    parsed = parse(build_email(make_message(attachments), FROM_EMAIL).as_bytes())

    assert parsed["Subject"] == SUBJECT


def test_build_parsed_attachments(attachments):
    parsed = parse(build_email(make_message(attachments), FROM_EMAIL).as_bytes())

    found = [(part.get_filename(), part.get_content_type()) for part in parsed.iter_attachments()]

    assert found == [(DOCX_NAME, DOCX_TYPE), (HTML_NAME, "text/html"), (CSV_NAME, "text/csv")]


def test_build_attachment_bytes_intact(attachments):
    parsed = parse(build_email(make_message(attachments), FROM_EMAIL).as_bytes())

    contents = [part.get_payload(decode=True) for part in parsed.iter_attachments()]

    assert contents == [path.read_bytes() for path, _ in attachments]


def test_build_alternative_bodies(attachments):
    parsed = parse(build_email(make_message(attachments), FROM_EMAIL).as_bytes())

    assert parsed.get_body(("plain",)).get_content().strip() == TEXT_BODY
    assert parsed.get_body(("html",)).get_content().strip() == HTML_BODY
    assert parsed.get_body(("plain",)).get("Content-Transfer-Encoding") == "base64"


def test_build_message_id_and_date(attachments):
    parsed = parse(build_email(make_message(attachments), FROM_EMAIL).as_bytes())

    assert re.fullmatch(r"<[^@<>]+@example\.org>", parsed["Message-ID"])
    assert parsed["Date"].datetime is not None


def test_build_text_only_message():
    message = OutgoingMessage("reminder:dolinsky", "uo@example.org", SUBJECT, TEXT_BODY)

    parsed = parse(build_email(message, FROM_EMAIL).as_bytes())

    assert parsed.get_content_type() == "text/plain"


def test_build_missing_attachment_raises(tmp_path):
    missing = [(tmp_path / "no.docx", DOCX_NAME)]
    message = OutgoingMessage("spravka", "uo@example.org", SUBJECT, TEXT_BODY, attachments=missing)

    with pytest.raises(FileNotFoundError):
        build_email(message, FROM_EMAIL)


@pytest.mark.parametrize("recipient", ["uo@example.org, ro@example.org", "not an address", ""])
def test_message_rejects_bad_recipient(recipient):
    with pytest.raises(ValueError):
        OutgoingMessage("spravka", recipient, SUBJECT, TEXT_BODY)


def test_settings_reject_ssl_with_starttls():
    with pytest.raises(ValueError, match="use_ssl"):
        SmtpSettings(host="127.0.0.1", port=465, from_email=FROM_EMAIL, use_ssl=True, starttls=True)


def test_settings_from_command_line(tmp_path):
    settings = Settings(data_dir=tmp_path)

    smtp = SmtpSettings.from_settings(settings)

    assert (smtp.host, smtp.port, smtp.from_email) == ("127.0.0.1", 8025, settings.mail_from)
    assert (smtp.use_ssl, smtp.starttls, smtp.user) == (False, False, None)


def test_settings_repr_hides_password():
    settings = SmtpSettings(
        host="127.0.0.1", port=8025, from_email=FROM_EMAIL, user="monitor", password="s3cret-test"
    )

    assert "s3cret-test" not in repr(settings)


# --- send_messages --------------------------------------------------------


def test_send_delivers_to_sink(sink, ledger, attachments):
    message = make_message(attachments)

    report = send_messages([message], MONITORING_DATE, smtp_settings(sink), ledger)

    assert [(item.document, item.recipient) for item in report.sent] == [
        ("spravka", message.recipient)
    ]
    assert report.sent[0].message_id is not None
    assert len(sink.stored_files()) == 1


def test_send_received_message_decodes(sink, ledger, attachments):
    send_messages([make_message(attachments)], MONITORING_DATE, smtp_settings(sink), ledger)

    received = parse(sink.stored_files()[0].read_bytes())

    assert received["Subject"] == SUBJECT
    assert [part.get_filename() for part in received.iter_attachments()] == [
        DOCX_NAME,
        HTML_NAME,
        CSV_NAME,
    ]


def test_send_received_raw_headers(sink, ledger, attachments):
    send_messages([make_message(attachments)], MONITORING_DATE, smtp_settings(sink), ledger)

    raw = sink.stored_files()[0].read_bytes()

    assert decode_subject_strictly(header_block(raw, b"Subject")) == SUBJECT
    assert f"filename*=utf-8''{quote(DOCX_NAME)}".encode() in raw
    assert raw.isascii()


def test_send_one_message_per_recipient(sink, ledger, attachments):
    messages = [make_message(attachments, f"uo{number}@example.org") for number in range(3)]

    send_messages(messages, MONITORING_DATE, smtp_settings(sink), ledger)

    envelopes = [entry["rcpt_tos"] for entry in sink.index()]
    assert envelopes == [["uo0@example.org"], ["uo1@example.org"], ["uo2@example.org"]]
    assert {entry["mail_from"] for entry in sink.index()} == {FROM_EMAIL}


def test_send_records_ledger(sink, ledger, attachments):
    message = make_message(attachments)

    send_messages([message], MONITORING_DATE, smtp_settings(sink), ledger)

    received = parse(sink.stored_files()[0].read_bytes())
    entries = ledger.entries(MONITORING_DATE)
    assert ledger.was_sent(MONITORING_DATE, "spravka", message.recipient)
    assert [entry.message_id for entry in entries] == [received["Message-ID"]]
    assert entries[0].subject == SUBJECT


def test_ledger_skips_second_send(sink, ledger, attachments):
    message = make_message(attachments)
    send_messages([message], MONITORING_DATE, smtp_settings(sink), ledger)

    report = send_messages([message], MONITORING_DATE, smtp_settings(sink), ledger)

    assert report.sent == []
    assert report.skipped == [Delivery("spravka", message.recipient, "already sent")]
    assert len(sink.stored_files()) == 1


def test_ledger_key_ignores_address_case(sink, ledger, attachments):
    send_messages(
        [make_message(attachments, "UO@Example.org")], MONITORING_DATE, smtp_settings(sink), ledger
    )

    report = send_messages(
        [make_message(attachments, "uo@example.org")], MONITORING_DATE, smtp_settings(sink), ledger
    )

    assert len(report.skipped) == 1


def test_ledger_other_date_sends(sink, ledger, attachments):
    message = make_message(attachments)
    send_messages([message], MONITORING_DATE, smtp_settings(sink), ledger)

    report = send_messages([message], "2025-01-24", smtp_settings(sink), ledger)

    assert len(report.sent) == 1


def test_force_resend_sends_again(sink, ledger, attachments):
    message = make_message(attachments)
    send_messages([message], MONITORING_DATE, smtp_settings(sink), ledger)

    report = send_messages(
        [message], MONITORING_DATE, smtp_settings(sink), ledger, force_resend=True
    )

    assert len(report.sent) == 1
    assert len(sink.stored_files()) == 2
    assert [entry.send_count for entry in ledger.entries(MONITORING_DATE)] == [2]


def test_changed_content_not_resent(sink, ledger, attachments, caplog):
    message = make_message(attachments)
    send_messages([message], MONITORING_DATE, smtp_settings(sink), ledger)
    attachments[0][0].write_bytes(b"corrected export, other figures")

    with caplog.at_level(logging.WARNING, logger="dupmon.mail"):
        report = send_messages([message], MONITORING_DATE, smtp_settings(sink), ledger)

    assert report.sent == []
    assert report.skipped == [Delivery("spravka", message.recipient, CHANGED_SINCE_SENT)]
    assert len(sink.stored_files()) == 1
    assert "content has changed since" in caplog.text


def test_changed_body_detected(sink, ledger, attachments):
    message = make_message(attachments)
    send_messages([message], MONITORING_DATE, smtp_settings(sink), ledger)
    message.text_body += " Исправлено."

    report = send_messages([message], MONITORING_DATE, smtp_settings(sink), ledger)

    assert [item.reason for item in report.skipped] == [CHANGED_SINCE_SENT]


def test_force_resend_records_new_digest(sink, ledger, attachments):
    message = make_message(attachments)
    send_messages([message], MONITORING_DATE, smtp_settings(sink), ledger)
    message.text_body += " Исправлено."
    send_messages([message], MONITORING_DATE, smtp_settings(sink), ledger, force_resend=True)

    report = send_messages([message], MONITORING_DATE, smtp_settings(sink), ledger)

    assert report.skipped == [Delivery("spravka", message.recipient, "already sent")]
    assert len(sink.stored_files()) == 2


def test_ledger_without_digest_column_migrated(tmp_path):
    import sqlite3

    path = tmp_path / "ledger.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE sent_messages (monitoring_date TEXT NOT NULL, document TEXT NOT NULL,"
            " recipient TEXT NOT NULL, sent_at TEXT NOT NULL, message_id TEXT NOT NULL,"
            " subject TEXT NOT NULL, send_count INTEGER NOT NULL DEFAULT 1,"
            " UNIQUE (monitoring_date, document, recipient))"
        )
        connection.execute(
            "INSERT INTO sent_messages VALUES (?, 'spravka', 'uo@example.org', ?, '<a@x.test>', ?, 1)",
            (MONITORING_DATE, "2025-01-17T09:00:00+00:00", SUBJECT),
        )
    connection.close()

    ledger = MailLedger(path)

    assert ledger.sent_digest(MONITORING_DATE, "spravka", "uo@example.org") == ""
    assert ledger.sent_digest(MONITORING_DATE, "spravka", "ro@example.org") is None


def test_send_skips_duplicate_in_run(sink, ledger, attachments):
    message = make_message(attachments)

    report = send_messages(
        [message, message], MONITORING_DATE, smtp_settings(sink), ledger, force_resend=True
    )

    assert len(report.sent) == 1
    assert report.skipped == [Delivery("spravka", message.recipient, "listed twice in this run")]


def test_rejected_recipient_others_delivered(tmp_path, ledger, attachments, caplog):
    caplog.set_level(logging.INFO, logger="dupmon.mail")
    maildir = tmp_path / "maildir"
    recipients = ["uo.a@example.org", REJECTED, "uo.c@example.org"]
    messages = [
        make_message(attachments, address, f"reminder:{number}")
        for number, address in enumerate(recipients)
    ]

    with SmtpSink(maildir, port=0, handler=RejectingHandler(maildir)) as server:
        report = send_messages(messages, MONITORING_DATE, smtp_settings(server), ledger)
        delivered = [entry["rcpt_tos"] for entry in server.index()]

    assert [(item.document, item.recipient) for item in report.failed] == [("reminder:1", REJECTED)]
    assert "550" in report.failed[0].reason
    assert [item.recipient for item in report.sent] == ["uo.a@example.org", "uo.c@example.org"]
    assert delivered == [["uo.a@example.org"], ["uo.c@example.org"]]
    assert not ledger.was_sent(MONITORING_DATE, "reminder:1", REJECTED)


def test_rejected_recipient_logged(tmp_path, ledger, attachments, caplog):
    caplog.set_level(logging.INFO, logger="dupmon.mail")
    maildir = tmp_path / "maildir"

    with SmtpSink(maildir, port=0, handler=RejectingHandler(maildir)) as server:
        send_messages(
            [make_message(attachments, REJECTED, "reminder:dolinsky")],
            MONITORING_DATE,
            smtp_settings(server),
            ledger,
        )

    errors = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "reminder:dolinsky" in errors[0]
    assert REJECTED in errors[0]


def test_raise_for_failures_names_message():
    failure = Delivery("reminder:dolinsky", REJECTED, "550 5.1.1 Mailbox unavailable")
    report = SendReport(MONITORING_DATE, failed=[failure])

    with pytest.raises(MailDeliveryError, match=r"reminder:dolinsky to bad@example\.org") as caught:
        report.raise_for_failures()

    assert caught.value.failed == report.failed


def test_raise_for_failures_quiet_when_sent():
    report = SendReport(MONITORING_DATE, sent=[Delivery("spravka", "uo@example.org")])

    report.raise_for_failures()


def test_dropped_connection_counts_sent(tmp_path, ledger, attachments):
    maildir = tmp_path / "maildir"
    messages = [make_message(attachments, f"uo{number}@example.org") for number in range(2)]

    with SmtpSink(maildir, port=0, handler=DroppingHandler(maildir)) as server:
        report = send_messages(messages, MONITORING_DATE, smtp_settings(server), ledger)
        stored = len(server.stored_files())

    assert report.failed == []
    assert [item.recipient for item in report.sent] == ["uo0@example.org", "uo1@example.org"]
    assert stored == 2
    assert len(ledger.entries(MONITORING_DATE)) == 2


def test_dropped_connection_rerun_skips(tmp_path, ledger, attachments):
    maildir = tmp_path / "maildir"
    messages = [make_message(attachments, f"uo{number}@example.org") for number in range(2)]

    with SmtpSink(maildir, port=0, handler=DroppingHandler(maildir)) as server:
        send_messages(messages, MONITORING_DATE, smtp_settings(server), ledger)
        rerun = send_messages(messages, MONITORING_DATE, smtp_settings(server), ledger)
        stored = len(server.stored_files())

    assert rerun.sent == []
    assert len(rerun.skipped) == 2
    assert stored == 2
    assert [entry.send_count for entry in ledger.entries(MONITORING_DATE)] == [1, 1]


def test_unreachable_server_fails_all(tmp_path, ledger, attachments):
    settings = SmtpSettings(host="127.0.0.1", port=free_port(), from_email=FROM_EMAIL, timeout=5)
    messages = [make_message(attachments, f"uo{number}@example.org") for number in range(2)]

    report = send_messages(messages, MONITORING_DATE, settings, ledger)

    assert [item.recipient for item in report.failed] == ["uo0@example.org", "uo1@example.org"]
    assert all("could not connect" in item.reason for item in report.failed)
    assert ledger.entries() == []


def test_missing_attachment_fails_one(sink, ledger, attachments, tmp_path):
    broken = make_message([(tmp_path / "missing.docx", DOCX_NAME)], "uo.a@example.org")
    good = make_message(attachments, "uo.b@example.org")

    report = send_messages([broken, good], MONITORING_DATE, smtp_settings(sink), ledger)

    assert [item.recipient for item in report.failed] == ["uo.a@example.org"]
    assert [item.recipient for item in report.sent] == ["uo.b@example.org"]


def _accept_test_login(server, session, envelope, mechanism, auth_data):
    accepted = auth_data.login == b"monitor" and auth_data.password == b"s3cret-test"
    return AuthResult(success=accepted)


def test_login_password_not_logged(tmp_path, ledger, attachments, caplog):
    caplog.set_level(logging.DEBUG, logger="dupmon")
    maildir = tmp_path / "maildir"
    options = {"authenticator": _accept_test_login, "auth_require_tls": False}

    with SmtpSink(maildir, port=0, **options) as server:
        settings = smtp_settings(server, user="monitor", password="s3cret-test")
        report = send_messages([make_message(attachments)], MONITORING_DATE, settings, ledger)

    our_log = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("dupmon"))
    assert len(report.sent) == 1
    assert "s3cret-test" not in our_log
    assert TEXT_BODY not in our_log


def test_wrong_password_fails_once(tmp_path, ledger, attachments):
    client_ports = set()

    def reject_login(server, session, envelope, mechanism, auth_data):
        client_ports.add(session.peer)
        # handled=False makes aiosmtpd send the 535 reply itself.
        return AuthResult(success=False, handled=False)

    maildir = tmp_path / "maildir"
    messages = [make_message(attachments, f"uo{number}@example.org") for number in range(3)]
    options = {"authenticator": reject_login, "auth_require_tls": False}

    with SmtpSink(maildir, port=0, **options) as server:
        settings = smtp_settings(server, user="monitor", password="wrong")
        report = send_messages(messages, MONITORING_DATE, settings, ledger)

    assert len(report.failed) == 3
    assert all("535" in item.reason for item in report.failed)
    assert len(client_ports) == 1


def test_report_round_trips_json(sink, ledger, attachments):
    report = send_messages(
        [make_message(attachments)], MONITORING_DATE, smtp_settings(sink), ledger
    )

    restored = SendReport.from_dict(json.loads(json.dumps(report.to_dict())))

    assert restored == report


# --- ledger ---------------------------------------------------------------


def test_ledger_entries_by_date(ledger):
    ledger.record("2025-01-17", "spravka", "uo@example.org", "<a@example.org>", SUBJECT)
    ledger.record("2025-01-24", "spravka", "uo@example.org", "<b@example.org>", SUBJECT)

    assert [entry.message_id for entry in ledger.entries("2025-01-24")] == ["<b@example.org>"]
    assert len(ledger.entries()) == 2


def test_ledger_rejects_dotted_date(ledger):
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        ledger.was_sent("17.01.2025", "spravka", "uo@example.org")


def _record_many(path: Path, worker: int) -> None:
    ledger = MailLedger(path)
    for number in range(20):
        recipient = f"uo{worker}.{number}@example.org"
        message_id = f"<{worker}.{number}@example.org>"
        ledger.record(MONITORING_DATE, "spravka", recipient, message_id, SUBJECT)


def test_ledger_lock_excludes_second_sender(ledger):
    with ledger.exclusive():
        with pytest.raises(TimeoutError, match="locked by another sender"):
            with MailLedger(ledger.path).exclusive(timeout=0.3):
                pass


def test_ledger_lock_released_after_block(ledger):
    with ledger.exclusive():
        pass

    with MailLedger(ledger.path).exclusive(timeout=0.3):
        pass


def _send_five(path: Path, port: int, attachments) -> None:
    ledger = MailLedger(path)
    settings = SmtpSettings(host="127.0.0.1", port=port, from_email=FROM_EMAIL, timeout=5)
    messages = [make_message(attachments, f"uo{number}@example.org") for number in range(5)]
    send_messages(messages, MONITORING_DATE, settings, ledger)


def test_concurrent_runs_send_once(tmp_path, attachments):
    path = tmp_path / "mail" / "ledger.sqlite"
    MailLedger(path)
    maildir = tmp_path / "maildir"
    context = multiprocessing.get_context("fork")

    # Two runs of one date at once, both sending the same five messages.
    with SmtpSink(maildir, port=0, handler=SlowHandler(maildir)) as server:
        senders = [
            context.Process(target=_send_five, args=(path, server.port, attachments))
            for _ in range(2)
        ]
        for process in senders:
            process.start()
        for process in senders:
            process.join(timeout=60)
        envelopes = [entry["rcpt_tos"] for entry in server.index()]

    assert [process.exitcode for process in senders] == [0, 0]
    assert sorted(envelopes) == [[f"uo{number}@example.org"] for number in range(5)]


def test_ledger_shared_by_processes(tmp_path):
    path = tmp_path / "mail" / "ledger.sqlite"
    MailLedger(path)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_record_many, args=(path, worker)) for worker in range(3)]

    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=20)

    assert [process.exitcode for process in workers] == [0, 0, 0]
    assert len(MailLedger(path).entries()) == 60


# --- smtp_sink ------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "", "::", "192.0.2.10", "mail.example.org"])
def test_sink_rejects_public_host(tmp_path, host):
    with pytest.raises(ValueError, match="loopback"):
        SmtpSink(tmp_path / "maildir", host=host, port=0)


@pytest.mark.parametrize(
    ("host", "bound"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.0.0.2", "127.0.0.2"),
        ("::1", "::1"),
        ("localhost", "127.0.0.1"),
    ],
)
def test_sink_accepts_loopback(host, bound):
    assert loopback_host(host) == bound


def test_sink_port_zero_picks_port(sink):
    assert sink.port > 0


def test_sink_stores_raw_bytes(sink):
    raw = (
        b"From: monitoring@example.org\r\nTo: uo@example.org\r\nSubject: test\r\n"
        b"Message-ID: <raw.1@example.org>\r\n\r\n.line that starts with a dot\r\nend\r\n"
    )

    with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as client:
        client.sendmail(FROM_EMAIL, ["uo@example.org"], raw)

    assert [path.read_bytes() for path in sink.stored_files()] == [raw]
    assert sink.index()[0]["message_id"] == "<raw.1@example.org>"


def test_sink_file_names_sort_by_arrival(sink):
    with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as client:
        for number in range(3):
            body = f"Subject: {number}\r\nMessage-ID: <{number}@example.org>\r\n\r\nx\r\n"
            client.sendmail(FROM_EMAIL, ["uo@example.org"], body.encode())

    subjects = [parse(path.read_bytes())["Subject"] for path in sink.stored_files()]
    assert subjects == ["0", "1", "2"]
    assert all(re.fullmatch(r"\d{20}-\d{6}-[0-9a-f]{16}\.eml", p.name) for p in sink.stored_files())
    assert [entry["file"] for entry in sink.index()] == [p.name for p in sink.stored_files()]


def test_sink_main_rejects_public_host(tmp_path):
    with pytest.raises(SystemExit) as caught:
        sink_main(["--maildir", str(tmp_path / "maildir"), "--host", "0.0.0.0"])

    assert caught.value.code == 2


def test_sink_main_stops_on_sigterm(tmp_path):
    pid_file = tmp_path / "sink.pid"
    command = [sys.executable, "-m", "dupmon.smtp_sink", "--maildir", str(tmp_path / "maildir")]
    command += ["--port", "0", "--pid-file", str(pid_file)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 15
    while not pid_file.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)

    pid_written = pid_file.read_text().strip() if pid_file.exists() else None
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=15)

    assert pid_written == str(process.pid)
    assert process.returncode == 0
    assert not pid_file.exists()
    assert "listening on 127.0.0.1:" in stderr
    assert "stopped" in stderr


def test_subject_keeps_spaces_at_folds():
    subject = "Напоминание: устранить дубли учётных записей до 24.01.2025"
    message = OutgoingMessage(
        document="reminder:dolinsky",
        recipient="uo-dolinsk@example.org",
        subject=subject,
        text_body="Текст",
    )
    raw = build_email(message, "monitoring@example.org").as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == subject
