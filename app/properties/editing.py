"""Setting a property up: create a draft and change its content and terms from plain data (the console and the
staff API give the same), checked by the terms rules, locked once someone has invested."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC
from typing import Any

from sqlalchemy import select

from app.auth.models import User
from app.core import audit
from app.core.errors import Conflict, Forbidden, ValidationError
from app.core.security import has_permission
from app.extensions import db
from app.properties import terms
from app.properties.catalogue import catalogue_changed
from app.properties.models import ACTIVE, ARCHIVED, DRAFT, Amenity, Property, PropertyFaq
from app.properties.signals import investments_asked

CONTENT_FIELDS = ("title", "slug", "property_type", "description", "street", "city", "region", "postal_code",
                  "country", "latitude", "longitude", "video_url")
EDITABLE_FIELDS = (*CONTENT_FIELDS, *terms.TERM_FIELDS)
LIST_FIELDS = ("amenities", "faqs")


def slugify(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:100] or "property"


def snapshot(p: Property) -> dict:
    return {f: getattr(p, f) for f in (*terms.TERM_FIELDS, "raised_amount", "status", "title", "video_url")}


def has_investments(p: Property) -> bool:
    """Whether anyone has invested (terms lock at the first investment): the raised amount says so, else the
    receivers of `investments_asked` (investing) answer."""
    if p.raised_amount > 0:
        return True
    return p.id is not None and any(answer for _, answer in investments_asked.send(p))


def check_terms_change(p: Property, before: dict) -> None:
    """Refuse incoherent terms, and any change of terms once someone has invested (`before`: the snapshot taken
    before the change, empty for a new property); keep the annualised rate the catalogue sorts by. A fixed-amount
    offering's unit price is its fixed amount, kept in step here; a range's defaults to 1.00.

    The unit price may change only while nobody has invested (it is a term: locked with the others, and on a
    published offering changed through approval); investments after it is set are whole units of it."""
    sync_unit_price(p)
    with db.session.no_autoflush:  # refused values never reach the table's own checks first
        terms.check_change(p, before)
    p.expected_return_bps = terms.expected_return_bps(p)
    catalogue_changed()


def sync_unit_price(p: Property) -> None:
    if p.fixed_amount:
        p.unit_price = p.fixed_amount
    elif p.unit_price is None:
        p.unit_price = terms.DEFAULT_UNIT_PRICE


def create_property(data: Mapping[str, Any], *, actor: User) -> Property:
    """A new draft from plain data: the fields of EDITABLE_FIELDS in the model's units (amounts in minor units,
    rates in basis points, naive datetimes taken as UTC), `amenities` as names and `faqs` as a list of
    {question, answer, position}. Refused with field errors; nothing is stored then."""
    _editor(actor)
    p = Property(status=DRAFT, raised_amount=0, created_by_id=actor.id)
    _apply(p, data)
    db.session.add(p)
    check_terms_change(p, {})
    db.session.flush()
    audit.record("properties.created", actor=actor, target=p, after=_described(p))
    return p


def update_property(p: Property, data: Mapping[str, Any], *, actor: User) -> Property:
    """Change the fields given in `data` (as for create_property; `faqs` entries with an `id` change that FAQ, with
    `delete` remove it, without an `id` add one; FAQs not named stay). Terms lock once someone has invested; those of
    a published offering change only through approval (approval.save)."""
    _editor(actor)
    if p.status == ARCHIVED:
        raise Conflict("this offering is archived: it no longer changes")
    before = snapshot(p)
    _apply(p, data)
    changed = sorted(f for f in terms.TERM_FIELDS if before.get(f) != getattr(p, f))
    if before["status"] == ACTIVE and changed and before.get("raised_amount", 0) == 0:
        raise Conflict("the terms of a published offering change only through approval: submit the change",
                       {f: ["Submit the change for approval."] for f in changed})
    check_terms_change(p, before)
    db.session.flush()
    audit.record("properties.edited", actor=actor, target=p, after=_described(p))
    return p


def _editor(actor: User) -> None:
    if not has_permission(actor, "properties.edit"):
        raise Forbidden("setting up properties needs the properties.edit permission")


def _described(p: Property) -> dict:
    return {"title": p.title, "terms": {f: str(getattr(p, f)) for f in terms.TERM_FIELDS}}


def _apply(p: Property, data: Mapping[str, Any]) -> None:
    """Set the given fields, normalised. Everything that reads the database comes first: nothing half-set is
    flushed by a query."""
    unknown = set(data) - set(EDITABLE_FIELDS) - set(LIST_FIELDS)
    if unknown:
        raise ValidationError("unknown fields", {name: ["No such field."] for name in sorted(unknown)})
    amenities = _amenities(data["amenities"]) if "amenities" in data else None
    faqs = _faqs(p, data["faqs"]) if "faqs" in data else None
    for name in EDITABLE_FIELDS:
        if name in data:
            setattr(p, name, data[name])
    for column in ("funding_starts_at", "funding_ends_at"):
        value = getattr(p, column)
        if value is not None and value.tzinfo is None:
            setattr(p, column, value.replace(tzinfo=UTC))
    if not p.installment_unit:
        p.installment_unit = None
    if not (p.title or "").strip():
        raise ValidationError("a title is required", {"title": ["Give the property a title."]})
    p.slug = slugify(p.slug or p.title)
    p.country = (p.country or "").upper()[:2]
    if amenities is not None:
        p.amenities = amenities
    if faqs is not None:
        p.faqs = faqs


def _amenities(names: Iterable[str]) -> list[Amenity]:
    wanted = list(dict.fromkeys(names))
    found = {a.name: a for a in db.session.scalars(select(Amenity).where(Amenity.name.in_(wanted)))} if wanted else {}
    unknown = [name for name in wanted if name not in found]
    if unknown:
        raise ValidationError("unknown amenities", {"amenities": [f"No amenity named {n!r}." for n in unknown]})
    return [found[name] for name in wanted]


def _faqs(p: Property, items: Iterable[Mapping[str, Any]]) -> list[PropertyFaq]:
    """The property's FAQs after the changes: named ones changed or removed, new ones added, the rest kept."""
    existing = {faq.id: faq for faq in p.faqs}
    removed: set[int] = set()
    errors: list[str] = []
    added: list[PropertyFaq] = []
    for number, item in enumerate(items, start=1):
        faq_id = item.get("id")
        if faq_id is not None and faq_id not in existing:
            errors.append(f"FAQ {number}: no such FAQ on this property.")
            continue
        if item.get("delete"):
            if faq_id is not None:
                removed.add(faq_id)
            continue
        question, answer = item.get("question") or "", item.get("answer") or ""
        if not question.strip() or not answer.strip() or len(question) > 300:
            errors.append(f"FAQ {number}: a question (at most 300 characters) and its answer.")
            continue
        faq = existing[faq_id] if faq_id is not None else PropertyFaq()
        faq.question, faq.answer, faq.position = question, answer, item.get("position") or 0
        if faq_id is None:
            added.append(faq)
    if errors:
        raise ValidationError("the FAQ is not complete", {"faqs": errors})
    return [faq for faq_id, faq in existing.items() if faq_id not in removed] + added
