"""Photos and offering documents: uploads checked like KYC documents, stored through core/storage, photo variants
made by the `properties.process_photo` task after commit; who may see or download what."""
from __future__ import annotations

from sqlalchemy import func, select, update

from app.auth.models import User
from app.core import audit
from app.core.db import after_commit, enqueue_after_commit
from app.core.errors import Conflict, NotFound, ValidationError
from app.core.security import has_permission
from app.core.storage import get_storage, new_key
from app.core.uploads import UploadRejected, clean_upload
from app.extensions import db
from app.properties.catalogue import PUBLIC_STATUSES, catalogue_changed
from app.properties.models import (
    ARCHIVED,
    PHOTO_PROCESSING,
    DocumentDownload,
    Property,
    PropertyDocument,
    PropertyPhoto,
)

PROCESS_PHOTO_TASK = "properties.process_photo"  # app/properties/tasks.py, queued by name (tasks import services)


def _not_archived(p: Property) -> None:
    if p.status == ARCHIVED:
        raise Conflict("this offering is archived: it no longer changes")


def add_photo(p: Property, data: bytes, *, actor: User, caption: str = "") -> PropertyPhoto:
    _not_archived(p)
    try:
        clean = clean_upload(data, allowed=("jpeg", "png", "webp"))
    except UploadRejected as exc:
        raise ValidationError("the photo is not acceptable", {"photo": [exc.message]}) from None
    key = new_key(f"properties/{p.id}/originals", clean.extension)
    get_storage().put(key, clean.data, clean.content_type)
    count, last = db.session.execute(select(func.count(PropertyPhoto.id), func.max(PropertyPhoto.position))
                                     .where(PropertyPhoto.property_id == p.id)).one()
    photo = PropertyPhoto(property_id=p.id, position=(last or 0) + 1, is_cover=count == 0, caption=caption[:200],
                          original_key=key, status=PHOTO_PROCESSING, width=clean.width, height=clean.height)
    db.session.add(photo)
    db.session.flush()
    db.session.expire(p, ["photos"])
    audit.record("properties.photo_added", actor=actor, target=p, after={"photo": photo.id})
    enqueue_after_commit(PROCESS_PHOTO_TASK, photo.id)
    catalogue_changed()
    return photo


def set_cover(photo: PropertyPhoto, *, actor: User) -> None:
    db.session.execute(update(PropertyPhoto).where(PropertyPhoto.property_id == photo.property_id)
                       .values(is_cover=(PropertyPhoto.id == photo.id)).execution_options(synchronize_session=False))
    db.session.expire_all()
    audit.record("properties.cover_set", actor=actor, target=("properties", photo.property_id),
                 after={"photo": photo.id})
    catalogue_changed()


def move_photo(photo: PropertyPhoto, direction: int, *, actor: User) -> None:
    siblings = sorted(photo.property.photos, key=lambda ph: (ph.position, ph.id))
    index = siblings.index(photo)
    other = index + direction
    if 0 <= other < len(siblings):
        siblings[index], siblings[other] = siblings[other], siblings[index]
        for position, ph in enumerate(siblings, start=1):
            ph.position = position
        db.session.flush()
        catalogue_changed()


def remove_photo(photo: PropertyPhoto, *, actor: User) -> None:
    keys = [k for k in (photo.original_key, photo.thumbnail_key, photo.medium_key, photo.large_key) if k]
    property_id, was_cover = photo.property_id, photo.is_cover
    db.session.delete(photo)
    db.session.flush()
    if was_cover:
        first = db.session.scalar(select(PropertyPhoto).where(PropertyPhoto.property_id == property_id)
                                  .order_by(PropertyPhoto.position, PropertyPhoto.id).limit(1))
        if first is not None:
            first.is_cover = True
    audit.record("properties.photo_removed", actor=actor, target=("properties", property_id), after={"keys": keys})
    after_commit(lambda: [get_storage().delete(k) for k in keys])
    catalogue_changed()


def add_document(p: Property, data: bytes, title: str, *, actor: User) -> PropertyDocument:
    _not_archived(p)
    if not title.strip():
        raise ValidationError("a title is required", {"title": ["Give the document a title."]})
    try:
        clean = clean_upload(data, allowed=("pdf",))
    except UploadRejected as exc:
        raise ValidationError("the document is not acceptable", {"document": [exc.message]}) from None
    key = new_key(f"properties/{p.id}/documents", "pdf")
    get_storage().put(key, clean.data, "application/pdf")
    document = PropertyDocument(property_id=p.id, title=title.strip()[:200], storage_key=key, size=clean.size,
                                sha256=clean.sha256, pages=clean.pages)
    db.session.add(document)
    db.session.flush()
    audit.record("properties.document_added", actor=actor, target=p, after={"document": document.id,
                                                                               "title": document.title})
    catalogue_changed()
    return document


def document_for_download(document_id: int, user: User, ip: str | None) -> PropertyDocument:
    """Offering documents of a published property, for any signed-in user; every download is logged."""
    document = db.session.get(PropertyDocument, document_id)
    if document is None or (document.property.status not in PUBLIC_STATUSES
                            and not has_permission(user, "properties.view")):
        raise NotFound("no such document")
    db.session.add(DocumentDownload(document_id=document.id, user_id=user.id, ip=ip))
    db.session.flush()
    return document


def photo_for(photo_id: int, user: User | None) -> PropertyPhoto:
    photo = db.session.get(PropertyPhoto, photo_id)
    if photo is None:
        raise NotFound("no such photo")
    if photo.property.status not in PUBLIC_STATUSES and not (user is not None and user.is_authenticated
                                                              and has_permission(user, "properties.view")):
        raise NotFound("no such photo")
    return photo
