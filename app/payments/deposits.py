"""Deposits: start one through a gateway, keep it in step with what the gateway says (credit once, fail, expire,
refund with a receivable when the money is already spent), the redirect back from checkout and expiry. The state
machine is `DEPOSIT_TRANSITIONS`; every move goes through `transition_deposit`. Services flush and never commit."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update

from app.auth import services as auth
from app.auth.models import User
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, IllegalTransition, NotFound, ValidationError
from app.core.money import Money
from app.core.security import has_permission
from app.core.states import check_allowed, transition
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import FEE_REVENUE, GATEWAY_CLEARING, RECEIVABLES, USER_WALLET, Account
from app.payments import card_funds, timeline
from app.payments.gateway_settings import GATEWAY_LABELS, GATEWAYS, fee_for, settings_for
from app.payments.gateways.base import EXPIRED, FAILED, PAID, Payment
from app.payments.gateways.registry import get_gateway
from app.payments.models import (
    DEPOSIT_FAILED,
    DEPOSIT_PENDING,
    DEPOSIT_REFUNDED,
    DEPOSIT_SUCCEEDED,
    DEPOSIT_TRANSITIONS,
    DISPUTE_LOST,
    DISPUTE_OPEN,
    Deposit,
    Dispute,
    Receivable,
)

ABANDONED_AFTER = timedelta(hours=48)
# session.info key: the ledger accounts a batch of credits locked already (code -> account), see inbox
LOCKED_ACCOUNTS = "freehold_batch_accounts"


# the state machine ---------------------------------------------------------------------------------------------------
def transition_deposit(deposit: Deposit, target: str, **values) -> None:
    """Claim the transition with a conditional UPDATE: two callers at once cannot both win."""
    transition(deposit, target, DEPOSIT_TRANSITIONS, what=f"deposit #{deposit.id}", **values)


def reference_of(deposit: Deposit) -> str:
    """The reference its gateway gave the deposit's payment: set when the checkout is created, before the
    gateway can tell about the payment or take it."""
    if deposit.gateway_reference is None:
        raise RuntimeError(f"deposit #{deposit.id} has no gateway reference")
    return deposit.gateway_reference


# creating ------------------------------------------------------------------------------------------------------------
def create_deposit(user_id: int, amount: Money, gateway: str, *, fee: Money | None = None,
                   reference: str | None = None) -> Deposit:
    user = db.session.get(User, user_id)
    if user is None:
        raise ValidationError("unknown user")
    auth.require_verified(user)
    if gateway not in GATEWAYS:
        raise ValidationError("unknown gateway", {"gateway": [f"Must be one of: {', '.join(GATEWAYS)}."]})
    if amount.currency != ledger.platform_currency():
        raise ValidationError("deposits are taken in the platform currency",
                              {"amount": [f"Deposits are in {ledger.platform_currency()}."]})
    if not amount.is_positive():
        raise ValidationError("amount must be positive", {"amount": ["Must be greater than zero."]})
    deposit = Deposit(user_id=user_id, gateway=gateway, amount=amount.minor, fee=(fee.minor if fee else 0),
                      currency=amount.currency, status=DEPOSIT_PENDING, gateway_reference=reference,
                      refunded_amount=0)
    db.session.add(deposit)
    db.session.flush()
    timeline.log(deposit, "created", {"amount": amount.minor, "fee": deposit.fee, "gateway": gateway})
    return deposit


def start_deposit(user, amount: Money, gateway: str) -> Deposit:
    """A pending deposit within the gateway's limits, its fee fixed now (shown before paying)."""
    if gateway not in GATEWAYS:
        raise ValidationError("unknown gateway", {"gateway": [f"Must be one of: {', '.join(GATEWAYS)}."]})
    setting = settings_for(gateway)
    if not setting.enabled or not get_gateway(gateway).enabled():
        raise ValidationError("this payment method is not available", {"gateway": ["Not available now."]})
    if not setting.min_amount <= amount.minor <= setting.max_amount:
        low, high = Money(setting.min_amount, amount.currency), Money(setting.max_amount, amount.currency)
        raise ValidationError("amount outside the limits",
                              {"amount": [f"Between {low.amount_str()} and {high.amount_str()}."]})
    return create_deposit(user.id, amount, gateway, fee=Money(fee_for(setting, amount.minor), amount.currency))


