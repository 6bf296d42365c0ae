"""Two admins for the changes that could hand over a staff account: resetting its two-factor authentication and
unblocking it (maker-checker, as payouts have it). One admin proposes with a reason; a different admin, who is not
the account's owner either, approves with a reason, and only then is the change applied, in the same transaction
as the approval's conditional update (a replayed or concurrent approval applies nothing twice). Another admin may
reject; the proposer may cancel. Each step is audited.

An investor's two-factor reset stays with support, at once (`reset_2fa`). On the server, `flask users reset-2fa`
is the break-glass for a sole admin (`break_glass_reset_2fa`)."""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.auth import mfa
from app.auth.hierarchy import STAFF_PERMISSION, require_may_act
from app.auth.models import (
    STAFF_REQUEST_ACTIONS,
    STAFF_REQUEST_APPROVED,
    STAFF_REQUEST_CANCELLED,
    STAFF_REQUEST_PENDING,
    STAFF_REQUEST_REJECTED,
    STAFF_REQUEST_RESET_2FA,
    STAFF_REQUEST_TRANSITIONS,
    STAFF_REQUEST_UNBLOCK,
    USER_BLOCKED,
    StaffActionRequest,
    User,
)
from app.auth.staff import apply_unblock, need_reason
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, NotFound, ValidationError
from app.core.states import transition
from app.extensions import db

_WHAT = {STAFF_REQUEST_RESET_2FA: "reset the two-factor authentication of", STAFF_REQUEST_UNBLOCK: "unblock"}


def reset_2fa(user: User, *, actor: User, reason: str | None) -> int:
    """Support resets an investor's two-factor authentication at once; a staff member's takes two admins."""
    require_may_act(actor, user, "users.reset_2fa", what=_WHAT[STAFF_REQUEST_RESET_2FA])
    if user.is_staff:
        raise Forbidden("resetting a staff member's two-factor authentication takes a second admin: propose it, "
                        "and another admin approves")
    return mfa.staff_reset(user, actor=actor, reason=reason)


def _check_applicable(action: str, user: User) -> None:
    if action == STAFF_REQUEST_RESET_2FA and not user.totp_enabled:
        raise Conflict("this user has no two-factor authentication to reset")
    if action == STAFF_REQUEST_UNBLOCK and user.status != USER_BLOCKED:
        raise Conflict("this user is not blocked")


def pending_staff_requests(user_id: int) -> list[StaffActionRequest]:
    return list(db.session.scalars(select(StaffActionRequest).where(
        StaffActionRequest.target_id == user_id, StaffActionRequest.status == STAFF_REQUEST_PENDING)
        .order_by(StaffActionRequest.id)))


def pending_staff_count() -> int:
    return db.session.execute(select(db.func.count(StaffActionRequest.id)).where(
        StaffActionRequest.status == STAFF_REQUEST_PENDING)).scalar_one()


def propose_staff_change(action: str, user: User, *, actor: User, reason: str | None) -> StaffActionRequest:
    """An admin proposes resetting the 2FA of, or unblocking, a staff account other than their own."""
    if action not in STAFF_REQUEST_ACTIONS:
        raise ValidationError("unknown action", {"action": ["Reset two-factor authentication or unblock."]})
    require_may_act(actor, user, STAFF_PERMISSION, what=_WHAT[action])
    if not user.is_staff:
        raise Conflict("this is not a staff account: no second admin is needed")
    reason = need_reason(reason)
    _check_applicable(action, user)
    if any(r.action == action for r in pending_staff_requests(user.id)):
        raise Conflict("the same change to this account is already waiting for a second admin")
    request = StaffActionRequest(action=action, target_id=user.id, proposer_id=actor.id, reason=reason,
                                 status=STAFF_REQUEST_PENDING)
    try:
        with db.session.begin_nested():
            db.session.add(request)
    except IntegrityError:  # proposed meanwhile by another admin (one pending request per account and action)
        raise Conflict("the same change to this account is already waiting for a second admin") from None
    audit.record("staff_requests.propose", actor=actor, target=user,
                 after={"request": request.id, "action": action, "status": STAFF_REQUEST_PENDING}, reason=reason)
    return request


def staff_request(request_id: int) -> StaffActionRequest:
    request = db.session.get(StaffActionRequest, request_id)
    if request is None:
        raise NotFound("no such request")
    return request


def approve_staff_request(request: StaffActionRequest, *, actor: User, reason: str | None) -> None:
    """A second admin approves: the request moves pending -> approved with one conditional update and the change
    is applied in the same transaction. The proposer and the account's owner never approve."""
    target = request.target
    require_may_act(actor, target, STAFF_PERMISSION, what="approve a change to")
    if request.proposer_id == actor.id:
        raise Forbidden("a second, different admin must approve this request")
    reason = need_reason(reason)
    transition(request, STAFF_REQUEST_APPROVED, STAFF_REQUEST_TRANSITIONS, what=f"request #{request.id}",
               decided_by_id=actor.id, decided_at=utcnow(), decision_reason=reason)
    who = {"request": request.id, "proposed_by": request.proposer.email, "approved_by": actor.email}
    if request.action == STAFF_REQUEST_RESET_2FA:
        mfa.staff_reset(target, actor=actor, reason=request.reason, extra=who)
    else:
        apply_unblock(target, actor=actor, reason=request.reason, extra=who)
    audit.record("staff_requests.approve", actor=actor, target=target,
                 before={"status": STAFF_REQUEST_PENDING},
                 after={"status": STAFF_REQUEST_APPROVED, **who, "action": request.action}, reason=reason)


def decline_staff_request(request: StaffActionRequest, *, actor: User, reason: str | None) -> str:
    """Another admin rejects the request, or its proposer cancels it; nothing is applied. Returns the new status."""
    require_may_act(actor, request.target, STAFF_PERMISSION, what="decide on a change to")
    reason = need_reason(reason)
    status = STAFF_REQUEST_CANCELLED if request.proposer_id == actor.id else STAFF_REQUEST_REJECTED
    transition(request, status, STAFF_REQUEST_TRANSITIONS, what=f"request #{request.id}",
               decided_by_id=actor.id, decided_at=utcnow(), decision_reason=reason)
    audit.record(f"staff_requests.{'cancel' if status == STAFF_REQUEST_CANCELLED else 'reject'}", actor=actor,
                 target=request.target, before={"status": STAFF_REQUEST_PENDING},
                 after={"status": status, "request": request.id, "action": request.action}, reason=reason)
    return status


def break_glass_reset_2fa(user: User, *, reason: str | None) -> int:
    """`flask users reset-2fa` on the server: resets anyone's 2FA (a sole admin's included) without a second
    admin; audited with no actor, as the command line. A pending request to reset it is cancelled as done."""
    reason = need_reason(reason)
    ended = mfa.staff_reset(user, actor=None, reason=reason, extra={"via": "command line (break-glass)"})
    db.session.execute(
        update(StaffActionRequest).where(StaffActionRequest.target_id == user.id,
                                         StaffActionRequest.action == STAFF_REQUEST_RESET_2FA,
                                         StaffActionRequest.status == STAFF_REQUEST_PENDING)
        .values(status=STAFF_REQUEST_CANCELLED, decided_at=utcnow(), updated_at=utcnow(),
                decision_reason="done on the server's command line")
        .execution_options(synchronize_session=False))
    return ended
