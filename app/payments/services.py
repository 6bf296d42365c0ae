"""Deposit services: create, then credit the wallet exactly once. They flush and never commit."""
from __future__ import annotations

from sqlalchemy import update

from app.core.db import utcnow
from app.core.errors import IllegalTransition, ValidationError
from app.core.money import Money
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import FEE_REVENUE, GATEWAY_CLEARING, USER_WALLET
from app.payments.models import DEPOSIT_PENDING, DEPOSIT_SUCCEEDED, DEPOSIT_TRANSITIONS, Deposit

GATEWAYS = ("stripe", "bank_transfer", "razorpay")
GATEWAY_LABELS = {"stripe": "card (Stripe)", "bank_transfer": "bank transfer", "razorpay": "Razorpay"}


def create_deposit(user_id: int, amount: Money, gateway: str, *, fee: Money | None = None,
                   reference: str | None = None) -> Deposit:
    from app.auth.models import User
    from app.auth.services import require_verified

    user = db.session.get(User, user_id)
    if user is None:
        raise ValidationError("unknown user")
    require_verified(user)
    if gateway not in GATEWAYS:
        raise ValidationError("unknown gateway", {"gateway": [f"Must be one of: {', '.join(GATEWAYS)}."]})
    if amount.currency != ledger.platform_currency():
        raise ValidationError("deposits are taken in the platform currency")
    if not amount.is_positive():
        raise ValidationError("amount must be positive", {"amount": ["Must be greater than zero."]})
    deposit = Deposit(user_id=user_id, gateway=gateway, amount=amount.minor, fee=(fee.minor if fee else 0),
                      currency=amount.currency, status=DEPOSIT_PENDING, gateway_reference=reference)
    db.session.add(deposit)
    db.session.flush()
    return deposit


def _transition(deposit: Deposit, target: str) -> None:
    """Claim the transition with a conditional UPDATE: two callers at once cannot both win."""
    if target not in DEPOSIT_TRANSITIONS[deposit.status]:
        raise IllegalTransition(f"deposit #{deposit.id} cannot go from {deposit.status} to {target}")
    changed = db.session.execute(
        update(Deposit).where(Deposit.id == deposit.id, Deposit.status == deposit.status)
        .values(status=target, updated_at=utcnow(),
                completed_at=utcnow() if target == DEPOSIT_SUCCEEDED else Deposit.completed_at)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        db.session.refresh(deposit)
        raise IllegalTransition(f"deposit #{deposit.id} is already {deposit.status}")
    db.session.refresh(deposit)


def complete_deposit(deposit: Deposit, *, actor_id: int | None = None) -> Deposit:
    """Mark the deposit succeeded and credit the wallet, once. The payer paid amount + fee into clearing."""
    if deposit.status == DEPOSIT_SUCCEEDED:
        return deposit  # already credited: a repeated confirmation changes nothing
    _transition(deposit, DEPOSIT_SUCCEEDED)
    wallet = ledger.user_account(deposit.user_id, USER_WALLET)
    clearing = ledger.platform_account(GATEWAY_CLEARING, deposit.gateway)
    lines = [(clearing, -(deposit.amount + deposit.fee)), (wallet, deposit.amount)]
    if deposit.fee:
        lines.append((ledger.platform_account(FEE_REVENUE), deposit.fee))
    entry = ledger.post(lines, key=f"deposit:{deposit.id}:credit", kind="deposit",
                        memo=f"Deposit #{deposit.id} by {GATEWAY_LABELS[deposit.gateway]}", actor_id=actor_id)
    deposit.ledger_entry_id = entry.id
    db.session.flush()
    return deposit
