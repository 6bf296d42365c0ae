"""Properties: terms changes (locked once invested), the status workflow, funding, photos and documents, follows,
and the cached public catalogue. Services flush and never commit."""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.orm import lazyload, selectinload

from app.auth.models import User
from app.core import audit
from app.core.db import after_commit, enqueue_after_commit, utcnow
from app.core.errors import Conflict, Forbidden, IllegalTransition, NotFound, ValidationError
from app.core.security import has_permission
from app.extensions import cache, db
from app.properties import terms
from app.properties.models import (
    ACTIVE,
    CANCELLED,
    COMPLETED,
    FUNDED,
    PHOTO_PROCESSING,
    TRANSITIONS,
    TYPES,
    DocumentDownload,
    Property,
    PropertyDocument,
    PropertyFollower,
    PropertyPhoto,
)

PUBLIC_STATUSES = (ACTIVE, FUNDED, COMPLETED)
CACHE_VERSION_KEY = "properties:version"
CACHE_TTL = 300


# cache -----------------------------------------------------------------------------------------------------------
def cache_version() -> int:
    version = cache.get(CACHE_VERSION_KEY)
    if version is None:
        version = 1
        cache.set(CACHE_VERSION_KEY, version, timeout=0)
    return int(version)


def _bump_cache() -> None:
    """Atomic where the backend can (Redis INCR); every process sees the new version at once."""
    backend = cache.cache
    cache_version()
    if getattr(backend, "inc", None) is None or backend.inc(CACHE_VERSION_KEY) is None:
        cache.set(CACHE_VERSION_KEY, cache_version() + 1, timeout=0)


def catalogue_changed() -> None:
    """Every cached list and detail is stale once this transaction commits (a version bump, not a scan)."""
    after_commit(_bump_cache)


def photos_changed(property_id: int) -> None:
    _bump_cache()  # called by the photo task after its own commit


def cached(kind: str, args: dict, build):
    key = f"properties:{kind}:v{cache_version()}:" + hashlib.sha256(
        json.dumps(args, sort_keys=True, default=str).encode()).hexdigest()[:32]
    value = cache.get(key)
    if value is None:
        value = build()
        cache.set(key, value, timeout=CACHE_TTL)
    return value


# content and terms -------------------------------------------------------------------------------------------------
def slugify(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:100] or "property"


def has_investments(p: Property) -> bool:
    """Whether anyone has invested (terms lock at the first investment)."""
    from app.investing import services as investing

    return p.raised_amount > 0 or (p.id is not None and investing.has_investments(p.id))


def check_terms_change(p: Property, before: dict) -> None:
    """Refuse incoherent terms, and any change of terms once someone has invested."""
    changed = {f for f in terms.TERM_FIELDS if before.get(f) != getattr(p, f)}
    if changed and before.get("raised_amount", 0) > 0:
        raise Conflict("terms are locked: investors have already invested",
                       {f: ["Locked: investors have already invested."] for f in sorted(changed)})
    if p.status in (FUNDED, COMPLETED, CANCELLED) and changed:
        raise Conflict(f"terms of a {p.status} property cannot change")
    errors = terms.problems(p)
    if errors:
        raise ValidationError("the investment terms do not hold together", errors)
    if p.property_type not in TYPES:
        raise ValidationError("unknown type", {"property_type": [f"One of {', '.join(TYPES)}."]})
    p.expected_return_bps = terms.expected_return_bps(p)
    catalogue_changed()


def snapshot(p: Property) -> dict:
    return {f: getattr(p, f) for f in (*terms.TERM_FIELDS, "raised_amount", "status", "title")}


