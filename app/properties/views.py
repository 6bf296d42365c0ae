"""Property photos: public for published properties (marketing images), placeholder until processed."""
from __future__ import annotations

from flask import Blueprint, Response, abort, redirect
from flask_login import current_user

from app.core.errors import DomainError
from app.core.storage import get_storage
from app.extensions import limiter
from app.properties.images import placeholder
from app.properties.services import photo_for

bp = Blueprint("properties_media", __name__)
SIZE_KEYS = {"thumbnail": "thumbnail_key", "medium": "medium_key", "large": "large_key"}


@bp.get("/media/properties/photos/<int:photo_id>/<size>.jpg")
@limiter.exempt
def photo(photo_id: int, size: str):
    if size not in SIZE_KEYS:
        abort(404)
    try:
        found = photo_for(photo_id, current_user)
    except DomainError:
        abort(404)
    key = getattr(found, SIZE_KEYS[size])
    if found.status != "ready" or not key:
        response = Response(placeholder(size), mimetype="image/jpeg")
        response.headers["Cache-Control"] = "no-store"
        return response
    storage = get_storage()
    url = storage.presigned_url(key, expires_in=300, content_type="image/jpeg")
    if url:
        return redirect(url)
    response = Response(storage.get(key), mimetype="image/jpeg")
    response.headers["Cache-Control"] = "public, max-age=86400"  # keys change whenever the image does
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
