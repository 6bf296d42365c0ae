"""Publication and changes of published terms take two people. A property manager prepares a draft and submits
it for publication; a finance user who is not the submitter approves it (the property becomes active) or rejects it
with a reason (the draft stays editable). The manager's change of the terms of a published offering nobody has
invested in yet becomes a request with the proposed values; its approval applies them, checked again. The submitter
may withdraw a pending request. One pending request per property; a decision is one conditional UPDATE of the
request (a replay or a race applies once), and an approval is refused when the terms changed since submission.
Each step is audited; the submitter is told of the decision."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.auth.models import User
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, NotFound, ValidationError
from app.core.security import has_permission
from app.core.states import transition
from app.core.urls import external_url
from app.extensions import db
from app.notifications.services import notify
from app.properties import editing, terms, workflow
from app.properties.models import (
    ACTIVE,
    APPROVAL_APPROVED,
    APPROVAL_PENDING,
    APPROVAL_PUBLISH,
    APPROVAL_REJECTED,
    APPROVAL_TERMS_CHANGE,
    APPROVAL_TRANSITIONS,
    APPROVAL_WITHDRAWN,
    DRAFT,
    Property,
    PropertyApproval,
)

DATETIME_FIELDS = ("funding_starts_at", "funding_ends_at")


def pending_request(p: Property) -> PropertyApproval | None:
    return db.session.scalar(select(PropertyApproval).where(PropertyApproval.property_id == p.id,
                                                            PropertyApproval.status == APPROVAL_PENDING))


def pending_count() -> int:
    return db.session.execute(select(db.func.count(PropertyApproval.id))
                              .where(PropertyApproval.status == APPROVAL_PENDING)).scalar_one()


def get_request(request_id: int) -> PropertyApproval:
    request = db.session.get(PropertyApproval, request_id)
    if request is None:
        raise NotFound("no such request")
    return request


def _open(p: Property, kind: str, *, actor: User, proposed: dict | None = None) -> PropertyApproval:
    if pending_request(p) is not None:
        raise Conflict("a request for this property is already waiting for approval: wait for the decision or "
                       "withdraw it first")
    request = PropertyApproval(property_id=p.id, kind=kind, proposed=proposed, fingerprint=terms.terms_fingerprint(p),
                               status=APPROVAL_PENDING, submitted_by_id=actor.id, submitted_at=utcnow())
    try:
        with db.session.begin_nested():
            db.session.add(request)
    except IntegrityError:  # submitted meanwhile by someone else (one pending request per property)
        raise Conflict("a request for this property is already waiting for approval") from None
    return request


def submit(p: Property, *, actor: User) -> PropertyApproval:
    """A property manager asks for a draft to be published; it needs everything a publication needs."""
    if not has_permission(actor, "properties.submit"):
        raise Forbidden("submitting for publication needs the properties.submit permission")
    if p.status != DRAFT:
        raise Conflict(f"this property is {p.status}: only a draft is submitted for publication")
    missing = terms.missing_to_publish(p)
    if missing:
        raise Conflict("not ready to publish: " + ", ".join(missing), {"status": [f"Missing {m}." for m in missing]})
    request = _open(p, APPROVAL_PUBLISH, actor=actor)
    audit.record("properties.submitted", actor=actor, target=p,
                 after={"request": request.id, "kind": APPROVAL_PUBLISH, "fingerprint": request.fingerprint})
    return request


# changing the terms of a published offering -------------------------------------------------------------------------
def _normalised(name: str, value: Any) -> Any:
    if name in DATETIME_FIELDS and isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if name == "installment_unit" and not value:
        return None
    return value


def _encode(name: str, value: Any) -> Any:
    return value.isoformat() if name in DATETIME_FIELDS and value is not None else value


def _decode(name: str, value: Any) -> Any:
    return datetime.fromisoformat(value) if name in DATETIME_FIELDS and value is not None else value


def proposed_terms(p: Property, data: Mapping[str, Any]) -> dict[str, Any]:
    """The term fields of `data` that differ from the property's, normalised as the property would store them."""
    changed = {}
    for name in terms.TERM_FIELDS:
        if name in data:
            value = _normalised(name, data[name])
            if value != getattr(p, name):
                changed[name] = value
    return changed


def _with(p: Property, changes: Mapping[str, Any]) -> SimpleNamespace:
    """The property's terms with `changes` applied, without touching the property."""
    fields = {name: getattr(p, name) for name in (*terms.TERM_FIELDS, "status", "property_type", "video_url")}
    return SimpleNamespace(**(fields | dict(changes)), documents=list(p.documents))


def save(p: Property, data: Mapping[str, Any], *, actor: User) -> PropertyApproval | None:
    """Change a property from plain data (as editing.update_property). On a published offering nobody has invested
    in, changed terms are not applied: they become a terms-change request (returned) for finance to approve; the
    other fields save at once. Elsewhere the change is made directly (drafts), or refused (locked terms)."""
    changes = proposed_terms(p, data) if p.status == ACTIVE else {}
    if not changes:
        editing.update_property(p, data, actor=actor)
        return None
    if editing.has_investments(p):
        raise Conflict("terms are locked: investors have already invested",
                       {name: ["Locked: investors have already invested."] for name in sorted(changes)})
    if not has_permission(actor, "properties.submit"):
        raise Forbidden("changing published terms needs the properties.submit permission")
    errors = terms.problems(_with(p, changes))
    if errors:
        raise ValidationError("the investment terms do not hold together", errors)
    rest = {name: value for name, value in data.items() if name not in terms.TERM_FIELDS}
    editing.update_property(p, rest, actor=actor)
    request = _open(p, APPROVAL_TERMS_CHANGE, actor=actor,
                    proposed={name: _encode(name, value) for name, value in changes.items()})
    audit.record("properties.submitted", actor=actor, target=p,
                 before={name: _encode(name, getattr(p, name)) for name in changes},
                 after={"request": request.id, "kind": APPROVAL_TERMS_CHANGE, "proposed": request.proposed})
    return request