# workflow ----------------------------------------------------------------------------------------------------------
def _move(p: Property, target: str, *, actor: User | None, reason: str | None = None, **stamps) -> Property:
    if target not in TRANSITIONS[p.status]:
        raise IllegalTransition(f"a {p.status} property cannot become {target}")
    moved = db.session.execute(
        update(Property).where(Property.id == p.id, Property.status == p.status)
        .values(status=target, updated_at=utcnow(), **stamps).execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        db.session.refresh(p)
        raise IllegalTransition(f"the property is {p.status} now")
    before = p.status
    db.session.refresh(p)
    audit.record(f"properties.{target}", actor=actor, target=p, before={"status": before},
                 after={"status": target}, reason=reason)
    _tell_followers(p, before, target)
    catalogue_changed()
    return p


def _tell_followers(p: Property, before: str, after: str) -> None:
    from app.notifications.services import notify

    followers = list(db.session.scalars(select(User).join(PropertyFollower, PropertyFollower.user_id == User.id)
                                        .where(PropertyFollower.property_id == p.id, User.status == "active")))
    if followers:
        notify(followers, "property_status", link=None, title=p.title, slug=p.slug, status=after, previous=before)


def publish(p: Property, *, actor: User) -> Property:
    if not has_permission(actor, "properties.publish"):
        raise Forbidden("publishing needs the properties.publish permission")
    missing = terms.missing_to_publish(p)
    if missing:
        raise Conflict("not ready to publish: " + ", ".join(missing), {"status": [f"Missing {m}." for m in missing]})
    return _move(p, ACTIVE, actor=actor, published_at=utcnow())


def complete(p: Property, *, actor: User, reason: str | None = None) -> Property:
    if not has_permission(actor, "properties.publish"):
        raise Forbidden("this needs the properties.publish permission")
    return _move(p, COMPLETED, actor=actor, reason=reason, closed_at=utcnow())


def cancel(p: Property, *, actor: User, reason: str) -> Property:
    if not has_permission(actor, "properties.publish"):
        raise Forbidden("this needs the properties.publish permission")
    if not reason or not reason.strip():
        raise ValidationError("a reason is required", {"reason": ["Say why: investors are told."]})
    from app.investing import services as investing

    moved = _move(p, CANCELLED, actor=actor, reason=reason.strip(), closed_at=utcnow())
    investing.cancel_property_investments(moved, actor=actor, reason=reason.strip())
    return moved


def record_funding(property_id: int, amount: int, *, actor: User | None = None) -> Property:
    """Add an investment's amount to the property (the investing service calls this in its own transaction).
    A conditional UPDATE keeps the total within the target; reaching it moves the property to funded."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationError("a positive amount is required")
    added = db.session.execute(
        update(Property).where(Property.id == property_id, Property.status == ACTIVE,
                               Property.raised_amount + amount <= Property.target_amount)
        .values(raised_amount=Property.raised_amount + amount, updated_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount
    p = db.session.get(Property, property_id)
    if p is None:
        raise NotFound("no such property")
    db.session.refresh(p)
    if added != 1:
        if p.status != ACTIVE:
            raise Conflict(f"this property is {p.status}, not open for investment")
        raise Conflict("not enough funding left", {"amount": [f"At most {p.remaining_amount} remains."]})
    catalogue_changed()
    if p.raised_amount == p.target_amount:
        _move(p, FUNDED, actor=actor, funded_at=utcnow())
    return p


def release_funding(property_id: int, amount: int) -> None:
    """Give back `amount` of the raised total (an investment cancelled for default). The property keeps its
    status; a funded property with room again is for its manager to reopen or complete."""
    released = db.session.execute(
        update(Property).where(Property.id == property_id, Property.raised_amount >= amount)
        .values(raised_amount=Property.raised_amount - amount, updated_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount
    if released != 1:
        raise Conflict("the property has not raised that much")
    catalogue_changed()


# photos and documents --------------------------------------------------------------------------------------------
def add_photo(p: Property, data: bytes, *, actor: User, caption: str = "") -> PropertyPhoto:
    from app.core.storage import get_storage, new_key
    from app.core.uploads import UploadRejected, clean_upload
    from app.properties.tasks import process_photo

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
    enqueue_after_commit(process_photo, photo.id)
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
    from app.core.storage import get_storage

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
    from app.core.storage import get_storage, new_key
    from app.core.uploads import UploadRejected, clean_upload

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


# follows ---------------------------------------------------------------------------------------------------------
def follow(p: Property, user: User) -> None:
    exists = db.session.scalar(select(PropertyFollower.id).where(PropertyFollower.property_id == p.id,
                                                                 PropertyFollower.user_id == user.id))
    if exists is None:
        db.session.add(PropertyFollower(property_id=p.id, user_id=user.id))
        db.session.flush()


def unfollow(p: Property, user: User) -> None:
    db.session.execute(PropertyFollower.__table__.delete().where(PropertyFollower.property_id == p.id,
                                                                 PropertyFollower.user_id == user.id))


def is_following(property_id: int, user_id: int) -> bool:
    return db.session.scalar(select(PropertyFollower.id).where(PropertyFollower.property_id == property_id,
                                                               PropertyFollower.user_id == user_id)) is not None


# catalogue ---------------------------------------------------------------------------------------------------------
SORTS = ("newest", "closing_soon", "return_rate", "funded")


def _search_clause(q: str):
    if db.engine.dialect.name == "postgresql":
        query = func.websearch_to_tsquery("english", q)
        return text("search_vector @@ websearch_to_tsquery('english', :q)").bindparams(q=q), \
            func.ts_rank(text("search_vector"), query)
    like = f"%{q.lower()}%"
    clause = or_(func.lower(Property.title).like(like), func.lower(Property.description).like(like),
                 func.lower(Property.city).like(like))
    return clause, func.lower(Property.title).like(like)


def search(*, q: str | None = None, property_type: str | None = None, city: str | None = None,
           country: str | None = None, min_amount: int | None = None, max_amount: int | None = None,
           status: str | None = None, sort: str = "newest", page: int = 1, per_page: int = 12):
    """Published properties matching the filters, with the total. Three queries whatever the page size."""
    statuses = [status] if status in PUBLIC_STATUSES else [ACTIVE] if status is None else []
    query = select(Property).where(Property.status.in_(statuses))
    rank = None
    if q and q.strip():
        clause, rank = _search_clause(q.strip()[:200])
        query = query.where(clause)
    if property_type:
        query = query.where(Property.property_type == property_type)
    if city:
        query = query.where(func.lower(Property.city) == city.strip().lower())
    if country:
        query = query.where(Property.country == country.strip().upper()[:2])
    entry = func.coalesce(Property.fixed_amount, Property.min_investment)
    top = func.coalesce(Property.fixed_amount, Property.max_investment)
    if max_amount is not None:
        query = query.where(entry <= max_amount)
    if min_amount is not None:
        query = query.where(top >= min_amount)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    order = []
    if rank is not None and sort == "newest":
        order.append(rank.desc())
    if sort == "closing_soon":
        order += [Property.funding_ends_at.is_(None), Property.funding_ends_at.asc()]
    elif sort == "return_rate":
        order += [Property.expected_return_bps.is_(None), Property.expected_return_bps.desc()]
    elif sort == "funded":
        order.append((Property.raised_amount * 10_000 / Property.target_amount).desc())
    order += [Property.published_at.desc(), Property.id.desc()]
    rows = db.session.scalars(query.order_by(*order).limit(per_page).offset((page - 1) * per_page)
                              .options(selectinload(Property.photos), lazyload(Property.faqs),
                                       lazyload(Property.documents), lazyload(Property.amenities))).all()
    return list(rows), total


def by_slug_or_id(key: str | int, *, viewer: User | None = None) -> Property:
    query = select(Property)
    query = query.where(Property.id == int(key)) if str(key).isdigit() else query.where(Property.slug == str(key))
    p = db.session.scalar(query)
    if p is None or (p.status not in PUBLIC_STATUSES and not (viewer is not None and viewer.is_authenticated
                                                               and has_permission(viewer, "properties.view"))):
        raise NotFound("no such property")
    return p


