"""The status workflow (draft -> active -> funded -> completed; draft or active -> cancelled; draft, active or
cancelled -> archived when nobody invested) and the funding
that moves a property to funded. Every move is one conditional state change, audited, told to the followers.
Publishing (draft -> active) happens only when a finance user approves a manager's request (approval.py).

A cancellation is sent as `signals.property_cancelled` in the same unit of work: the domains above (investing)
do their part of it there, without properties importing them."""
from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, select, update

from app.auth.models import User
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, NotFound, ValidationError
from app.core.security import has_permission
from app.core.states import transition
from app.extensions import db
from app.notifications.services import notify
from app.properties import terms
from app.properties.catalogue import catalogue_changed
from app.properties.editing import has_investments
from app.properties.models import (
    ACTIVE,
    APPROVAL_PENDING,
    APPROVAL_WITHDRAWN,
    ARCHIVED,
    CANCELLED,
    COMPLETED,
    FUNDED,
    TRANSITIONS,
    Property,
    PropertyApproval,
    PropertyFollower,
)
from app.properties.signals import property_cancelled


def _move(p: Property, target: str, *, actor: User | None, reason: str | None = None, **stamps) -> Property:
    before = transition(p, target, TRANSITIONS, what="the property", updated_at=utcnow(), **stamps)
    audit.record(f"properties.{target}", actor=actor, target=p, before={"status": before},
                 after={"status": target}, reason=reason)
    _tell_followers(p, before, target)
    catalogue_changed()
    return p


def _tell_followers(p: Property, before: str, after: str) -> None:
    followers = list(db.session.scalars(select(User).join(PropertyFollower, PropertyFollower.user_id == User.id)
                                        .where(PropertyFollower.property_id == p.id, User.status == "active")))
    if followers:
        notify(followers, "property_status", link=None, title=p.title, slug=p.slug, status=after, previous=before)


def publish_approved(p: Property, *, actor: User) -> Property:
    """Draft -> active, as the approval of a publication request does it (app/properties/approval.py): the only
    way to publish. The approval has checked the permission and that the approver is not the submitter."""
    missing = terms.missing_to_publish(p)
    if missing:
        raise Conflict("not ready to publish: " + ", ".join(missing), {"status": [f"Missing {m}." for m in missing]})
    return _move(p, ACTIVE, actor=actor, published_at=utcnow())


def complete(p: Property, *, actor: User, reason: str | None = None) -> Property:
    if not has_permission(actor, "properties.edit"):
        raise Forbidden("this needs the properties.edit permission")
    return _move(p, COMPLETED, actor=actor, reason=reason, closed_at=utcnow())


def cancel(p: Property, *, actor: User, reason: str | None) -> Property:
    """Cancel a draft or active offering; the receivers of `property_cancelled` (investing refunds every live
    investment) act in the same unit of work."""
    if not has_permission(actor, "properties.edit"):
        raise Forbidden("this needs the properties.edit permission")
    if not reason or not reason.strip():
        raise ValidationError("a reason is required", {"reason": ["Say why: investors are told."]})
    moved = _move(p, CANCELLED, actor=actor, reason=reason.strip(), closed_at=utcnow())
    _withdraw_pending(p, actor=actor, why="the offering was cancelled")
    property_cancelled.send(moved, actor=actor, reason=reason.strip())
    return moved


def archive(p: Property, *, actor: User, reason: str | None) -> Property:
    """Put away an offering nobody has invested in (any investment, whatever its status, keeps it): its status
    becomes archived, nothing is deleted, it leaves every public listing; a request waiting for approval is
    withdrawn. With investments it is a 409."""
    if not has_permission(actor, "properties.edit"):
        raise Forbidden("this needs the properties.edit permission")
    reason = (reason or "").strip()[:1000]
    if not reason:
        raise ValidationError("a reason is required", {"reason": ["Say why: it goes into the audit trail."]})
    if p.status == ARCHIVED:
        raise Conflict("this property is already archived")
    locked = db.session.scalar(select(Property).where(Property.id == p.id).with_for_update()
                               .execution_options(populate_existing=True))
    if locked is None:
        raise NotFound("no such property")
    if has_investments(locked):
        raise Conflict("people have invested in this offering: it cannot be archived (cancel or complete it)")
    _withdraw_pending(locked, actor=actor, why="the offering was archived")
    return _move(locked, ARCHIVED, actor=actor, reason=reason, closed_at=locked.closed_at or utcnow())


def _withdraw_pending(p: Property, *, actor: User, why: str) -> None:
    db.session.execute(  # a request waiting for approval has nothing left to decide
        update(PropertyApproval).where(PropertyApproval.property_id == p.id,
                                       PropertyApproval.status == APPROVAL_PENDING)
        .values(status=APPROVAL_WITHDRAWN, decided_by_id=actor.id, decided_at=utcnow(), reason=why)
        .execution_options(synchronize_session=False))


def record_funding(property_id: int, amount: int, *, actor: User | None = None) -> Property:
    """Add an investment's amount to the property (the investing service calls this in its own transaction).
    A conditional UPDATE keeps the total within the target; reaching it moves the property to funded."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationError("a positive amount is required")
    added = cast("CursorResult[Any]", db.session.execute(
        update(Property).where(Property.id == property_id, Property.status == ACTIVE,
                               Property.raised_amount + amount <= Property.target_amount)
        .values(raised_amount=Property.raised_amount + amount, updated_at=utcnow())
        .execution_options(synchronize_session=False))).rowcount
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
    released = cast("CursorResult[Any]", db.session.execute(
        update(Property).where(Property.id == property_id, Property.raised_amount >= amount)
        .values(raised_amount=Property.raised_amount - amount, updated_at=utcnow())
        .execution_options(synchronize_session=False))).rowcount
    if released != 1:
        raise Conflict("the property has not raised that much")
    catalogue_changed()


def record_units(property_id: int, units: int) -> None:
    """Add `units` (negative: take them off) to the units the property's offering sold: an investment paid more of
    its amount, or a holding was refunded. Taking off more than were sold is refused (409)."""
    if isinstance(units, bool) or not isinstance(units, int):
        raise ValidationError("a whole number of units is required")
    if units == 0:
        return
    moved = cast("CursorResult[Any]", db.session.execute(
        update(Property).where(Property.id == property_id, Property.units_sold + units >= 0)
        .values(units_sold=Property.units_sold + units).execution_options(synchronize_session=False))).rowcount
    if moved != 1:
        raise Conflict("the offering has not sold that many units")
    loaded = db.session.identity_map.get(db.session.identity_key(Property, property_id))
    if loaded is not None:
        db.session.expire(loaded, ["units_sold"])