def update_property(p: Property, data: Mapping[str, Any], *, actor: User) -> Property:
    """editing.update_property, with changes of published terms going to approval (see `save`)."""
    save(p, data, actor=actor)
    return p


def changes_of(request: PropertyApproval) -> list[tuple[str, Any, Any]]:
    """(field, now, proposed) for each field of a terms-change request."""
    p = request.property
    return [(name, getattr(p, name), _decode(name, value)) for name, value in (request.proposed or {}).items()]


# deciding ------------------------------------------------------------------------------------------------------------
def _decider(request: PropertyApproval, actor: User, what: str) -> None:
    if not has_permission(actor, "properties.approve"):
        raise Forbidden(f"{what} needs the properties.approve permission")
    if request.submitted_by_id == actor.id:
        raise Forbidden(f"you submitted this request: a different person must {what.split()[0]} it")


def _locked_property(request: PropertyApproval) -> Property:
    p = db.session.scalar(select(Property).where(Property.id == request.property_id).with_for_update()
                          .execution_options(populate_existing=True))
    if p is None:
        raise NotFound("no such property")
    return p


def approve(request: PropertyApproval, *, actor: User) -> Property:
    """A finance user other than the submitter approves: the request moves pending -> approved with one conditional
    update, then the property is published or its new terms applied, checked again, in the same transaction."""
    _decider(request, actor, "approve a request")
    if request.status != APPROVAL_PENDING:
        raise Conflict(f"this request is {request.status}: nothing to approve")
    p = _locked_property(request)
    if terms.terms_fingerprint(p) != request.fingerprint:
        raise Conflict("the terms changed since submission; submit again")
    transition(request, APPROVAL_APPROVED, APPROVAL_TRANSITIONS, what=f"request #{request.id}",
               decided_by_id=actor.id, decided_at=utcnow())
    who = {"request": request.id, "submitted_by": request.submitted_by.email, "approved_by": actor.email}
    if request.kind == APPROVAL_PUBLISH:
        workflow.publish_approved(p, actor=actor)
        audit.record("properties.publication_approved", actor=actor, target=p, after=who)
        event = "property_publication_approved"
    else:
        if p.status != ACTIVE:
            raise Conflict(f"this property is {p.status}: its terms no longer change through this request")
        if editing.has_investments(p):
            raise Conflict("terms are locked: investors have already invested")
        before = editing.snapshot(p)
        for name, _, value in changes_of(request):
            setattr(p, name, value)
        editing.check_terms_change(p, before)  # the bounds and the lock, again
        db.session.flush()
        audit.record("properties.terms_change_approved", actor=actor, target=p,
                     before={name: _encode(name, before[name]) for name in request.proposed or {}},
                     after=who | {"terms": request.proposed})
        event = "property_terms_change_approved"
    _tell_submitter(request, event, p)
    return p


def reject(request: PropertyApproval, *, actor: User, reason: str | None) -> PropertyApproval:
    """A finance user other than the submitter rejects, with the reason the submitter is told; nothing changes on
    the property (a draft stays editable)."""
    _decider(request, actor, "reject a request")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("a reason is required", {"reason": ["Say why: the submitter is told."]})
    transition(request, APPROVAL_REJECTED, APPROVAL_TRANSITIONS, what=f"request #{request.id}",
               decided_by_id=actor.id, decided_at=utcnow(), reason=reason[:1000])
    p = request.property
    action = "publication_rejected" if request.kind == APPROVAL_PUBLISH else "terms_change_rejected"
    audit.record(f"properties.{action}", actor=actor, target=p, before={"status": APPROVAL_PENDING},
                 after={"request": request.id, "status": APPROVAL_REJECTED}, reason=reason)
    _tell_submitter(request, "property_request_rejected", p, reason=reason)
    return request


def withdraw(request: PropertyApproval, *, actor: User) -> PropertyApproval:
    """The submitter takes a pending request back (to change the draft, say)."""
    if request.submitted_by_id != actor.id:
        raise Forbidden("only the submitter withdraws a request")
    transition(request, APPROVAL_WITHDRAWN, APPROVAL_TRANSITIONS, what=f"request #{request.id}",
               decided_by_id=actor.id, decided_at=utcnow())
    audit.record("properties.request_withdrawn", actor=actor, target=request.property,
                 before={"status": APPROVAL_PENDING}, after={"request": request.id, "status": APPROVAL_WITHDRAWN})
    return request


def _tell_submitter(request: PropertyApproval, event: str, p: Property, **extra: Any) -> None:
    submitter = request.submitted_by
    if submitter is None or submitter.status != "active":
        return
    notify(submitter, event, link=external_url("properties.details_view", id=p.id), title=p.title,
           kind=request.label, request_id=request.id, **extra)
