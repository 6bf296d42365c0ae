"""What a payout request is measured against: the minimum and maximum, the daily and monthly limits (what was
requested lately), the threshold above which two finance users approve, and the risk flags finance looks at twice
(first payout, new method, large amount, recent security change, unreconciled deposits, name mismatch)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from app.core.audit import AuditRecord
from app.core.db import utcnow
from app.core.errors import ValidationError
from app.core.money import Money
from app.extensions import db
from app.payments.models import Deposit, ReconciliationItem
from app.payouts.methods import name_check
from app.payouts.models import (
    FLAG_FIRST_PAYOUT,
    FLAG_LARGE_AMOUNT,
    FLAG_NAME_MISMATCH,
    FLAG_NEW_METHOD,
    FLAG_SECURITY_CHANGE,
    FLAG_UNRECONCILED,
    PAYOUT_COUNTED,
    PAYOUT_PAID,
    Payout,
    PayoutMethod,
)
from app.payouts.terms import settings

SECURITY_WINDOW = timedelta(hours=72)
# password or two-factor changes: the "recent security change" risk flag
CREDENTIAL_ACTIONS = ("auth.password_changed", "auth.password_reset", "auth.2fa_enabled", "auth.2fa_disabled",
                      "users.reset_2fa", "auth.recovery_codes_regenerated")
# what the console shows as the investor's recent security events
SECURITY_ACTIONS = (*CREDENTIAL_ACTIONS, "auth.recovery_code_used", "auth.account_locked", "auth.email_verified", "auth.password_reset_requested", "users.block", "users.unblock", "payouts.method_added", "payouts.method_changed", "payouts.method_removed")


# limits -------------------------------------------------------------------------------------------------------------
def _start_of_day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def requested_since(user_id: int, since: datetime) -> int:
    return int(db.session.scalar(select(func.coalesce(func.sum(Payout.amount), 0)).where(
        Payout.user_id == user_id, Payout.status.in_(PAYOUT_COUNTED), Payout.created_at >= since)) or 0)


@dataclass(frozen=True)
class Allowance:
    """What the investor may still withdraw today and this month."""

    today: Money
    this_month: Money


def allowance(user_id: int, now: datetime | None = None) -> Allowance:
    cfg, now = settings(), now or utcnow()
    day = _start_of_day(now)
    month = day.replace(day=1)
    today = max(cfg.daily_limit.minor - requested_since(user_id, day), 0)
    month_left = max(cfg.monthly_limit.minor - requested_since(user_id, month), 0)
    return Allowance(Money(today, cfg.currency), Money(month_left, cfg.currency))


def check_limits(user_id: int, amount: Money) -> None:
    cfg = settings()
    if amount < cfg.minimum:
        raise ValidationError("the amount is below the minimum payout",
                              {"amount": [f"The minimum payout is {cfg.minimum.display()}."]})
    if amount > cfg.maximum:
        raise ValidationError("the amount is above the maximum payout",
                              {"amount": [f"The maximum payout is {cfg.maximum.display()}."]})
    left = allowance(user_id)
    if amount > left.today:
        raise ValidationError("the daily payout limit would be exceeded",
                              {"amount": [f"You can withdraw {left.today.display()} more today "
                                          f"(daily limit {cfg.daily_limit.display()})."]})
    if amount > left.this_month:
        raise ValidationError("the monthly payout limit would be exceeded",
                              {"amount": [f"You can withdraw {left.this_month.display()} more this month "
                                          f"(monthly limit {cfg.monthly_limit.display()})."]})


# two pairs of eyes --------------------------------------------------------------------------------------------------
def above_dual_approval(amount: Money) -> bool:
    """Is a new request of `amount` above the threshold where two different finance users approve?"""
    return amount > settings().dual_approval_above


def needs_two_approvals(payout: Payout) -> bool:
    """Marked so when requested, or above the threshold now (a threshold lowered meanwhile still applies)."""
    return payout.needs_two_approvals or payout.amount > settings().dual_approval_above.minor


# risk flags ---------------------------------------------------------------------------------------------------------
def risk_flags(user_id: int, amount: Money, method: PayoutMethod, *, now: datetime) -> list[str]:
    """What finance should look at twice, computed when the payout is requested."""
    cfg, flags = settings(), []
    paid_before = db.session.scalar(select(Payout.id).where(
        Payout.user_id == user_id, Payout.status == PAYOUT_PAID).limit(1))
    if paid_before is None:
        flags.append(FLAG_FIRST_PAYOUT)
    changed = max(method.created_at, method.updated_at)
    if changed >= now - timedelta(days=cfg.new_method_days):
        flags.append(FLAG_NEW_METHOD)
    if amount >= cfg.risk_amount:
        flags.append(FLAG_LARGE_AMOUNT)
    if security_events(user_id, since=now - SECURITY_WINDOW, limit=1, actions=CREDENTIAL_ACTIONS):
        flags.append(FLAG_SECURITY_CHANGE)
    unreconciled = db.session.scalar(
        select(ReconciliationItem.id).join(Deposit, Deposit.id == ReconciliationItem.deposit_id)
        .where(Deposit.user_id == user_id, ReconciliationItem.resolved_at.is_(None)).limit(1))
    attention = db.session.scalar(select(Deposit.id).where(
        Deposit.user_id == user_id, Deposit.attention_reason.is_not(None)).limit(1))
    if unreconciled is not None or attention is not None:
        flags.append(FLAG_UNRECONCILED)
    if name_check(user_id, method.holder_name) is False:
        flags.append(FLAG_NAME_MISMATCH)
    return flags


def security_events(user_id: int, *, since: datetime | None = None, limit: int = 20,
                    actions: tuple[str, ...] = SECURITY_ACTIONS):
    """Audit records of security changes on the user's account (and of their payout methods), newest first."""
    about_user = (AuditRecord.target_type == "users") & (AuditRecord.target_id == str(user_id))
    their_methods = (AuditRecord.target_type == "payout_methods") & (AuditRecord.actor_id == user_id)
    query = select(AuditRecord).where(about_user | their_methods, AuditRecord.action.in_(actions))
    if since is not None:
        query = query.where(AuditRecord.created_at >= since)
    return list(db.session.scalars(query.order_by(AuditRecord.id.desc()).limit(limit)))
