"""Staff close an investor's account on their request, with four eyes (as staff account changes have it in
app.auth.staff_requests): one staff member holding `users.close` proposes with a reason, a different one approves
with a reason and only then is the account closed (the same preconditions and the same closing as the investor's
own), in the same transaction as the approval's conditional update, so a replayed or concurrent approval closes
nothing twice. Another may reject; the proposer may cancel. Nobody acts on their own account; staff accounts are
not closed this way. Each step is audited; a refused attempt is audited by the console."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.account import closing
from app.account.models import (
    CLOSE_APPROVED,
    CLOSE_CANCELLED,
    CLOSE_PENDING,
    CLOSE_REJECTED,
    CLOSE_TRANSITIONS,
    ClosureRequest,
)
from app.auth.models import USER_CLOSED, User
from app.auth.services import need_reason, require_may_act
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, NotFound
from app.core.states import transition
from app.extensions import db

PERMISSION = "users.close"


def pending_for(user_id: int) -> ClosureRequest | None:
    return db.session.scalar(select(ClosureRequest).where(ClosureRequest.target_id == user_id,
                                                          ClosureRequest.status == CLOSE_PENDING))


def pending_count() -> int:
    return db.session.execute(select(func.count(ClosureRequest.id)).where(
        ClosureRequest.status == CLOSE_PENDING)).scalar_one()


def closure_request(request_id: int) -> ClosureRequest:
    request = db.session.get(ClosureRequest, request_id)
    if request is None:
        raise NotFound("no such request")
    return request


def _check_target(user: User) -> None:
    if user.is_staff:
        raise Conflict("this is a staff account: it is not closed this way")
    if user.status == USER_CLOSED:
        raise Conflict("this account is already closed")


def _refuse_if_blocked(user: User) -> None:
    found = closing.blockers(user)
    if found:
        raise Conflict("the account cannot be closed yet: " + ", ".join(b.key for b in found) + " left",
                       {b.key: [b.message] for b in found})


def propose_closure(user: User, *, actor: User, reason: str | None) -> ClosureRequest:
    """A staff member proposes closing an investor's account (on the investor's request)."""
    require_may_act(actor, user, PERMISSION, what="close")
    _check_target(user)
    reason = need_reason(reason)
    _refuse_if_blocked(user)
    if pending_for(user.id) is not None:
        raise Conflict("closing this account is already waiting for a second approval")
    request = ClosureRequest(target_id=user.id, proposer_id=actor.id, reason=reason, status=CLOSE_PENDING)
    try:
        with db.session.begin_nested():
            db.session.add(request)
    except IntegrityError:  # proposed meanwhile by someone else (one pending request per account)
        raise Conflict("closing this account is already waiting for a second approval") from None
    audit.record("account.close_proposed", actor=actor, target=user,
                 after={"request": request.id, "status": CLOSE_PENDING}, reason=reason)
    return request


def approve_closure(request: ClosureRequest, *, actor: User, reason: str | None) -> None:
    """A second staff member approves: pending -> approved with one conditional update, and the account is
    closed in the same transaction. The proposer and the account's owner never approve."""
    target = request.target
    require_may_act(actor, target, PERMISSION, what="close")
    if request.proposer_id == actor.id:
        raise Forbidden("a second, different staff member must approve this closing")
    reason = need_reason(reason)
    transition(request, CLOSE_APPROVED, CLOSE_TRANSITIONS, what=f"request #{request.id}",
               decided_by_id=actor.id, decided_at=utcnow(), decision_reason=reason)
    who = {"request": request.id, "proposed_by": request.proposer.email, "approved_by": actor.email}
    closing.close_account(target, actor=actor, reason=request.reason, via="staff", extra=who)
    audit.record("account.close_approved", actor=actor, target=("users", target.id),
                 before={"status": CLOSE_PENDING}, after={"status": CLOSE_APPROVED, **who}, reason=reason)


def decline_closure(request: ClosureRequest, *, actor: User, reason: str | None) -> str:
    """Another staff member rejects, or the proposer cancels; nothing is closed. Returns the new status."""
    require_may_act(actor, request.target, PERMISSION, what="decide on closing")
    reason = need_reason(reason)
    status = CLOSE_CANCELLED if request.proposer_id == actor.id else CLOSE_REJECTED
    transition(request, status, CLOSE_TRANSITIONS, what=f"request #{request.id}",
               decided_by_id=actor.id, decided_at=utcnow(), decision_reason=reason)
    audit.record(f"account.close_{'cancelled' if status == CLOSE_CANCELLED else 'rejected'}", actor=actor,
                 target=request.target, before={"status": CLOSE_PENDING},
                 after={"status": status, "request": request.id}, reason=reason)
    return status
