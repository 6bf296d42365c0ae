"""Support tickets: investors open them and reply; support replies (the investor is notified), adds internal notes,
assigns, sets the priority, closes and reopens. Every staff action is audited. An investor reaches only their own
tickets; internal notes never leave the console.

States: open (waiting for support) -> answered (support replied) -> open again when the investor writes; closed
from either by support. An investor's reply reopens a ticket closed less than REOPEN_DAYS ago; after that the
investor opens a new one."""
from __future__ import annotations

import re
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, select
from sqlalchemy.orm import selectinload

from app.auth.models import Role, User, user_roles
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, NotFound, ValidationError
from app.core.security import ROLES, has_permission, role_permissions
from app.core.urls import external_url
from app.extensions import db
from app.notifications.services import notify
from app.support import attachments
from app.support.models import (
    ANSWERED,
    BODY_MAX,
    CATEGORIES,
    CLOSED,
    OPEN,
    PRIORITIES,
    SUBJECT_MAX,
    Ticket,
    TicketAttachment,
    TicketMessage,
)

REOPEN_DAYS = 30
REASON_MAX = 500
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# checks ---------------------------------------------------------------------------------------------------------------
def _subject(value: str | None) -> str:
    text = " ".join((value or "").split())
    if not text:
        raise ValidationError("the subject is required", {"subject": [_("Write a short subject.")]})
    if len(text) > SUBJECT_MAX:
        raise ValidationError("the subject is too long", {"subject": [_("Use at most %(n)s characters.", n=SUBJECT_MAX)]})
    return text


def _body(value: str | None, field: str = "body") -> str:
    text = _CONTROL.sub("", (value or "").replace("\r\n", "\n")).strip()
    if not text:
        raise ValidationError("the message is empty", {field: [_("Write your message.")]})
    if len(text) > BODY_MAX:
        raise ValidationError("the message is too long", {field: [_("Use at most %(n)s characters.", n=BODY_MAX)]})
    return text


def _reason(value: str | None) -> str:
    text = " ".join((value or "").split())
    if not text:
        raise ValidationError("a reason is required", {"reason": ["Say why."]})
    return text[:REASON_MAX]


def may_act(actor: User, ticket: Ticket) -> bool:
    """Whether `actor` may answer and act on the ticket (tickets.reply, and not about their own account)."""
    return has_permission(actor, "tickets.reply") and ticket.user_id != actor.id


def _staff(actor: User, ticket: Ticket) -> None:
    if not has_permission(actor, "tickets.reply"):
        raise Forbidden("answering tickets needs tickets.reply")
    if ticket.user_id == actor.id:
        raise Forbidden("nobody acts on a ticket about their own account")


# reading ----------------------------------------------------------------------------------------------------------------
def ticket_of(user: User, ticket_id: int) -> Ticket:
    """One of the investor's own tickets; NotFound for anyone else's (the same answer as for none)."""
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None or ticket.user_id != user.id:
        raise NotFound("no such ticket")
    return ticket


def tickets_of(user: User, *, limit: int = 100) -> list[Ticket]:
    """The investor's tickets, the most recently active first."""
    return list(db.session.scalars(select(Ticket).where(Ticket.user_id == user.id)
                                   .order_by(Ticket.last_message_at.desc(), Ticket.id.desc()).limit(limit)))


def conversation(ticket: Ticket, *, staff: bool = False) -> list[TicketMessage]:
    """The ticket's messages, oldest first, with their attachments (and authors for staff); internal notes only for
    staff."""
    query = (select(TicketMessage).where(TicketMessage.ticket_id == ticket.id)
             .options(selectinload(TicketMessage.attachments)).order_by(TicketMessage.id))
    if staff:
        query = query.options(selectinload(TicketMessage.author))
    else:
        query = query.where(TicketMessage.internal.is_(False))
    return list(db.session.scalars(query))


def attachment_for_owner(user: User, attachment_id: int) -> TicketAttachment:
    """A file of the investor's own ticket, never one attached to an internal note."""
    found = db.session.execute(
        select(TicketAttachment).join(TicketMessage).join(Ticket)
        .where(TicketAttachment.id == attachment_id, Ticket.user_id == user.id, TicketMessage.internal.is_(False))
    ).scalar_one_or_none()
    if found is None:
        raise NotFound("no such file")
    return found


