"""Changes of an investor's name. Before the identity is approved a new name applies at once; after it, payouts
compare names with the verified identity, so the change waits as a request for compliance (permission
`kyc.review`), who approve it (the name is applied) or reject it with a reason; both audited, and the investor is
told. One open request per user. Staff editing a profile on the investor's behalf submit through the same
`propose_name_change(user, first, last, by=staff)`."""
from __future__ import annotations

import unicodedata

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.auth.models import User
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, NotFound, ValidationError
from app.core.security import has_permission
from app.core.states import transition
from app.extensions import db
from app.kyc.models import (
    APPROVED,
    NAME_APPROVED,
    NAME_CHANGE_TRANSITIONS,
    NAME_PROPOSED,
    NAME_REJECTED,
    NameChangeRequest,
)
from app.kyc.status import overall_status
from app.notifications.services import notify

MAX_NAME = 100
_PUNCTUATION = set(" '’-.")


def clean_name(value: str | None, field: str) -> str:
    """A name as people write theirs: letters of any script with their accents, spaces, apostrophes, hyphens and
    dots; at most 100 characters. Markup, digits, symbols and control characters are refused."""
    name = " ".join(unicodedata.normalize("NFC", value or "").split())
    if not name:
        raise ValidationError("a name is needed", {field: ["Enter a name."]})
    if len(name) > MAX_NAME:
        raise ValidationError("the name is too long", {field: ["Use at most 100 characters."]})
    if any(not (unicodedata.category(ch)[0] in "LM" or ch in _PUNCTUATION) for ch in name):
        raise ValidationError("the name has characters a name does not",
                              {field: ["Use letters, spaces, apostrophes, hyphens and dots only."]})
    return name


def open_request(user_id: int) -> NameChangeRequest | None:
    return db.session.scalar(select(NameChangeRequest).where(
        NameChangeRequest.user_id == user_id, NameChangeRequest.status == NAME_PROPOSED))


def needs_review(user: User) -> bool:
    """Whether a name change of this user goes to compliance (the identity was approved)."""
    return overall_status(user.id) == APPROVED


def propose_name_change(user: User, first_name: str | None, last_name: str | None, *,
                        by: User) -> NameChangeRequest | None:
    """Change the name now (identity not approved yet: None is returned) or open a request for compliance."""
    first = clean_name(first_name, "first_name")
    last = clean_name(last_name, "last_name")
    if (first, last) == (user.first_name, user.last_name):
        return None
    if not needs_review(user):
        before = {"first_name": user.first_name, "last_name": user.last_name}
        user.first_name, user.last_name = first, last
        db.session.flush()
        audit.record("profile.name_changed", actor=by, target=user, before=before,
                     after={"first_name": first, "last_name": last})
        return None
    waiting = Conflict("a name change is already waiting", {"first_name": [
        "A change of name is already waiting for compliance: you will be told when it is decided."]})
    if open_request(user.id) is not None:
        raise waiting
    request = NameChangeRequest(user_id=user.id, old_first_name=user.first_name, old_last_name=user.last_name,
                                new_first_name=first, new_last_name=last, status=NAME_PROPOSED, proposed_by_id=by.id)
    try:
        with db.session.begin_nested():  # a second request at the same moment meets the one-open index
            db.session.add(request)
            db.session.flush()
    except IntegrityError:
        raise waiting from None
    audit.record("kyc.name_change_proposed", actor=by, target=request,
                 before={"first_name": user.first_name, "last_name": user.last_name},
                 after={"first_name": first, "last_name": last})
    return request


def request_for_review(request_id: int) -> NameChangeRequest:
    request = db.session.get(NameChangeRequest, request_id)
    if request is None:
        raise NotFound("no such name change request")
    return request


def _check_reviewer(request: NameChangeRequest, actor: User) -> None:
    if not has_permission(actor, "kyc.review"):
        raise Forbidden("reviewing name changes needs the KYC review permission")
    if actor.id in (request.user_id, request.proposed_by_id):
        raise Forbidden("a name change is decided by someone other than its owner and its proposer")


def approve_name_change(request: NameChangeRequest, *, actor: User) -> NameChangeRequest:
    _check_reviewer(request, actor)
    transition(request, NAME_APPROVED, NAME_CHANGE_TRANSITIONS, what="this name change",
               decided_by_id=actor.id, decided_at=utcnow())
    user = request.user
    before = {"first_name": user.first_name, "last_name": user.last_name}
    user.first_name, user.last_name = request.new_first_name, request.new_last_name
    db.session.flush()
    audit.record("kyc.name_change_approved", actor=actor, target=request, before=before,
                 after={"first_name": user.first_name, "last_name": user.last_name})
    notify(user, "name_change_decided", decision="approved", new_name=request.new_name, reason=None)
    return request


def reject_name_change(request: NameChangeRequest, reason: str | None, *, actor: User) -> NameChangeRequest:
    _check_reviewer(request, actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("a reason is needed", {"reason": ["Say why the change is rejected."]})
    transition(request, NAME_REJECTED, NAME_CHANGE_TRANSITIONS, what="this name change",
               decided_by_id=actor.id, decided_at=utcnow(), reason=reason[:1000])
    audit.record("kyc.name_change_rejected", actor=actor, target=request, reason=request.reason,
                 after={"status": NAME_REJECTED})
    notify(request.user, "name_change_decided", decision="rejected", new_name=request.new_name,
           reason=request.reason)
    return request


def open_count() -> int:
    return db.session.scalar(select(func.count(NameChangeRequest.id)).where(
        NameChangeRequest.status == NAME_PROPOSED)) or 0
