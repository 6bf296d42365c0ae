"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives and can refuse on purpose; with an SSL
context it offers STARTTLS (or, with implicit_tls, speaks TLS from the first byte, as on port 465)."""
from __future__ import annotations

import socket
import ssl
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Recorder:
    def __init__(self):
        self.messages = []
        self.refuse_next: list[str] = []  # SMTP replies to give instead of accepting, one per message

    async def handle_DATA(self, server, session, envelope):
        if self.refuse_next:
            return self.refuse_next.pop(0)
        self.messages.append({
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "message": message_from_bytes(envelope.content, policy=policy.default),
        })
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self, *, tls: ssl.SSLContext | None = None, implicit_tls: bool = False):
        self.recorder = Recorder()
        self.port = free_port()
        if tls is None:
            self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)
        elif implicit_tls:
            self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port, ssl_context=tls)
        else:
            self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port, tls_context=tls,
                                         require_starttls=True)

    def clear(self) -> None:
        self.recorder.messages.clear()
        self.recorder.refuse_next.clear()

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    @property
    def messages(self):
        return self.recorder.messages
