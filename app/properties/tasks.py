"""Background work for properties: making a photo's variants from its stored original.

`process_photo` is idempotent: a ready photo is left alone, and the photo is marked ready by a conditional UPDATE,
so when two deliveries of the same task race, one wins and the other removes the files it wrote."""
from __future__ import annotations

import logging
from typing import Any, cast

from celery import shared_task
from sqlalchemy import CursorResult, update

from app.core.db import discard, unit_of_work
from app.core.retry import backoff_seconds
from app.core.storage import StorageNotFound, get_storage, new_key
from app.extensions import db
from app.properties import services
from app.properties.images import CONTENT_TYPE, SIZES, make_variants, upright_size
from app.properties.media import PROCESS_PHOTO_TASK
from app.properties.models import PHOTO_FAILED, PHOTO_READY, PropertyPhoto

log = logging.getLogger(__name__)
MAX_RETRIES = 3  # for storage errors; a broken original is never retried
RETRY_BASE_SECONDS = 30  # then 60, 120: doubling, no jitter
_KEY_COLUMNS = {"thumbnail": "thumbnail_key", "medium": "medium_key", "large": "large_key"}
if set(_KEY_COLUMNS) != set(SIZES):  # every size made has a column to keep its key
    raise RuntimeError("photo sizes and their key columns differ")


def _unless_ready(photo_id: int, **values) -> int:
    """Set values on the photo unless it is already ready, in a unit of work of its own; the number of rows
    changed (0 or 1)."""
    with unit_of_work():
        changed = cast("CursorResult[Any]", db.session.execute(
            update(PropertyPhoto).where(PropertyPhoto.id == photo_id, PropertyPhoto.status != PHOTO_READY)
            .values(**values).execution_options(synchronize_session=False))).rowcount
    return changed


def _delete_quietly(storage, keys) -> None:
    for key in keys:
        try:
            storage.delete(key)
        except Exception:  # a leftover file is harmless; the photo row is already right
            log.exception("could not delete stored photo variant %s", key)


def _failed(photo_id: int, error: str) -> str:
    _unless_ready(photo_id, status=PHOTO_FAILED, error=error[:300])
    return PHOTO_FAILED


@shared_task(bind=True, name=PROCESS_PHOTO_TASK, max_retries=MAX_RETRIES)
def process_photo(self, photo_id: int) -> str:
    """Make and store the photo's thumbnail, medium and large JPEGs; "ready", "failed", "skipped" or "missing"."""
    photo = db.session.get(PropertyPhoto, photo_id)
    if photo is None:
        return "missing"
    if photo.status == PHOTO_READY:
        return "skipped"
    property_id = photo.property_id
    original_key = photo.original_key
    old_keys = [key for key in (photo.thumbnail_key, photo.medium_key, photo.large_key) if key]
    discard()  # end the read transaction: no database lock is held while images are made

    storage = get_storage()
    stored: dict[str, str] = {}
    try:
        try:
            original = storage.get(original_key)
        except StorageNotFound:
            return _failed(photo_id, "The original file is missing.")
        try:
            width, height = upright_size(original)
            variants = make_variants(original)
        except ValueError as exc:
            return _failed(photo_id, f"The original is not a usable image: {exc}.")
        del original
        for name, data in variants.items():
            key = new_key(f"properties/{property_id}", "jpg")
            storage.put(key, data, CONTENT_TYPE)
            stored[name] = key
    except Exception as exc:  # storage unavailable: try again later, a bounded number of times
        discard()
        _delete_quietly(storage, stored.values())
        if self.request.called_directly:
            raise
        if self.request.retries < self.max_retries:
            countdown = backoff_seconds(self.request.retries + 1, base=RETRY_BASE_SECONDS, jitter=0)
            raise self.retry(exc=exc, countdown=countdown) from None
        log.exception("photo %s could not be processed", photo_id)
        return _failed(photo_id, f"Processing failed: {type(exc).__name__}.")

    values = {column: stored[name] for name, column in _KEY_COLUMNS.items()}
    if not _unless_ready(photo_id, status=PHOTO_READY, error=None, width=width, height=height, **values):
        _delete_quietly(storage, stored.values())  # another run finished first, or the photo was deleted
        return "skipped"
    _delete_quietly(storage, [key for key in old_keys if key not in stored.values()])
    services.photos_changed(property_id)  # the new variants are committed: cached pages show them now
    return PHOTO_READY