def open_payment(deposit: Deposit, *, success_url: str, cancel_url: str) -> Deposit:
    """Ask the gateway for a checkout (idempotent on the deposit), in the unit of work that created the deposit:
    both commit together. The gateway's idempotency key names this deposit row alone (its id and creation time: a
    rolled-back row's id may be given again on SQLite), so a checkout opened by a transaction that failed is never
    handed to another deposit."""
    if deposit.gateway_reference:
        return deposit
    checkout = get_gateway(deposit.gateway).create_payment(
        deposit_id=deposit.id, amount=deposit.amount + deposit.fee, currency=deposit.currency,
        customer_email=deposit.user.email, success_url=success_url, cancel_url=cancel_url,
        idempotency_key=f"freehold-deposit-{deposit.id}-{deposit.created_at:%Y%m%d%H%M%S%f}")
    deposit.gateway_reference = checkout.reference
    deposit.checkout_url = checkout.redirect_url
    deposit.instructions = checkout.instructions
    deposit.checkout_data = dict(checkout.data) or None
    db.session.flush()
    timeline.log(deposit, "checkout_opened", {"reference": checkout.reference})
    return deposit


# crediting, failing, refunding -----------------------------------------------------------------------------------
def complete_deposit(deposit: Deposit, *, actor_id: int | None = None, charge_reference: str | None = None,
                     locked: bool = False) -> Deposit:
    """Mark the deposit succeeded and credit the wallet, once. The payer paid amount + fee into clearing.
    charge_reference: the gateway's payment id, recorded with the same UPDATE. locked: the caller holds the
    deposit's row lock (SELECT ... FOR UPDATE), so nobody else can be crediting it meanwhile.

    The entry is posted first, then the deposit claims the transition with its entry id in one conditional UPDATE:
    a concurrent second credit either finds the entry's key taken (the ledger returns the first entry) or loses
    the claim, and its whole unit of work rolls back."""
    if deposit.status == DEPOSIT_SUCCEEDED:
        return deposit  # already credited: a repeated confirmation changes nothing
    check_allowed(DEPOSIT_TRANSITIONS, deposit.status, DEPOSIT_SUCCEEDED, f"deposit #{deposit.id}")
    wallet, clearing, revenue = _credit_accounts(deposit)
    lines = [(clearing, -(deposit.amount + deposit.fee)), (wallet, deposit.amount)]
    if deposit.fee and revenue is not None:  # there is a revenue account exactly when there is a fee
        lines.append((revenue, deposit.fee))
    entry = ledger.post(lines, key=f"deposit:{deposit.id}:credit", kind="deposit",
                        memo=f"Deposit #{deposit.id} by {GATEWAY_LABELS[deposit.gateway]}", actor_id=actor_id,
                        exclusive=locked)  # under the lock the key is ours and a credit cannot overdraw
    extra = {"charge_reference": charge_reference} if charge_reference else {}
    transition_deposit(deposit, DEPOSIT_SUCCEEDED, completed_at=utcnow(), ledger_entry_id=entry.id, **extra)
    card_funds.lock_deposit(deposit)  # card money stays inside the hold for a while (nothing for bank transfers)
    timeline.log(deposit, "credited", {"entry": entry.id, "amount": deposit.amount, "fee": deposit.fee},
                 actor_id=actor_id)
    timeline.tell_investor(deposit, "deposit_received")
    return deposit


def _credit_accounts(deposit: Deposit) -> tuple[Account, Account, Account | None]:
    """The wallet, the gateway's clearing account and (with a fee) fee revenue, read in one query."""
    codes: dict[str, Account | None] = {ledger.account_code(USER_WALLET, user_id=deposit.user_id): None,
             ledger.account_code(GATEWAY_CLEARING, ref=deposit.gateway): None}
    if deposit.fee:
        codes[ledger.account_code(FEE_REVENUE)] = None
    locked = db.session.info.get(LOCKED_ACCOUNTS, {})
    if all(code in locked for code in codes):  # the drainer's batch locked them all already
        codes = {code: locked[code] for code in codes}
    else:
        for account in db.session.scalars(select(Account).where(Account.code.in_(list(codes)))):
            codes[account.code] = account
    wallet, clearing, *revenue = codes.values()
    if wallet is None:
        wallet = ledger.user_account(deposit.user_id, USER_WALLET)  # raises NotFound
    clearing = clearing or ledger.platform_account(GATEWAY_CLEARING, deposit.gateway)  # created on first use
    if deposit.fee and revenue[0] is None:
        revenue = [ledger.platform_account(FEE_REVENUE)]
    return wallet, clearing, (revenue[0] if revenue else None)


def fail_deposit(deposit: Deposit, reason: str, *, actor_id: int | None = None) -> Deposit:
    if deposit.status == DEPOSIT_FAILED:
        return deposit
    transition_deposit(deposit, DEPOSIT_FAILED, failure_reason=reason[:300])
    timeline.log(deposit, "failed", {"reason": reason}, actor_id=actor_id)
    timeline.tell_investor(deposit, "deposit_failed", reason=reason)
    return deposit


