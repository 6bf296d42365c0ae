"""Ticket files are served only through here, after the caller's check (the owner in the portal and the API,
tickets.view in the console, audited there): local storage streams the bytes with the headers identity documents
get (nothing guessed, nothing run); S3 answers with a presigned URL valid for a minute."""
from __future__ import annotations

from flask import Response, redirect
from werkzeug.wrappers import Response as BaseResponse

from app.core.storage import content_disposition, get_storage
from app.kyc.views import SAFE_HEADERS
from app.support.models import TicketAttachment


def serve_attachment(attachment: TicketAttachment) -> BaseResponse:
    storage = get_storage()
    url = storage.presigned_url(attachment.storage_key, expires_in=60, filename=attachment.name,
                                content_type=attachment.content_type, inline=True)
    if url:
        response = redirect(url, code=302)
        response.headers["Cache-Control"] = "no-store"
        return response
    response = Response(storage.get(attachment.storage_key), mimetype=attachment.content_type)
    response.headers["Content-Disposition"] = content_disposition(attachment.name, inline=True)
    response.headers.update(SAFE_HEADERS)
    return response
