"""E-mail over SMTP (MAIL_* settings). With no MAIL_SERVER the message is written to the log and stays in the
dev outbox (the deliveries table, shown in the console)."""
from __future__ import annotations

import logging
import smtplib
import uuid
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app

from app.notifications.channels.base import Channel, ChannelError, OutgoingMessage

log = logging.getLogger(__name__)


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
            log.info("e-mail to %s (no SMTP server configured)\nSubject: %s\n\n%s", message.to, message.subject,
                     message.body)
            return f"log-{uuid.uuid4().hex[:12]}"
        email = EmailMessage()
        email["From"] = cfg["MAIL_DEFAULT_SENDER"]
        email["To"] = message.to
        email["Subject"] = message.subject or ""
        email["Message-ID"] = make_msgid(domain="freehold")
        email.set_content(message.body)
        if message.html:
            email.add_alternative(message.html, subtype="html")
        try:
            with smtplib.SMTP(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=cfg.get("MAIL_TIMEOUT_SECONDS", 20)) as smtp:
                if cfg.get("MAIL_USE_TLS"):
                    smtp.starttls()
                if cfg.get("MAIL_USERNAME"):
                    smtp.login(cfg["MAIL_USERNAME"], cfg.get("MAIL_PASSWORD") or "")
                refused = smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            raise ChannelError(f"recipient refused: {exc.recipients}", retryable=False) from None
        except smtplib.SMTPResponseException as exc:
            # 5xx is permanent, 4xx temporary (RFC 5321)
            raise ChannelError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", retryable=exc.smtp_code < 500) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise ChannelError(f"SMTP: {exc}", retryable=True) from None
        if refused:
            raise ChannelError(f"recipient refused: {refused}", retryable=False)
        return email["Message-ID"]