def attachment_for_staff(actor: User, attachment_id: int) -> TicketAttachment:
    """Any ticket's file for a tickets.view holder; each opening is audited."""
    if not has_permission(actor, "tickets.view"):
        raise Forbidden("reading tickets needs tickets.view")
    found = db.session.get(TicketAttachment, attachment_id)
    if found is None:
        raise NotFound("no such file")
    audit.record("tickets.attachment_viewed", actor=actor, target=found.message.ticket,
                 after={"attachment_id": found.id, "name": found.name})
    return found


def sla_hours() -> int:
    return int(current_app.config.get("SUPPORT_SLA_HOURS") or 24)


def breached_clause():
    """SQL: the ticket has waited for support longer than SUPPORT_SLA_HOURS."""
    return and_(Ticket.waiting_since.is_not(None), Ticket.waiting_since < utcnow() - timedelta(hours=sla_hours()))


def support_staff() -> list[User]:
    """Active staff who may be assigned tickets (a role that holds tickets.reply), by e-mail."""
    roles = [role for role in ROLES if "tickets.reply" in role_permissions(role)]
    return list(db.session.scalars(
        select(User).join(user_roles, user_roles.c.user_id == User.id).join(Role, Role.id == user_roles.c.role_id)
        .where(Role.name.in_(roles), User.status == "active").distinct().order_by(User.email).limit(200)))


# the investor's side ---------------------------------------------------------------------------------------------------
def open_ticket(user: User, *, subject: str | None, category: str | None, body: str | None,
                files: list[attachments.Received] | None = None) -> Ticket:
    """Check everything (fields and files) first; then the ticket, its first message and its files."""
    if user.is_staff:
        raise Forbidden("staff accounts have no support tickets")
    errors: dict[str, list[str]] = {}
    clean: dict[str, str] = {}
    for field, check in (("subject", _subject), ("body", _body)):
        try:
            clean[field] = check(subject if field == "subject" else body)
        except ValidationError as exc:
            errors.update(exc.errors or {})
    if category not in CATEGORIES:
        errors["category"] = [_("Choose one of the categories.")]
    checked = []
    try:
        checked = attachments.check(files or [])
    except ValidationError as exc:
        errors.update(exc.errors or {})
    if errors:
        raise ValidationError("the ticket is not complete", errors)
    now = utcnow()
    ticket = Ticket(user_id=user.id, subject=clean["subject"], category=category, status=OPEN, priority="normal",
                    created_at=now, last_message_at=now, waiting_since=now, message_count=1)
    db.session.add(ticket)
    db.session.flush()
    message = TicketMessage(ticket_id=ticket.id, author_id=user.id, body=clean["body"], by_staff=False,
                            created_at=now)
    db.session.add(message)
    db.session.flush()
    audit.record("tickets.opened", actor=user, target=ticket,
                 after={"category": category, "attachments": len(checked)})
    notify(None, "ticket_opened_staff", link=external_url("tickets.details_view", id=ticket.id),
           ticket_id=ticket.id, category=category, email=user.email)
    attachments.store(message, checked, owner_id=user.id)  # last: nothing after it can fail and strand a file
    return ticket


def reply_as_investor(user: User, ticket: Ticket, *, body: str | None,
                      files: list[attachments.Received] | None = None) -> TicketMessage:
    if ticket.user_id != user.id:
        raise NotFound("no such ticket")
    now = utcnow()
    if ticket.status == CLOSED and ticket.closed_at is not None and ticket.closed_at < now - timedelta(
            days=REOPEN_DAYS):
        raise Conflict(f"this ticket was closed more than {REOPEN_DAYS} days ago: open a new one",
                       {"body": [_("This ticket was closed more than %(days)s days ago: please open a new ticket.", days=REOPEN_DAYS)]})
    text = _body(body)
    checked = attachments.check(files or [])
    message = TicketMessage(ticket_id=ticket.id, author_id=user.id, body=text, by_staff=False, created_at=now)
    db.session.add(message)
    before = ticket.status
    if ticket.status != OPEN:
        ticket.status, ticket.waiting_since, ticket.closed_at = OPEN, now, None
    ticket.last_message_at = now
    ticket.message_count += 1
    db.session.flush()
    if before == CLOSED:
        audit.record("tickets.reopened", actor=user, target=ticket, before={"status": before},
                     after={"status": OPEN}, reason="the investor replied")
    attachments.store(message, checked, owner_id=user.id)
    return message


