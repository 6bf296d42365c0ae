"""The public catalogue: published properties searched, filtered, sorted and paginated, one property by slug or
id, and the cache of both under a catalogue version that every change bumps after commit."""
from __future__ import annotations

import hashlib
import json
import time

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import lazyload, selectinload

from app.auth.models import User
from app.core.db import after_commit
from app.core.errors import NotFound
from app.core.replica import read_after_write_seconds, replica_reads
from app.core.security import has_permission
from app.extensions import cache, db
from app.properties.models import ACTIVE, COMPLETED, FUNDED, Property

PUBLIC_STATUSES = (ACTIVE, FUNDED, COMPLETED)
SORTS = ("newest", "closing_soon", "return_rate", "funded")
CACHE_VERSION_KEY = "properties:version"
CHANGED_AT_KEY = "properties:changed_at"  # epoch seconds of the last change: lists are read from the primary a while
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
    cache.set(CHANGED_AT_KEY, time.time(), timeout=0)
    cache_version()
    if getattr(backend, "inc", None) is None or backend.inc(CACHE_VERSION_KEY) is None:
        cache.set(CACHE_VERSION_KEY, cache_version() + 1, timeout=0)


def catalogue_changed() -> None:
    """Every cached list and detail is stale once this transaction commits (a version bump, not a scan)."""
    after_commit(_bump_cache)


def photos_changed(property_id: int) -> None:
    _bump_cache()  # called by the photo task after its own commit


def changed_recently() -> bool:
    """A change committed less than READ_AFTER_WRITE_SECONDS ago: the read replica may not show it yet."""
    changed_at = cache.get(CHANGED_AT_KEY)
    return changed_at is not None and time.time() - float(changed_at) < read_after_write_seconds()


def cached(kind: str, args: dict, build, *, replica: bool = False):
    """build() once per catalogue version. replica=True: it may read from the read replica, unless the catalogue
    changed moments ago (what it builds is kept for CACHE_TTL under the new version: never from a copy that may
    not have the change yet)."""
    key = f"properties:{kind}:v{cache_version()}:" + hashlib.sha256(
        json.dumps(args, sort_keys=True, default=str).encode()).hexdigest()[:32]
    value = cache.get(key)
    if value is None:
        with replica_reads(when=replica and not changed_recently()):
            value = build()
        cache.set(key, value, timeout=CACHE_TTL)
    return value


# queries ---------------------------------------------------------------------------------------------------------
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
