"""A payout request and the states it moves through: requested (amount + fee held from the wallet), approved (by
one finance user, or two different ones above the threshold), paid with a bank reference, or rejected, cancelled
by the investor, failed at the bank (the hold released exactly). Every move is an allowed transition claimed with
a conditional UPDATE, logged on the payout's trail, audited and told to the investor."""
from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import CursorResult, select, update

from app.auth.models import User
from app.auth.services import require_verified
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Forbidden, IllegalTransition, InsufficientFunds, NotFound, ValidationError
from app.core.money import Money
from app.core.security import has_permission
from app.core.states import transition
from app.extensions import db
from app.kyc.services import WITHDRAW, require_approved
from app.ledger import services as ledger
from app.ledger.models import FEE_REVENUE, PAYOUTS_IN_TRANSIT, USER_WALLET, Account
from app.notifications.services import notify
from app.payments.services import guard_card_funds
from app.payouts.models import (
    PAYOUT_APPROVED,
    PAYOUT_CANCELLED,
    PAYOUT_FAILED,
    PAYOUT_PAID,
    PAYOUT_REJECTED,
    PAYOUT_REQUESTED,
    PAYOUT_TRANSITIONS,
    Payout,
    PayoutEvent,
    PayoutMethod,
    mask,
)
from app.payouts.risk import above_dual_approval, check_limits, needs_two_approvals, risk_flags
from app.payouts.terms import is_id, quote


# the trail, the investor, the staff -------------------------------------------------------------------------------
def log_event(payout: Payout, kind: str, from_status: str | None, to_status: str | None, *, actor_id=None,
              detail: dict | None = None) -> None:
    db.session.add(PayoutEvent(payout_id=payout.id, kind=kind, from_status=from_status, to_status=to_status,
                               actor_id=actor_id, detail=detail))


def _transition(payout: Payout, to: str, *, actor_id: int | None, detail: dict | None = None, **values) -> None:
    """The one way a payout changes state: allowed by PAYOUT_TRANSITIONS and claimed with a conditional UPDATE
    (so two people acting at once cannot both move it), then written on the payout's trail."""
    current = transition(payout, to, PAYOUT_TRANSITIONS, what=f"payout #{payout.id}", **values)
    log_event(payout, to, current, to, actor_id=actor_id, detail=detail)


def _notify(payout: Payout, event: str, **extra) -> None:
    method = payout.method
    notify(payout.user, event, payout_id=payout.id, amount=Money(payout.amount, payout.currency),
           fee=Money(payout.fee, payout.currency), bank=method.bank_name,
           account=mask(method.account_number), **extra)


def require_staff(actor, *, payout: Payout | None = None) -> None:
    """Only finance (payouts.approve) decides, and never on a payout of their own account."""
    if not has_permission(actor, "payouts.approve"):
        raise Forbidden("this needs the payouts.approve permission")
    if payout is not None and payout.user_id == actor.id:
        raise Forbidden("nobody acts on a payout of their own account")


def _reason(reason: str | None, field: str = "reason") -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("a reason is required", {field: ["Say why: the investor is told."]})
    if len(reason) > 2000:
        raise ValidationError("the reason is too long", {field: ["At most 2,000 characters."]})
    return reason


def clean_bank_reference(reference: str | None) -> str:
    reference = (reference or "").strip()
    if not reference:
        raise ValidationError("the bank reference is required",
                              {"bank_reference": ["The reference of the bank transfer."]})
    if len(reference) > 200 or any(ord(c) < 32 for c in reference):
        raise ValidationError("the bank reference is not valid", {"bank_reference": ["At most 200 characters."]})
    return reference


# request ----------------------------------------------------------------------------------------------------------
def _lock_wallet(user_id: int) -> None:
    """Serialise one user's payout requests (limits are read, then written) on PostgreSQL; SQLite serialises
    writers anyway."""
    wallet = ledger.user_account(user_id, USER_WALLET)
    db.session.execute(select(Account.id).where(Account.id == wallet.id).with_for_update())


