"""Deliver one outbox message: by SMTP when MAIL_SERVER is set, else to the log. Idempotent: a message leaves
`pending` once, so a redelivered task sends nothing twice."""
from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from celery import shared_task
from flask import current_app
from sqlalchemy import update

from app.core.db import utcnow
from app.extensions import db
from app.notifications.models import MAIL_FAILED, MAIL_LOGGED, MAIL_PENDING, MAIL_SENDING, MAIL_SENT, MailMessage

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


@shared_task(name="notifications.deliver_mail", bind=True, max_retries=MAX_ATTEMPTS, default_retry_delay=60)
def deliver_mail(self, message_id: int) -> str:
    message = db.session.get(MailMessage, message_id)
    if message is None or message.status != MAIL_PENDING:
        return "skipped"
    cfg = current_app.config
    if not cfg.get("MAIL_SERVER"):
        log.info("mail to %s (no SMTP configured): %s\n%s", message.to_address, message.subject, message.body_text)
        _finish(message_id, MAIL_LOGGED)
        return MAIL_LOGGED
    email = EmailMessage()
    email["From"] = cfg["MAIL_DEFAULT_SENDER"]
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email.set_content(message.body_text)
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html")
    # claim the message first: a second worker holding the same task finds it no longer pending
    claimed = db.session.execute(
        update(MailMessage).where(MailMessage.id == message_id, MailMessage.status == MAIL_PENDING)
        .values(status=MAIL_SENDING, attempts=MailMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if not claimed:
        return "skipped"
    try:
        with smtplib.SMTP(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=20) as smtp:
            if cfg.get("MAIL_USE_TLS"):
                smtp.starttls()
            if cfg.get("MAIL_USERNAME"):
                smtp.login(cfg["MAIL_USERNAME"], cfg.get("MAIL_PASSWORD") or "")
            smtp.send_message(email)
    except (smtplib.SMTPException, OSError) as exc:
        final = self.request.retries >= MAX_ATTEMPTS or current_app.config.get("CELERY_TASK_ALWAYS_EAGER")
        db.session.execute(update(MailMessage).where(MailMessage.id == message_id)
                           .values(status=MAIL_FAILED if final else MAIL_PENDING, last_error=str(exc)[:500])
                           .execution_options(synchronize_session=False))
        db.session.commit()
        if final:
            return MAIL_FAILED
        raise self.retry(exc=exc)
    _finish(message_id, MAIL_SENT, claimed_as=MAIL_SENDING)
    return MAIL_SENT


def _finish(message_id: int, status: str, *, claimed_as: str = MAIL_PENDING) -> None:
    db.session.execute(update(MailMessage).where(MailMessage.id == message_id, MailMessage.status == claimed_as)
                       .values(status=status, sent_at=utcnow()).execution_options(synchronize_session=False))
    db.session.commit()