def refund(deposit: Deposit, amount: int | None, *, actor, reason: str) -> Deposit:
    """Finance refunds a deposit (all of it by default) through its gateway, then the ledger follows.

    The deposit's row is locked first (`SELECT ... FOR UPDATE` on PostgreSQL) and what is left to refund is read
    under the lock: two finance users refunding one deposit at once take turns, and the second sees the first's
    refund (a full refund leaves nothing: refused; a partial one leaves only the rest). The gateway's refund is
    keyed on the deposit and the new cumulative total, so the same refund asked twice is one refund there."""
    if not has_permission(actor, "deposits.approve"):
        raise Forbidden("refunds need deposits.approve")
    if not reason or not reason.strip():
        raise ValidationError("a reason is required", {"reason": ["Say why."]})
    db.session.refresh(deposit, with_for_update=True)
    if deposit.status == DEPOSIT_REFUNDED:
        raise IllegalTransition(f"deposit #{deposit.id} is refunded already: nothing is left to refund")
    if deposit.status != DEPOSIT_SUCCEEDED:
        raise IllegalTransition(f"deposit #{deposit.id} is {deposit.status}")
    if db.session.scalar(select(Dispute.id).where(Dispute.deposit_id == deposit.id,
                                                  Dispute.status.in_((DISPUTE_OPEN, DISPUTE_LOST)))):
        # the payer has it back already (lost) or may have (open): a refund would return it twice
        raise IllegalTransition(f"deposit #{deposit.id} is disputed: the dispute decides what goes back")
    charged = deposit.amount + deposit.fee
    amount = charged - deposit.refunded_amount if amount is None else amount
    left = charged - deposit.refunded_amount
    if not 0 < amount <= left:
        most = Money(left, deposit.currency).amount_str()
        raise ValidationError(f"amount outside what can be refunded: at most {most}",
                              {"amount": [f"More than zero and at most {most}."]})
    gateway = get_gateway(deposit.gateway)
    total = deposit.refunded_amount + amount
    if gateway.automatic:
        gateway.refund(gateway.fetch_payment(reference_of(deposit)), amount,
                       idempotency_key=f"freehold-refund-{deposit.id}-{total}")
    audit.record("deposits.refund", actor=actor, target=deposit, after={"amount": amount}, reason=reason.strip())
    return apply_refund(deposit, total, actor_id=actor.id)


def apply_refund(deposit: Deposit, refunded_total: int, *, actor_id: int | None = None) -> Deposit:
    """Bring the ledger in line with `refunded_total` (what the gateway has refunded so far). Idempotent: keyed on
    the cumulative total. Money already spent is not taken from the wallet: it becomes a receivable."""
    charged = deposit.amount + deposit.fee
    refunded_total = min(refunded_total, charged)
    previous = deposit.refunded_amount
    if refunded_total <= previous:
        return deposit
    if deposit.status == DEPOSIT_PENDING:  # refunded before we ever credited it: nothing to take back
        transition_deposit(deposit, DEPOSIT_REFUNDED, refunded_amount=refunded_total)
        timeline.log(deposit, "refunded_before_credit", {"refunded": refunded_total}, actor_id=actor_id)
        timeline.tell_investor(deposit, "deposit_refunded",
                               refunded=Money(refunded_total, deposit.currency).as_dict())
        return deposit
    if deposit.status != DEPOSIT_SUCCEEDED:
        raise IllegalTransition(f"deposit #{deposit.id} is {deposit.status}")
    wallet_delta = min(refunded_total, deposit.amount) - min(previous, deposit.amount)
    fee_delta = max(refunded_total - deposit.amount, 0) - max(previous - deposit.amount, 0)
    wallet = _locked_wallet(deposit.user_id)
    take = min(wallet.balance, wallet_delta)
    shortfall = wallet_delta - take
    clearing = ledger.platform_account(GATEWAY_CLEARING, deposit.gateway)
    lines = [(clearing, wallet_delta + fee_delta)]
    if take:
        lines.append((wallet, -take))
    if fee_delta:
        lines.append((ledger.platform_account(FEE_REVENUE), -fee_delta))
    receivable_account = None
    if shortfall:
        receivable_account = ledger.platform_account(RECEIVABLES, f"user-{deposit.user_id}")
        lines.append((receivable_account, -shortfall))
    entry = ledger.post(lines, key=f"deposit:{deposit.id}:refund:{refunded_total}", kind="deposit_refund",
                        memo=f"Refund of deposit #{deposit.id}", actor_id=actor_id)
    card_funds.take_back(deposit.id, wallet_delta)  # what went back to the card is no longer inside the hold
    moved = cast("CursorResult[Any]", db.session.execute(
        update(Deposit).where(Deposit.id == deposit.id, Deposit.refunded_amount == previous)
        .values(refunded_amount=refunded_total).execution_options(synchronize_session=False))).rowcount
    db.session.refresh(deposit)
    if moved != 1:  # refunded meanwhile by someone else: this whole unit of work rolls back, entry included
        raise Conflict(f"deposit #{deposit.id} was refunded meanwhile: look at it again")
    timeline.log(deposit, "refunded", {"entry": entry.id, "refunded_total": refunded_total, "from_wallet": take,
                                       "receivable": shortfall}, actor_id=actor_id)
    if shortfall:
        db.session.add(Receivable(user_id=deposit.user_id, deposit_id=deposit.id, amount=shortfall,
                                  currency=deposit.currency, ledger_entry_id=entry.id))
        db.session.flush()
        timeline.flag(deposit, f"Refunded {Money(wallet_delta, deposit.currency).amount_str()} but only "
                               f"{Money(take, deposit.currency).amount_str()} was left in the wallet: "
                               f"{Money(shortfall, deposit.currency).amount_str()} is owed by the investor.")
    if refunded_total >= charged:
        transition_deposit(deposit, DEPOSIT_REFUNDED)
    timeline.tell_investor(deposit, "deposit_refunded",
                           refunded=Money(wallet_delta + fee_delta, deposit.currency).as_dict())
    return deposit


