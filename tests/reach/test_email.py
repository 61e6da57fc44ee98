"""The SMTP channel against a real local aiosmtpd server (with AUTH, and a 4xx/5xx)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.header import decode_header, make_header
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from opsloop.reach.channels.base import Outbound
from opsloop.reach.channels.email import SmtpChannel


class Sink:
    def __init__(self) -> None:
        self.mails: list[tuple[Envelope, bytes]] = []

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.startswith("full@"):
            return "452 4.2.2 mailbox full"
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.mails.append((envelope, bytes(envelope.content or b"")))  # type: ignore[arg-type]
        return "250 OK"


def _auth(
    server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"bank", b"s3cret")
    return AuthResult(success=ok)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, int]]:
    sink, port = Sink(), _port()
    ctl = Controller(
        sink,
        hostname="127.0.0.1",
        port=port,
        authenticator=_auth,
        auth_require_tls=False,
    )
    ctl.start()
    yield sink, port
    ctl.stop()


def mail(key: str, to: str) -> Outbound:
    payload = {
        "to": to,
        "subject": "您的理财到期提醒",
        "text": "尊敬的客户，您的理财产品将于下周到期。",
        "unsubscribe_url": "https://bank.example/r/tok123",
    }
    return Outbound(key, "email", 5, "maturity", payload)


def test_sends_with_auth_and_headers(smtp: tuple[Sink, int]) -> None:
    sink, port = smtp
    ch = SmtpChannel(
        "email",
        host="127.0.0.1",
        port=port,
        sender="ops@bank.example",
        username="bank",
        password="s3cret",
    )
    for i in range(3):
        r = ch.send(mail(f"j:maturity:1:n1:5:{i}", "zhang@example.com"))
        assert r.outcome == "sent", r.error
    ch.close()
    assert len(sink.mails) == 3
    env, raw = sink.mails[0]
    parsed = message_from_bytes(raw)
    assert env.rcpt_tos == ["zhang@example.com"]
    assert parsed["X-Opsloop-Key"] == "j:maturity:1:n1:5:0"
    assert parsed["List-Unsubscribe"] == "<https://bank.example/r/tok123>"
    assert "理财" in str(parsed["Subject"]) or "=?utf-8?" in raw.decode().lower()
    subject = str(make_header(decode_header(parsed["Subject"])))
    assert subject == "您的理财到期提醒"
    assert parsed.get_payload(decode=True).decode() == "尊敬的客户，您的理财产品将于下周到期。"


def test_recipient_errors_are_retried_or_final(smtp: tuple[Sink, int]) -> None:
    _sink, port = smtp
    ch = SmtpChannel("email", host="127.0.0.1", port=port, sender="ops@bank.example")
    assert ch.send(mail("k2", "full@example.com")).outcome == "retry"
    assert ch.send(mail("k3", "nobody@example.com")).outcome == "dead"
    assert ch.send(mail("k4", "")).outcome == "dead"
    assert ch.send(mail("k5", "ok@example.com")).outcome == "sent"
    ch.close()


def test_server_down_is_transient() -> None:
    ch = SmtpChannel("email", host="127.0.0.1", port=_port(), sender="a@b.c", timeout_s=1)
    assert ch.send(mail("k", "x@example.com")).outcome == "retry"
    ch.close()
