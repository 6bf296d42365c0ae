"""E-mail over SMTP (MAIL_* settings): STARTTLS (MAIL_USE_TLS) or implicit TLS (MAIL_USE_SSL, port 465), the server's
certificate always verified against the system's trusted authorities (or MAIL_CA_FILE). Every mail carries `Date`,
`Message-ID` and `X-Freehold-Event` (the catalogue event it belongs to).

With no MAIL_SERVER the development configuration writes each mail, links included, to the log, so a developer can
verify an address or reset a password; any other configuration logs only that a mail was not sent, never its text
(production requires SMTP). The console's outbox keeps every mail with its secret links redacted."""
from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import urlsplit

from flask import current_app

from app.notifications.channels.base import Channel, ChannelError, OutgoingMessage

log = logging.getLogger(__name__)


def tls_context() -> ssl.SSLContext:
    """Certificate and host name verified; MAIL_CA_FILE adds a private authority (tests, internal relays)."""
    return ssl.create_default_context(cafile=current_app.config.get("MAIL_CA_FILE") or None)


def build(message: OutgoingMessage) -> EmailMessage:
    cfg = current_app.config
    email = EmailMessage()
    email["From"] = cfg["MAIL_DEFAULT_SENDER"]
    email["To"] = message.to
    email["Subject"] = message.subject or ""
    email["Date"] = formatdate(usegmt=True)
    email["Message-ID"] = make_msgid(domain=urlsplit(str(cfg.get("BASE_URL") or "")).hostname or "freehold")
    if message.data.get("event"):
        email["X-Freehold-Event"] = str(message.data["event"])
    email.set_content(message.body)
    if message.html:
        email.add_alternative(message.html, subtype="html")
    return email


class SmtpEmail(Channel):
    name = "email"

    def enabled(self) -> bool:
        return True  # without SMTP it logs: the message is never lost

    @staticmethod
    def configured() -> bool:
        return bool(current_app.config.get("MAIL_SERVER"))

    def send(self, message: OutgoingMessage) -> str | None:
        cfg = current_app.config
        if not self.configured():
            if cfg.get("CONFIG_NAME") == "development":
                log.info("e-mail to %s (no SMTP server configured)\nSubject: %s\n\n%s", message.to, message.subject,
                         message.body)
            else:
                log.warning("e-mail to %s not sent: no SMTP server configured (MAIL_SERVER)", message.to)
            return f"log-{uuid.uuid4().hex[:12]}"
        email = build(message)
        timeout = cfg.get("MAIL_TIMEOUT_SECONDS", 20)
        try:
            smtp: smtplib.SMTP
            if cfg.get("MAIL_USE_SSL"):
                smtp = smtplib.SMTP_SSL(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=timeout, context=tls_context())
            else:
                smtp = smtplib.SMTP(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=timeout)
            with smtp:
                if cfg.get("MAIL_USE_TLS") and not cfg.get("MAIL_USE_SSL"):
                    smtp.starttls(context=tls_context())
                if cfg.get("MAIL_USERNAME"):
                    smtp.login(cfg["MAIL_USERNAME"], cfg.get("MAIL_PASSWORD") or "")
                refused = smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            raise ChannelError(f"recipient refused: {exc.recipients}", retryable=False) from None
        except smtplib.SMTPResponseException as exc:
            # 5xx is permanent, 4xx temporary (RFC 5321)
            raise ChannelError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", retryable=exc.smtp_code < 500) from None
        except ssl.SSLCertVerificationError as exc:
            raise ChannelError(f"SMTP: the server's certificate is not trusted: {exc.verify_message}",
                               retryable=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise ChannelError(f"SMTP: {exc}", retryable=True) from None
        if refused:
            raise ChannelError(f"recipient refused: {refused}", retryable=False)
        return email["Message-ID"]
