"""E-mail from templates (templates/email/<event>.subject.txt, .txt, .html), kept in the outbox and sent by a
Celery task after commit. Services flush and never commit."""
from __future__ import annotations

from flask import render_template
from jinja2 import TemplateNotFound

from app.core.db import enqueue_after_commit
from app.extensions import db
from app.notifications.models import MAIL_PENDING, MailMessage


def render_email(event: str, context: dict) -> tuple[str, str, str | None]:
    subject = render_template(f"email/{event}.subject.txt", **context).strip()
    text = render_template(f"email/{event}.txt", **context)
    try:
        html = render_template(f"email/{event}.html", **context)
    except TemplateNotFound:
        html = None
    return " ".join(subject.split()), text, html


def send_email(event: str, to_address: str, context: dict | None = None, *, user_id: int | None = None) -> MailMessage:
    """Render the event's templates, keep the message in the outbox, deliver it after commit."""
    from app.notifications.tasks import deliver_mail

    subject, text, html = render_email(event, context or {})
    message = MailMessage(user_id=user_id, event=event, to_address=to_address, subject=subject[:300],
                          body_text=text, body_html=html, status=MAIL_PENDING)
    db.session.add(message)
    db.session.flush()
    enqueue_after_commit(deliver_mail, message.id)
    return message