# support's side -------------------------------------------------------------------------------------------------------
def reply_as_staff(actor: User, ticket: Ticket, *, body: str | None) -> TicketMessage:
    """Answer the investor (they are notified); the ticket waits for them now."""
    _staff(actor, ticket)
    if ticket.status == CLOSED:
        raise Conflict("this ticket is closed: reopen it first")
    text = _body(body)
    now = utcnow()
    message = TicketMessage(ticket_id=ticket.id, author_id=actor.id, body=text, by_staff=True, created_at=now)
    db.session.add(message)
    before = ticket.status
    ticket.status, ticket.waiting_since, ticket.last_message_at = ANSWERED, None, now
    ticket.message_count += 1
    if ticket.assignee_id is None:
        ticket.assignee_id = actor.id  # whoever answers first owns it until reassigned
    db.session.flush()
    audit.record("tickets.replied", actor=actor, target=ticket, before={"status": before},
                 after={"status": ANSWERED, "message_id": message.id})
    notify(ticket.user, "ticket_replied", link=external_url("portal.ticket_page", ticket_id=ticket.id),
           ticket_id=ticket.id, subject=ticket.subject)
    return message


def add_note(actor: User, ticket: Ticket, *, body: str | None) -> TicketMessage:
    """An internal note: staff only, never shown to the investor; the ticket's state does not change."""
    _staff(actor, ticket)
    text = _body(body)
    note = TicketMessage(ticket_id=ticket.id, author_id=actor.id, body=text, internal=True, by_staff=True)
    db.session.add(note)
    db.session.flush()
    audit.record("tickets.note", actor=actor, target=ticket, after={"message_id": note.id})
    return note


def assign(actor: User, ticket: Ticket, assignee_id: int | None) -> Ticket:
    """Give the ticket to a support member (None: nobody)."""
    _staff(actor, ticket)
    assignee = db.session.get(User, assignee_id) if assignee_id else None
    if assignee_id and (assignee is None or not assignee.is_staff or not has_permission(assignee, "tickets.reply")):
        raise ValidationError("this person cannot answer tickets", {"assignee": ["Choose a support member."]})
    if assignee is not None and assignee.id == ticket.user_id:
        raise Forbidden("nobody handles a ticket about their own account")
    before = ticket.assignee_id
    ticket.assignee_id = assignee.id if assignee is not None else None
    db.session.flush()
    audit.record("tickets.assigned", actor=actor, target=ticket, before={"assignee_id": before},
                 after={"assignee_id": ticket.assignee_id})
    return ticket


def set_priority(actor: User, ticket: Ticket, priority: str | None) -> Ticket:
    _staff(actor, ticket)
    if priority not in PRIORITIES:
        raise ValidationError("unknown priority", {"priority": [f"Choose one of {', '.join(PRIORITIES)}."]})
    before = ticket.priority
    ticket.priority = priority
    db.session.flush()
    audit.record("tickets.priority", actor=actor, target=ticket, before={"priority": before},
                 after={"priority": priority})
    return ticket


def close(actor: User, ticket: Ticket, *, reason: str | None) -> Ticket:
    _staff(actor, ticket)
    why = _reason(reason)
    if ticket.status == CLOSED:
        raise Conflict("this ticket is already closed")
    before = ticket.status
    ticket.status, ticket.closed_at, ticket.waiting_since = CLOSED, utcnow(), None
    db.session.flush()
    audit.record("tickets.closed", actor=actor, target=ticket, before={"status": before},
                 after={"status": CLOSED}, reason=why)
    return ticket


def reopen(actor: User, ticket: Ticket, *, reason: str | None) -> Ticket:
    """Open again: it waits for support from now."""
    _staff(actor, ticket)
    why = _reason(reason)
    if ticket.status != CLOSED:
        raise Conflict("this ticket is not closed")
    ticket.status, ticket.closed_at, ticket.waiting_since = OPEN, None, utcnow()
    db.session.flush()
    audit.record("tickets.reopened", actor=actor, target=ticket, before={"status": CLOSED},
                 after={"status": OPEN}, reason=why)
    return ticket