def request_payout(user: User, amount: Money, payout_method_id) -> Payout:
    """Hold `amount + fee` from the wallet for a withdrawal to one of the user's usable bank accounts."""
    require_verified(user)
    require_approved(user, WITHDRAW)
    if amount.currency != ledger.platform_currency():
        raise ValidationError("wrong currency", {"amount": [f"Amounts are in {ledger.platform_currency()}."]})
    method = db.session.get(PayoutMethod, payout_method_id) if is_id(payout_method_id) else None
    if method is None or method.user_id != user.id:
        raise ValidationError("no such payout method", {"payout_method_id": ["Choose one of your bank accounts."]})
    now = utcnow()
    if method.usable_from is not None and not method.usable_at(now):
        raise ValidationError("this bank account is still in its cooling-off period", {"payout_method_id": [
            f"New or changed accounts can be used from {method.usable_from.strftime('%Y-%m-%d %H:%M UTC')}."]})
    _lock_wallet(user.id)
    check_limits(user.id, amount)
    q = quote(amount)
    available = ledger.balance_of(user.id).available
    if q.total > available:
        raise InsufficientFunds("the amount and fee are above your available balance", {"amount": [
            f"{q.amount.display()} plus the {q.fee.display()} fee is more than your available "
            f"{available.display()}."]})
    guard_card_funds(user.id, q.total.minor)  # card money inside its hold stays (the wallet is locked above)
    token = uuid.uuid4().hex
    memo = f"Payout to {method.bank_name} {mask(method.account_number)} (held)"
    try:
        hold = ledger.hold(user.id, q.total.minor, key=f"payout-request:{token}", memo=memo, actor_id=user.id)
    except InsufficientFunds:
        raise InsufficientFunds("the amount and fee are above your available balance",
                                {"amount": ["Not enough available in your wallet."]}) from None
    payout = Payout(user_id=user.id, payout_method_id=method.id, amount=q.amount.minor, fee=q.fee.minor,
                    currency=q.amount.currency, status=PAYOUT_REQUESTED, hold_id=hold.id,
                    needs_two_approvals=above_dual_approval(amount),
                    risk_flags=risk_flags(user.id, amount, method, now=now))
    db.session.add(payout)
    db.session.flush()
    log_event(payout, "requested", None, PAYOUT_REQUESTED, actor_id=user.id,
              detail={"amount": q.amount.amount_str(), "fee": q.fee.amount_str(), "flags": payout.risk_flags})
    audit.record("payouts.request", actor=user, target=payout,
                 after={"amount": payout.amount, "fee": payout.fee, "method": method.id, "flags": payout.risk_flags})
    _notify(payout, "payout_requested")
    return payout


# decisions --------------------------------------------------------------------------------------------------------
def approve(payout: Payout, *, actor) -> str:
    """Approve a requested payout. Above the threshold two different finance users must approve: the first
    approval is recorded and the payout stays requested. Returns "approved" or "awaiting_second_approval"."""
    require_staff(actor, payout=payout)
    if payout.status != PAYOUT_REQUESTED:
        raise IllegalTransition(f"payout #{payout.id} is {payout.status}: only requested payouts are approved")
    if needs_two_approvals(payout):
        if payout.first_approver_id is None:
            # not a change of state: the first of two approvals is claimed on its own column
            claimed = cast("CursorResult[Any]", db.session.execute(
                update(Payout).where(Payout.id == payout.id, Payout.status == PAYOUT_REQUESTED,
                                     Payout.first_approver_id.is_(None))
                .values(first_approver_id=actor.id, first_approved_at=utcnow(), updated_at=utcnow())
                .execution_options(synchronize_session=False))).rowcount
            db.session.refresh(payout)
            if claimed == 1:
                log_event(payout, "first_approval", PAYOUT_REQUESTED, PAYOUT_REQUESTED, actor_id=actor.id)
                audit.record("payouts.first_approval", actor=actor, target=payout,
                             after={"amount": payout.amount})
                return "awaiting_second_approval"
        if payout.first_approver_id == actor.id:
            raise Forbidden("a second, different finance user must approve this payout")
    _transition(payout, PAYOUT_APPROVED, actor_id=actor.id, approver_id=actor.id, approved_at=utcnow())
    audit.record("payouts.approve", actor=actor, target=payout, before={"status": PAYOUT_REQUESTED},
                 after={"status": PAYOUT_APPROVED, "amount": payout.amount,
                        "first_approver": payout.first_approver_id})
    _notify(payout, "payout_approved")
    return "approved"