def _locked_wallet(user_id: int) -> Account:
    """The wallet row, locked for the rest of the transaction (PostgreSQL), so nothing spends it meanwhile."""
    code = ledger.account_code(USER_WALLET, user_id=user_id)
    account = db.session.execute(select(Account).where(Account.code == code).with_for_update()).scalar_one()
    db.session.refresh(account)
    return account


# keeping in step with the gateway ------------------------------------------------------------------------------------
def sync(deposit: Deposit, payment: Payment, *, source: str, locked: bool = False) -> Deposit:
    """Make the deposit agree with what the gateway says, whatever order events came in. Credits only a payment
    that is this deposit's, for its exact amount and currency. locked: as for complete_deposit."""
    timeline.log(deposit, "gateway_state", {"source": source, "status": payment.status, "amount": payment.amount,
                                            "currency": payment.currency, "refunded": payment.refunded_amount})
    problems = []
    if payment.deposit_id is not None and payment.deposit_id != deposit.id:
        problems.append(f"the payment belongs to deposit #{payment.deposit_id}")
    if payment.reference != deposit.gateway_reference:
        problems.append("the payment reference differs")
    if payment.amount != deposit.amount + deposit.fee:
        problems.append(f"paid {payment.amount} instead of {deposit.amount + deposit.fee}")
    if payment.currency.upper() != deposit.currency:
        problems.append(f"paid in {payment.currency} instead of {deposit.currency}")
    if problems:
        timeline.flag(deposit, "; ".join(problems))
        return deposit
    new_charge = payment.charge_reference if payment.charge_reference and not deposit.charge_reference else None
    if payment.status == PAID and not payment.refunded_amount and deposit.status != DEPOSIT_SUCCEEDED:
        return complete_deposit(deposit, charge_reference=new_charge, locked=locked)  # one UPDATE for both
    if new_charge:
        deposit.charge_reference = new_charge
        db.session.flush()
    if payment.refunded_amount:
        return apply_refund(deposit, payment.refunded_amount)
    if payment.status == PAID:
        return complete_deposit(deposit, locked=locked)
    if payment.status in (FAILED, EXPIRED) and deposit.status == DEPOSIT_PENDING:
        return fail_deposit(deposit, "expired" if payment.status == EXPIRED else "the payment failed")
    return deposit


def confirm_redirect(deposit: Deposit, user, reference: str | None) -> Deposit:
    """The investor came back from checkout: ask the gateway about THIS deposit's payment. Another deposit's or
    another investor's reference changes nothing."""
    if deposit.user_id != user.id:
        raise NotFound("no such deposit")
    if deposit.status != DEPOSIT_PENDING or not deposit.gateway_reference:
        return deposit
    if reference != deposit.gateway_reference:
        timeline.log(deposit, "redirect_mismatch", {"given": (reference or "")[:200]})
        return deposit
    gateway = get_gateway(deposit.gateway)
    if not gateway.automatic:
        return deposit
    db.session.refresh(deposit, with_for_update=True)  # as a webhook does: one sync of a deposit at a time
    if deposit.status != DEPOSIT_PENDING:
        return deposit
    return sync(deposit, gateway.fetch_payment(deposit.gateway_reference), source="redirect", locked=True)


def expire_abandoned(now=None) -> int:
    now = now or utcnow()
    stale = list(db.session.scalars(select(Deposit).where(
        Deposit.status == DEPOSIT_PENDING, Deposit.created_at < now - ABANDONED_AFTER,
        Deposit.proof_key.is_(None))))
    for deposit in stale:
        fail_deposit(deposit, "expired")
    return len(stale)
