"""Serving a ready archive of "Download my data" to its owner, after the checks (owner, ready, not expired): local
storage streams the bytes as an attachment; S3 answers with a presigned URL that lives one minute."""
from __future__ import annotations

from flask import Response, redirect
from werkzeug.wrappers import Response as BaseResponse

from app.account.data_export import check_downloadable, filename
from app.account.models import DataExport
from app.core.storage import content_disposition, get_storage

HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"}


def serve_export(export: DataExport) -> BaseResponse:
    key = check_downloadable(export)
    storage = get_storage()
    url = storage.presigned_url(key, expires_in=60, filename=filename(export), content_type="application/zip",
                                inline=False)
    if url:
        response = redirect(url, code=302)
        response.headers["Cache-Control"] = "no-store"
        return response
    response = Response(storage.get(key), mimetype="application/zip")
    response.headers["Content-Disposition"] = content_disposition(filename(export), inline=False)
    response.headers.update(HEADERS)
    return response
