"""POST /me/export, GET /me/exports/{id} (and its download), DELETE /me: the caller's data and leaving."""
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app.account import services as account
from app.account.downloads import serve_export
from app.account.models import DataExport
from app.api.auth import current_api_user
from app.api.envelope import envelope, ok
from app.core.db import unit_of_work, utcnow
from app.core.urls import external_url
from app.extensions import limiter

URL = "/me"
blp = Blueprint("api_me_data", __name__, description="Your data and leaving: export your data, close your account")

EXPORT_EXAMPLE = {"id": 7, "status": "ready", "sections_done": 15, "sections_total": 15, "rows": 312,
                  "size": 48213, "created_at": "2026-12-05T09:00:00+00:00", "finished_at": "2026-12-05T09:00:04+00:00",
                  "expires_at": "2026-12-12T09:00:04+00:00",
                  "download_url": "https://freehold.example/api/v1/me/exports/7/download"}


class DataExportSchema(Schema):
    id = fields.Integer()
    status = fields.String(metadata={"description": "queued, running, ready, failed or expired"})
    sections_done = fields.Integer()
    sections_total = fields.Integer()
    rows = fields.Integer()
    size = fields.Integer(allow_none=True, metadata={"description": "bytes of the ZIP, once ready"})
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    expires_at = fields.DateTime(allow_none=True)
    download_url = fields.String(allow_none=True, metadata={
        "description": "while ready and not expired: where the ZIP is downloaded (with the bearer token)"})


class CloseAccountSchema(Schema):
    password = fields.String(required=True, load_only=True, metadata={"description": "the account's password"})


def _export(export: DataExport) -> dict:
    ready = export.is_downloadable(utcnow())
    return {"id": export.id, "status": export.status, "sections_done": export.sections_done,
            "sections_total": export.sections_total, "rows": export.rows, "size": export.size,
            "created_at": export.created_at, "finished_at": export.finished_at, "expires_at": export.expires_at,
            "download_url": external_url("api_me_data.download", export_id=export.id) if ready else None}


@blp.post("/export")
@limiter.limit("5/hour", override_defaults=False)
@blp.response(202, envelope(DataExportSchema), example={
    "status": "success", "message": "Your data is being prepared.", "meta": None,
    "data": {**EXPORT_EXAMPLE, "status": "queued", "sections_done": 0, "rows": 0, "size": None, "finished_at": None,
             "expires_at": None, "download_url": None}})
@blp.alt_response(409, description="an export is still being prepared: `errors.export_id` names it")
@blp.doc(security=[{"bearerAuth": []}])
def export():
    """Ask for an archive of your data (a ZIP of JSON and CSV files and your identity documents). It is prepared in
    the background: follow it with GET /me/exports/{id}. One at a time: 409 while one is being prepared."""
    user = current_api_user()
    with unit_of_work():
        created = account.request_export(user)
    return ok(_export(created), message="Your data is being prepared."), 202


@blp.get("/exports/<int:export_id>")
@blp.response(200, envelope(DataExportSchema), example={"status": "success", "message": None, "meta": None,
                                                         "data": EXPORT_EXAMPLE})
@blp.doc(security=[{"bearerAuth": []}])
def export_status(export_id: int):
    """An export's progress and, once ready and until it expires, its download link. Someone else's is a 404."""
    return ok(_export(account.export_for_owner(export_id, current_api_user())))


@blp.get("/exports/<int:export_id>/download")
@blp.alt_response(409, description="the export is still being prepared")
@blp.alt_response(410, description="the export expired (or failed): ask for a new one")
@blp.doc(security=[{"bearerAuth": []}], responses={
    "200": {"description": "the ZIP itself (local storage)",
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"},
                                            "example": "PK\u0003\u0004 (the archive's bytes)"}}},
    "302": {"description": "a redirect to a link valid for a minute (S3 storage)",
            "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}}}})
def download(export_id: int):
    """The archive itself, while it is ready and not expired (410 after)."""
    return serve_export(account.export_for_owner(export_id, current_api_user()))


@blp.delete("")
@limiter.limit("5/hour", override_defaults=False)
@blp.arguments(CloseAccountSchema, example={"password": "your password"})
@blp.response(200, envelope(None), example={"status": "success", "message": "Your account is closed.",
                                            "data": None, "meta": None})
@blp.alt_response(409, description="something is left on the account: `errors` names each (money, holdings, "
                                   "listings, offers, payouts, deposits) with what to do first")
@blp.doc(security=[{"bearerAuth": []}])
def close(body):
    """Close your account, with your password: possible only with nothing left on it. Your personal data is
    erased, every session and token ends, and sign-in is refused from then on."""
    user = current_api_user()
    with unit_of_work():
        account.close_own_account(user, body.get("password"))
    return ok(None, message="Your account is closed.")