def _release(payout: Payout, *, actor_id: int | None, memo: str) -> None:
    ledger.release(payout.hold, key=f"payout:{payout.id}:release", memo=memo, actor_id=actor_id)


def reject(payout: Payout, *, actor, reason: str | None) -> Payout:
    require_staff(actor, payout=payout)
    reason = _reason(reason)
    _transition(payout, PAYOUT_REJECTED, actor_id=actor.id, detail={"reason": reason},
                decided_by_id=actor.id, decided_at=utcnow(), reason=reason)
    _release(payout, actor_id=actor.id, memo=f"Payout #{payout.id} rejected: held funds returned")
    audit.record("payouts.reject", actor=actor, target=payout, before={"status": PAYOUT_REQUESTED},
                 after={"status": PAYOUT_REJECTED}, reason=reason)
    _notify(payout, "payout_rejected", reason=reason)
    return payout


def cancel(payout: Payout, *, user) -> Payout:
    """The investor withdraws their own request while it is still requested; the hold is released exactly."""
    if payout.user_id != user.id:
        raise NotFound("no such payout")
    _transition(payout, PAYOUT_CANCELLED, actor_id=user.id, decided_by_id=user.id, decided_at=utcnow())
    _release(payout, actor_id=user.id, memo=f"Payout #{payout.id} cancelled: held funds returned")
    audit.record("payouts.cancel", actor=user, target=payout, before={"status": PAYOUT_REQUESTED},
                 after={"status": PAYOUT_CANCELLED})
    _notify(payout, "payout_cancelled")
    return payout


def mark_paid(payout: Payout, *, actor, bank_reference: str | None) -> Payout:
    """The bank sent the money: the hold is settled to payouts in transit and the fee moves to fee revenue."""
    require_staff(actor, payout=payout)
    reference = clean_bank_reference(bank_reference)
    _transition(payout, PAYOUT_PAID, actor_id=actor.id, detail={"bank_reference": reference},
                decided_by_id=actor.id, decided_at=utcnow(), bank_reference=reference)
    memo = f"Payout #{payout.id} paid, bank reference {reference}"
    in_transit = ledger.platform_account(PAYOUTS_IN_TRANSIT)
    hold = ledger.settle(payout.hold, key=f"payout:{payout.id}:settle", destination=in_transit, memo=memo,
                         actor_id=actor.id)
    if payout.fee:
        ledger.post([(in_transit, -payout.fee), (ledger.platform_account(FEE_REVENUE), payout.fee)],
                    key=f"payout:{payout.id}:fee", kind="payout_fee", memo=f"Payout #{payout.id} fee",
                    actor_id=actor.id)
    payout.settle_entry_id = hold.resolution_entry_id
    db.session.flush()
    audit.record("payouts.mark_paid", actor=actor, target=payout, before={"status": PAYOUT_APPROVED},
                 after={"status": PAYOUT_PAID, "bank_reference": reference, "amount": payout.amount,
                        "fee": payout.fee})
    _notify(payout, "payout_paid", bank_reference=reference)
    return payout


def mark_failed(payout: Payout, *, actor, reason: str | None) -> Payout:
    """The transfer did not go through (returned by the bank, account closed...): the hold is released."""
    require_staff(actor, payout=payout)
    reason = _reason(reason)
    _transition(payout, PAYOUT_FAILED, actor_id=actor.id, detail={"reason": reason},
                decided_by_id=actor.id, decided_at=utcnow(), reason=reason)
    _release(payout, actor_id=actor.id, memo=f"Payout #{payout.id} failed: held funds returned")
    audit.record("payouts.mark_failed", actor=actor, target=payout, before={"status": PAYOUT_APPROVED},
                 after={"status": PAYOUT_FAILED}, reason=reason)
    _notify(payout, "payout_failed", reason=reason)
    return payout
