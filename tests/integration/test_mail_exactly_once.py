"""Exactly one copy per recipient through a flaky SMTP server, at the level of run_mail.

One scenario runs the mail step of 17.01.2025 three times, as Airflow's
retries would. First the server is down. Then it rejects the third recipient
for the moment and drops the connection after accepting the first message.
Then it accepts everything. Every message of the date ends up stored exactly
once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections import Counter

from dupmon import pipeline
from dupmon.mail import MailDeliveryError, MailLedger, SmtpSettings
from dupmon.render import spravka_addresses
from dupmon.smtp_sink import MaildirHandler, SmtpSink
from tests.conftest import JANUARY, OCTOBER, received_messages


class FlakyHandler(MaildirHandler):
    """Stores mail like the sink; the test switches its faults between attempts.

    ``busy`` addresses get a temporary 450 at RCPT, as a full mailbox would.
    With ``drop_after`` set, the server closes the connection right after it
    has replied 250 to that many messages in all.
    """

    def __init__(self, maildir):
        super().__init__(maildir)
        self.busy: set[str] = set()
        self.drop_after: int | None = None
        self.accepted = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.busy:
            return "450 4.2.1 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        status = await super().handle_DATA(server, session, envelope)
        self.accepted += 1
        if self.accepted == self.drop_after:
            # Runs after the 250 reply has been written to the transport.
            asyncio.get_running_loop().call_soon(server.transport.close)
        return status


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def mail_attempt(settings, smtp: SmtpSettings) -> dict:
    """Run the mail step once, as one try of the Airflow task; return its report."""
    try:
        pipeline.run_mail(settings, JANUARY, smtp, include_spravka=True)
        failed = False
    except MailDeliveryError:
        failed = True
    report_file = settings.reports_dir / JANUARY.isoformat() / "mail_report.json"
    report = json.loads(report_file.read_text(encoding="utf-8"))
    report["task_failed"] = failed
    return report


def test_every_recipient_gets_one_copy(env_settings, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="dupmon.mail")
    settings = env_settings
    for day in (OCTOBER, JANUARY):
        pipeline.run_all(settings, day)
    ledger = MailLedger(settings.mail_dir / "ledger.sqlite")
    addresses = spravka_addresses(pipeline.load_region(settings).recipients)
    first_address, third = addresses[0], addresses[2]
    port = free_port()
    smtp = SmtpSettings(host="127.0.0.1", port=port, from_email="monitoring@example.org", timeout=5)
    maildir = tmp_path / "received"
    handler = FlakyHandler(maildir)

    # Attempt 1: nothing listens on the port.
    first = mail_attempt(settings, smtp)

    assert first["task_failed"]
    assert first["sent"] == []
    assert len(first["failed"]) > 3
    assert all("could not connect" in item["reason"] for item in first["failed"])
    assert ledger.entries() == []
    everything = {(item["document"], item["recipient"]) for item in first["failed"]}

    with SmtpSink(maildir, port=port, handler=handler) as sink:
        # Attempt 2: the third recipient is busy; the server drops the
        # connection after accepting the first message.
        handler.busy = {third}
        handler.drop_after = 1
        second = mail_attempt(settings, smtp)

        assert second["task_failed"]
        assert {item["recipient"] for item in second["failed"]} == {third}
        assert ledger.was_sent(JANUARY.isoformat(), "spravka", first_address)
        assert "closed the connection, opening a new one" in caplog.text
        assert len(second["sent"]) + len(second["failed"]) == len(everything)
        assert len(ledger.entries()) == len(second["sent"])

        # Attempt 3: the server takes everything; only the rest goes out.
        handler.busy = set()
        handler.drop_after = None
        third_attempt = mail_attempt(settings, smtp)

        assert not third_attempt["task_failed"]
        assert {item["recipient"] for item in third_attempt["sent"]} == {third}
        assert len(third_attempt["skipped"]) == len(second["sent"])
        envelopes = [tuple(entry["rcpt_tos"]) for entry in sink.index()]

    stored = Counter(
        (message["To"], message["Subject"]) for message in received_messages(maildir)
    )
    assert len(stored) == len(everything)
    assert set(stored.values()) == {1}
    assert all(len(envelope) == 1 for envelope in envelopes)
    assert {entry.send_count for entry in ledger.entries()} == {1}
    assert {(e.document, e.recipient) for e in ledger.entries()} == everything



def test_rerun_documents_not_changed(env_settings, tmp_path):
    """A full rerun of a date renders the same documents, so nothing reads as changed."""
    settings = env_settings
    port = free_port()
    smtp = SmtpSettings(host="127.0.0.1", port=port, from_email="monitoring@example.org", timeout=5)
    with SmtpSink(tmp_path / "received", port=port):
        pipeline.run_all(settings, OCTOBER)
        pipeline.run_all(settings, JANUARY, smtp=smtp)
        rerun = pipeline.run_all(settings, JANUARY, smtp=smtp)["mail"]

    assert rerun["sent"] == []
    assert rerun["skipped"]
    assert {item["reason"] for item in rerun["skipped"]} == {"already sent"}
