"""GET /statements, POST /statements, GET /statements/{id}, and the files of a ready one
(GET /statements/{id}/pdf, GET /statements/{id}/csv): the caller's own statements only."""
from __future__ import annotations

from flask import current_app, url_for
from flask_babel import get_locale
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.account import statements
from app.account.statement_files import download
from app.account.statement_models import KIND_RANGE, KINDS, STATUSES
from app.api.auth import current_api_user
from app.api.envelope import envelope, ok
from app.core.db import unit_of_work
from app.extensions import limiter

URL = "/statements"
blp = Blueprint("api_statements", __name__, description="Statements: a year or any range of days, as PDF and CSV")


def _link(s, what: str) -> str | None:
    if not s.is_ready:
        return None
    return url_for("api_statements.file", statement_id=s.id, what=what, _external=True)


class ProgressSchema(Schema):
    done = fields.Integer(attribute="progress_done")
    total = fields.Integer(attribute="progress_total")
    percent = fields.Integer()


class StatementSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"enum": list(KINDS)})
    from_ = fields.Date(attribute="first_day", data_key="from")
    to = fields.Date(attribute="last_day")
    status = fields.String(metadata={"enum": list(STATUSES)})
    progress = fields.Function(lambda s: ProgressSchema().dump(s), metadata={"type": "object"})
    locale = fields.String()
    error = fields.String(allow_none=True, metadata={"description": "why it failed, in the caller's language"})
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    pdf_url = fields.Function(lambda s: _link(s, "pdf"), metadata={
        "type": "string", "nullable": True, "description": "when ready: the PDF, for this token's owner only"})
    csv_url = fields.Function(lambda s: _link(s, "csv"), metadata={
        "type": "string", "nullable": True, "description": "when ready: the CSV, for this token's owner only"})


class StatementRequestSchema(Schema):
    from_ = fields.Date(required=True, data_key="from", metadata={"description": "first day (included)"})
    to = fields.Date(required=True, metadata={"description": "last day (included), today at the latest"})


class StatementListArgsSchema(Schema):
    year = fields.Integer(load_default=None, validate=validate.Range(min=2000, max=2999),
                          metadata={"description": "only the statements that cover part of this year"})


QUEUED_EXAMPLE = {"id": 42, "kind": "range", "from": "2026-01-01", "to": "2026-06-30", "status": "queued",
                  "progress": {"done": 0, "total": 5, "percent": 0}, "locale": "en", "error": None,
                  "created_at": "2026-07-01T09:30:00+00:00", "finished_at": None, "pdf_url": None, "csv_url": None}
READY_EXAMPLE = {**QUEUED_EXAMPLE, "status": "ready", "progress": {"done": 5, "total": 5, "percent": 100},
                 "finished_at": "2026-07-01T09:30:04+00:00",
                 "pdf_url": "https://freehold.example/api/v1/statements/42/pdf",
                 "csv_url": "https://freehold.example/api/v1/statements/42/csv"}


@blp.get("")
@blp.arguments(StatementListArgsSchema, location="query")
@blp.response(200, envelope(StatementSchema, many=True),
              example={"status": "success", "message": None, "data": [READY_EXAMPLE], "meta": None})
@blp.doc(security=[{"bearerAuth": []}])
def index(args):
    """The caller's statements, newest first (at most 50); `year` keeps those covering part of that year."""
    return ok(statements.statements_of(current_api_user().id, year=args["year"]))


@blp.post("")
@limiter.limit("30/hour", override_defaults=False)
@blp.arguments(StatementRequestSchema, example={"from": "2026-01-01", "to": "2026-06-30"})
@blp.response(202, envelope(StatementSchema),
              example={"status": "success", "message": None, "data": QUEUED_EXAMPLE, "meta": None})
@blp.doc(security=[{"bearerAuth": []}])
def create(body):
    """Ask for a statement of the days `from` to `to` (both included; at most five years, not in the future): it is
    prepared by a task; follow it with GET /statements/{id}. Asking again for the same days while it is being
    prepared answers the same statement. 422 for dates out of order, in the future or too far apart."""
    user = current_api_user()
    chosen = user.locale if user.locale in current_app.config.get("LANGUAGES", ()) else None
    with unit_of_work():
        statement, _created = statements.request_statement(user, body["from_"], body["to"],
                                                           locale=chosen or str(get_locale() or "en"),
                                                           kind=KIND_RANGE)
    return ok(statement), 202


@blp.get("/<int:statement_id>")
@blp.response(200, envelope(StatementSchema),
              example={"status": "success", "message": None, "data": READY_EXAMPLE, "meta": None})
@blp.doc(security=[{"bearerAuth": []}])
def get(statement_id: int):
    """One of the caller's statements: its status, progress and, once ready, the links to its files (404 for
    anyone else's)."""
    return ok(statements.for_owner(statement_id, current_api_user().id))


FILE_RESPONSES = {"200": {"description": "the file, for the statement's owner only", "content": {
    "application/pdf": {"schema": {"type": "string", "format": "binary"}, "example": "%PDF-1.3 ..."},
    "text/csv": {"schema": {"type": "string", "format": "binary"},
                 "example": "Date (UTC),Entry,Description,Account,Amount,Balance after,Currency\r\n"}}}}


@blp.get("/<int:statement_id>/<any(pdf, csv):what>")
@limiter.limit("60/hour", override_defaults=False)
@blp.doc(security=[{"bearerAuth": []}], responses=FILE_RESPONSES)
def file(statement_id: int, what: str):
    """A ready statement's PDF or CSV (404 for anyone else's, or before it is ready)."""
    return download(*statements.file_of(statements.for_owner(statement_id, current_api_user().id), what))
