"""Documents are served only through here: to their owner (portal) — staff use the console's own route. Local
storage streams the bytes with headers that stop the browser from guessing or running anything; S3 answers with a
short-lived presigned URL issued after the check."""
from __future__ import annotations

from flask import Response, redirect
from werkzeug.wrappers import Response as BaseResponse

from app.core.storage import get_storage
from app.kyc.models import KycDocument

SAFE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'self'",
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "no-referrer",
}


def serve_document(document: KycDocument) -> BaseResponse:
    name = f"{document.field.name}-{document.id}.{document.storage_key.rsplit('.', 1)[-1]}"
    storage = get_storage()
    url = storage.presigned_url(document.storage_key, expires_in=60, filename=name,
                                content_type=document.content_type, inline=True)
    if url:
        response = redirect(url, code=302)
        response.headers["Cache-Control"] = "no-store"
        return response
    response = Response(storage.get(document.storage_key), mimetype=document.content_type)
    response.headers["Content-Disposition"] = f'inline; filename="{name}"'
    response.headers.update(SAFE_HEADERS)
    return response
