"""Bank transfers: the investor adds a proof of the transfer, finance confirms the money arrived (two different
people above the threshold) or rejects it. Services flush and never commit."""
from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, update

from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, IllegalTransition, NotFound, ValidationError
from app.core.security import has_permission
from app.core.storage import get_storage, new_key
from app.core.uploads import UploadRejected, clean_upload
from app.extensions import db
from app.payments import timeline
from app.payments.deposits import complete_deposit, fail_deposit
from app.payments.gateway_settings import second_approval_above
from app.payments.models import DEPOSIT_PENDING, Deposit


def attach_proof(deposit: Deposit, user, data: bytes) -> Deposit:
    if deposit.user_id != user.id:
        raise NotFound("no such deposit")
    if deposit.gateway != "bank_transfer" or deposit.status != DEPOSIT_PENDING:
        raise Conflict("proof can only be added to a pending bank transfer")
    try:
        clean = clean_upload(data)
    except UploadRejected as exc:
        raise ValidationError("the proof is not acceptable", {"proof": [exc.message]}) from None
    key = new_key(f"deposits/{user.id}", clean.extension)
    get_storage().put(key, clean.data, clean.content_type)
    deposit.proof_key, deposit.proof_content_type = key, clean.content_type
    db.session.flush()
    timeline.log(deposit, "proof_added", {"content_type": clean.content_type, "size": clean.size}, actor_id=user.id)
    return deposit


def approve_bank_transfer(deposit: Deposit, *, actor) -> str:
    """Finance confirms the money arrived. Above the threshold two different people must approve."""
    if not has_permission(actor, "deposits.approve"):
        raise Forbidden("approving deposits needs deposits.approve")
    if deposit.gateway != "bank_transfer":
        raise Conflict("only bank transfers are approved by hand")
    if deposit.status != DEPOSIT_PENDING:
        raise IllegalTransition(f"deposit #{deposit.id} is {deposit.status}")
    if deposit.user_id == actor.id:
        raise Forbidden("nobody approves their own deposit")
    # above the threshold two people approve; a deposit that got its first approval under that rule keeps it,
    # whatever the threshold is now (read fresh: another finance user may have just given the first approval)
    db.session.refresh(deposit, ["first_approver_id"])
    if deposit.first_approver_id is not None or deposit.amount > second_approval_above():
        if deposit.first_approver_id is None:
            claimed = cast("CursorResult[Any]", db.session.execute(
                update(Deposit).where(Deposit.id == deposit.id, Deposit.first_approver_id.is_(None))
                .values(first_approver_id=actor.id, first_approved_at=utcnow())
                .execution_options(synchronize_session=False))).rowcount
            db.session.refresh(deposit)
            if claimed:
                timeline.log(deposit, "first_approval", {}, actor_id=actor.id)
                audit.record("deposits.first_approval", actor=actor, target=deposit)
                return "awaiting_second_approval"
        if deposit.first_approver_id == actor.id:
            raise Forbidden("a second finance user must approve this deposit")
    deposit.decided_by_id = actor.id
    complete_deposit(deposit, actor_id=actor.id)
    audit.record("deposits.approve", actor=actor, target=deposit,
                 after={"amount": deposit.amount, "first_approver": deposit.first_approver_id})
    return "credited"


def reject_bank_transfer(deposit: Deposit, *, actor, reason: str | None) -> None:
    if not has_permission(actor, "deposits.approve"):
        raise Forbidden("rejecting deposits needs deposits.approve")
    if not reason or not reason.strip():
        raise ValidationError("a reason is required", {"reason": ["Say why: the investor is told."]})
    deposit.decided_by_id = actor.id
    fail_deposit(deposit, reason.strip(), actor_id=actor.id)
    audit.record("deposits.reject", actor=actor, target=deposit, reason=reason.strip())
