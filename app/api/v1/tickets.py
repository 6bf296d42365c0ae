"""GET /tickets, POST /tickets (multipart: subject, category, message, attachments), GET /tickets/{id},
POST /tickets/{id}/messages (multipart: message, attachments) and a file of one's own ticket: the caller's own
tickets only (404 for anyone else's); support's internal notes are never part of an answer."""
from __future__ import annotations

from flask import request, url_for
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app.api.auth import current_api_user
from app.api.envelope import envelope, ok
from app.api.examples import success
from app.api.examples import support as ex
from app.core.db import unit_of_work
from app.core.errors import NotFound, ValidationError
from app.extensions import limiter
from app.support import attachments
from app.support import tickets as support
from app.support.models import CATEGORIES, STATUSES
from app.support.views import serve_attachment

URL = "/tickets"
blp = Blueprint("api_tickets", __name__, description="Support tickets: questions to support and their answers")
FILE_TYPES = ("image/jpeg", "image/png", "image/webp", "application/pdf")


class AttachmentSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    content_type = fields.String(metadata={"enum": list(FILE_TYPES)})
    size = fields.Integer(metadata={"description": "bytes"})
    url = fields.Function(lambda a: url_for("api_tickets.attachment", ticket_id=a.message.ticket_id,
                                            attachment_id=a.id, _external=True),
                          metadata={"type": "string", "description": "the file, for the ticket's owner only"})


class MessageSchema(Schema):
    id = fields.Integer()
    from_ = fields.Function(lambda m: "support" if m.by_staff else "investor", data_key="from",
                            metadata={"type": "string", "enum": ["investor", "support"]})
    body = fields.String()
    created_at = fields.DateTime()
    attachments = fields.List(fields.Nested(AttachmentSchema))


class TicketSummarySchema(Schema):
    id = fields.Integer()
    subject = fields.String()
    category = fields.String(metadata={"enum": list(CATEGORIES)})
    status = fields.String(metadata={"enum": list(STATUSES), "description": "open: waiting for support; "
                                                                            "answered: support replied"})
    created_at = fields.DateTime()
    last_message_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)
    message_count = fields.Integer(metadata={"description": "messages in the conversation, support's notes "
                                                            "excluded"})


class TicketSchema(TicketSummarySchema):
    messages = fields.List(fields.Nested(MessageSchema))


def _multipart(properties: dict, required: list[str], example: dict) -> dict:
    files = {"type": "array", "items": {"type": "string", "format": "binary"}, "maxItems": attachments.MAX_FILES,
             "description": f"up to {attachments.MAX_FILES} files: JPEG, PNG, WebP or PDF, 10 MB each"}
    return {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": required, "properties": {**properties, "attachments": files}},
        "example": example}}}


SUMMARY_FIELDS = ("id", "subject", "category", "status", "created_at", "last_message_at", "closed_at",
                  "message_count")


def _summary(ticket) -> dict:
    """The ticket's own fields; message_count counts what the investor sees (never support's notes)."""
    return {name: getattr(ticket, name) for name in SUMMARY_FIELDS}


def _full(ticket) -> dict:
    messages = support.conversation(ticket)
    return {**_summary(ticket), "message_count": len(messages), "messages": messages}


def _received() -> list[attachments.Received]:
    return attachments.receive(request.files.getlist("attachments"))


def _renamed(exc: ValidationError) -> ValidationError:
    """The service names the text `body`; the API calls it `message`."""
    errors = exc.errors or {}
    if "body" in errors:
        errors = {("message" if key == "body" else key): value for key, value in errors.items()}
    return ValidationError(exc.message, errors)


@blp.get("")
@blp.response(200, envelope(TicketSummarySchema, many=True), example=ex.TICKETS)
@blp.doc(security=[{"bearerAuth": []}])
def index():
    """The caller's tickets, the most recently active first (at most 100)."""
    return ok([_summary(t) for t in support.tickets_of(current_api_user())])


@blp.post("")
@limiter.limit("20/hour", override_defaults=False)
@blp.response(201, envelope(TicketSchema), example=success(ex.OPENED, message="Ticket opened."))
@blp.alt_response(403, description="staff accounts have no tickets")
@blp.alt_response(422, description="a field or a file is not acceptable: `errors` names each (files under "
                                   "`attachments`); nothing is stored")
@blp.doc(security=[{"bearerAuth": []}], requestBody=_multipart({
    "subject": {"type": "string", "maxLength": 150},
    "category": {"type": "string", "enum": list(CATEGORIES)},
    "message": {"type": "string", "maxLength": 5000}}, ["subject", "category", "message"], ex.OPEN_REQUEST))
def create():
    """Open a ticket. Every field is checked and every file inspected (as identity documents are) before anything
    is stored: a ticket is never kept without its files."""
    user = current_api_user()
    try:
        files = _received()
        with unit_of_work():
            ticket = support.open_ticket(user, subject=request.form.get("subject"),
                                         category=request.form.get("category"), body=request.form.get("message"),
                                         files=files)
    except ValidationError as exc:
        raise _renamed(exc) from None
    return ok(_full(ticket), message="Ticket opened."), 201


@blp.get("/<int:ticket_id>")
@blp.response(200, envelope(TicketSchema), example=success(ex.TICKET))
@blp.doc(security=[{"bearerAuth": []}])
def get(ticket_id: int):
    """One of the caller's tickets with its conversation (404 for anyone else's)."""
    return ok(_full(support.ticket_of(current_api_user(), ticket_id)))


@blp.post("/<int:ticket_id>/messages")
@limiter.limit("60/hour", override_defaults=False)
@blp.response(201, envelope(TicketSchema), example=success(ex.REPLIED, message="Reply sent."))
@blp.alt_response(409, description="the ticket was closed more than 30 days ago: open a new one")
@blp.alt_response(422, description="the message or a file is not acceptable; nothing is stored")
@blp.doc(security=[{"bearerAuth": []}], requestBody=_multipart({
    "message": {"type": "string", "maxLength": 5000}}, ["message"], ex.REPLY_REQUEST))
def reply(ticket_id: int):
    """Reply on one of the caller's tickets (404 for anyone else's). A reply opens an answered ticket again, and a
    closed one if it was closed less than 30 days ago."""
    user = current_api_user()
    ticket = support.ticket_of(user, ticket_id)
    try:
        files = _received()
        with unit_of_work():
            support.reply_as_investor(user, ticket, body=request.form.get("message"), files=files)
    except ValidationError as exc:
        raise _renamed(exc) from None
    return ok(_full(support.ticket_of(user, ticket_id)), message="Reply sent."), 201


@blp.get("/<int:ticket_id>/attachments/<int:attachment_id>")
@blp.doc(security=[{"bearerAuth": []}], responses={
    "200": {"description": "the file itself (local storage)",
            "content": {kind: {"schema": {"type": "string", "format": "binary"}} for kind in FILE_TYPES}},
    "302": {"description": "a redirect to a link valid for a minute (S3 storage)",
            "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}}}})
def attachment(ticket_id: int, attachment_id: int):
    """A file of one of the caller's own tickets (404 for anyone else's)."""
    found = support.attachment_for_owner(current_api_user(), attachment_id)
    if found.message.ticket_id != ticket_id:
        raise NotFound("no such file")
    return serve_attachment(found)
