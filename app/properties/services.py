"""Properties: the public face of the domain. Setting up a draft and its terms (locked once invested), the status
workflow, funding, photos and documents, follows, and the cached public catalogue. Services flush and never commit.

Each use case lives in its own module; this one re-exports them so callers import `app.properties.services` only:
editing.py (create and change content and terms), approval.py (publication and changes of published terms: a
manager submits, finance approves), workflow.py (complete, cancel, funding), media.py
(photos and documents), follows.py, catalogue.py (search, one property, the cache). What properties tell the
domains above them goes through signals.py."""
from __future__ import annotations

from app.properties.approval import (
    approve,
    changes_of,
    get_request,
    pending_count,
    pending_request,
    reject,
    save,
    submit,
    update_property,
    withdraw,
)
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
from app.properties.terms import commitment, offering_version
from app.properties.workflow import archive, cancel, complete, record_funding, record_units, release_funding

__all__ = [
    "CACHE_TTL",
    "CACHE_VERSION_KEY",
    "CONTENT_FIELDS",
    "EDITABLE_FIELDS",
    "PUBLIC_STATUSES",
    "SORTS",
    "TRANSITIONS",
    "TYPES",
    "add_document",
    "add_photo",
    "approve",
    "archive",
    "by_slug_or_id",
    "cache_version",
    "cached",
    "cancel",
    "catalogue_changed",
    "changes_of",
    "check_terms_change",
    "commitment",
    "complete",
    "create_property",
    "document_for_download",
    "follow",
    "get_request",
    "has_investments",
    "is_following",
    "move_photo",
    "offering_version",
    "pending_count",
    "pending_request",
    "photo_for",
    "photos_changed",
    "record_funding",
    "record_units",
    "reject",
    "release_funding",
    "remove_photo",
    "save",
    "search",
    "set_cover",
    "slugify",
    "snapshot",
    "submit",
    "unfollow",
    "update_property",
    "withdraw",
]
