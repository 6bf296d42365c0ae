"""Properties: the public face of the domain. Setting up a draft and its terms (locked once invested), the status
workflow, funding, photos and documents, follows, and the cached public catalogue. Services flush and never commit.

Each use case lives in its own module; this one re-exports them so callers import `app.properties.services` only:
editing.py (create and change content and terms), workflow.py (publish, complete, cancel, funding), media.py
(photos and documents), follows.py, catalogue.py (search, one property, the cache). What properties tell the
domains above them goes through signals.py."""
from __future__ import annotations

from app.properties.catalogue import (
    CACHE_TTL,
    CACHE_VERSION_KEY,
    PUBLIC_STATUSES,
    SORTS,
    by_slug_or_id,
    cache_version,
    cached,
    catalogue_changed,
    photos_changed,
    search,
)
from app.properties.editing import (
    CONTENT_FIELDS,
    EDITABLE_FIELDS,
    check_terms_change,
    create_property,
    has_investments,
    slugify,
    snapshot,
    update_property,
)
from app.properties.follows import follow, is_following, unfollow
from app.properties.media import (
    add_document,
    add_photo,
    document_for_download,
    move_photo,
    photo_for,
    remove_photo,
    set_cover,
)
from app.properties.models import TRANSITIONS, TYPES
from app.properties.terms import offering_version
from app.properties.workflow import cancel, complete, publish, record_funding, release_funding

__all__ = [
    "CACHE_TTL", "CACHE_VERSION_KEY", "CONTENT_FIELDS", "EDITABLE_FIELDS", "PUBLIC_STATUSES", "SORTS", "TRANSITIONS",
    "TYPES", "add_document", "add_photo", "by_slug_or_id", "cache_version", "cached", "cancel", "catalogue_changed",
    "check_terms_change", "complete", "create_property", "document_for_download", "follow", "has_investments",
    "is_following", "move_photo", "offering_version", "photo_for", "photos_changed", "publish", "record_funding",
    "release_funding", "remove_photo", "search", "set_cover", "slugify", "snapshot", "unfollow", "update_property",
]
