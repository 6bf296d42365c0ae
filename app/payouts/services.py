"""Payouts: payout methods, withdrawal requests held in the ledger, finance review with two pairs of eyes above a
threshold, bank-file batches, and the states a payout moves through. Services flush and never commit.

Money: a request holds `amount + fee` (wallet -> held) in one entry. Paying settles the hold to payouts in transit
and moves the fee on to fee revenue; rejecting, cancelling or a failed transfer releases the hold exactly.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import String, case, func, or_, select, update

from app.auth.models import User
from app.core import audit
from app.core.db import utcnow
from app.core.errors import (
    Conflict,
    Forbidden,
    IllegalTransition,
    InsufficientFunds,
    NotFound,
    ValidationError,
)
from app.core.money import Money, MoneyError
from app.core.security import has_permission
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import (
    FEE_REVENUE,
    HOLD_PENDING,
    HOLD_RELEASED,
    HOLD_SETTLED,
    PAYOUTS_IN_TRANSIT,
    USER_WALLET,
    Account,
    Hold,
)
from app.payouts.models import (
    BATCH_EXPORTED,
    BATCH_PAID,
    FLAG_FIRST_PAYOUT,
    FLAG_LARGE_AMOUNT,
    FLAG_NAME_MISMATCH,
    FLAG_NEW_METHOD,
    FLAG_SECURITY_CHANGE,
    FLAG_UNRECONCILED,
    PAYOUT_APPROVED,
    PAYOUT_CANCELLED,
    PAYOUT_COUNTED,
    PAYOUT_FAILED,
    PAYOUT_OPEN,
    PAYOUT_PAID,
    PAYOUT_REJECTED,
    PAYOUT_REQUESTED,
    PAYOUT_TRANSITIONS,
    RISK_FLAGS,
    Payout,
    PayoutBatch,
    PayoutEvent,
    PayoutMethod,
    mask,
)

MAX_METHODS = 10
SECURITY_WINDOW = timedelta(hours=72)
# audit actions that count as a change of the account's security (the risk flag and the console's detail page)
# password or two-factor changes: the "recent security change" risk flag
CREDENTIAL_ACTIONS = ("auth.password_changed", "auth.password_reset", "auth.2fa_enabled", "auth.2fa_disabled",
                      "users.reset_2fa", "auth.recovery_codes_regenerated")
# what the console shows as the investor's recent security events
SECURITY_ACTIONS = CREDENTIAL_ACTIONS + ("auth.recovery_code_used", "auth.account_locked", "auth.email_verified",
                                         "auth.password_reset_requested", "users.block", "users.unblock",
                                         "payouts.method_added", "payouts.method_changed", "payouts.method_removed")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


# settings -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    currency: str
    minimum: Money
    maximum: Money
    fee_bps: int
    fee_fixed: Money
    daily_limit: Money
    monthly_limit: Money
    dual_approval_above: Money
    risk_amount: Money
    cooling_hours: int
    new_method_days: int


def settings() -> Settings:
    config, currency = current_app.config, ledger.platform_currency()

    def money(key: str) -> Money:
        return Money.parse(str(config[key]), currency, allow_zero=True)

    return Settings(currency, money("PAYOUT_MIN"), money("PAYOUT_MAX"), int(config["PAYOUT_FEE_BPS"]),
                    money("PAYOUT_FEE_FIXED"), money("PAYOUT_DAILY_LIMIT"), money("PAYOUT_MONTHLY_LIMIT"),
                    money("PAYOUT_DUAL_APPROVAL_ABOVE"), money("PAYOUT_RISK_AMOUNT"),
                    int(config["PAYOUT_METHOD_COOLING_HOURS"]), int(config["PAYOUT_NEW_METHOD_DAYS"]))


@dataclass(frozen=True)
class Quote:
    amount: Money
    fee: Money

    @property
    def total(self) -> Money:
        return self.amount + self.fee


def quote(amount: Money) -> Quote:
    """The fee on a payout of `amount`: a percentage (half-even) plus a fixed part, paid on top of the amount."""
    cfg = settings()
    return Quote(amount, amount.apply_bps(cfg.fee_bps) + cfg.fee_fixed)


def parse_amount(raw, field: str = "amount") -> Money:
    try:
        return Money.parse(raw, ledger.platform_currency())
    except MoneyError as exc:
        raise ValidationError("the amount is not valid", {field: [str(exc)[:1].upper() + str(exc)[1:] + "."]}) \
            from None


# payout methods -------------------------------------------------------------------------------------------------
_IBAN_RE = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")
_BIC_RE = re.compile(r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$")


def is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def _compact(value) -> str:
    return re.sub(r"[\s-]", "", str(value or "")).upper()


def iban_valid(iban: str) -> bool:
    if not _IBAN_RE.match(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def aba_valid(routing: str) -> bool:
    if not re.fullmatch(r"\d{9}", routing):
        return False
    d = [int(c) for c in routing]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])) % 10 == 0


def _clean_method(data: dict) -> dict:
    """Validate and normalise a bank account's fields; every problem is reported per field at once."""
    errors: dict[str, list[str]] = {}
    text = {k: (str(data.get(k)) if data.get(k) is not None else "").strip() for k in
            ("holder_name", "bank_name", "account_number", "routing_number", "iban", "bic", "country")}
    holder, bank = " ".join(text["holder_name"].split()), " ".join(text["bank_name"].split())
    account, routing = _compact(text["account_number"]), _compact(text["routing_number"])
    iban, bic, country = _compact(text["iban"]), _compact(text["bic"]), text["country"].upper()
    if not holder:
        errors["holder_name"] = ["The account holder's name is required."]
    elif len(holder) > 200 or any(ord(c) < 32 for c in holder):
        errors["holder_name"] = ["At most 200 printable characters."]
    if not bank:
        errors["bank_name"] = ["The bank's name is required."]
    elif len(bank) > 200 or any(ord(c) < 32 for c in bank):
        errors["bank_name"] = ["At most 200 printable characters."]
    if not re.fullmatch(r"[A-Z]{2}", country):
        errors["country"] = ["A two-letter country code, e.g. US or GB."]
    if iban and not iban_valid(iban):
        errors["iban"] = ["Not a valid IBAN (check the letters and digits)."]
    elif iban and not errors.get("country") and iban[:2] != country:
        errors["iban"] = [f"This IBAN is for {iban[:2]}, not {country}."]
    if account and not re.fullmatch(r"[A-Z0-9]{4,34}", account):
        errors["account_number"] = ["4 to 34 letters and digits."]
    if not account and not iban:
        errors["account_number"] = ["An account number or an IBAN is required."]
    if routing:
        if country == "US" and not aba_valid(routing):
            errors["routing_number"] = ["A US routing number has 9 digits with a valid check digit."]
        elif not re.fullmatch(r"[A-Z0-9]{4,15}", routing):
            errors["routing_number"] = ["4 to 15 letters and digits."]
    if bic and not _BIC_RE.match(bic):
        errors["bic"] = ["A BIC has 8 or 11 characters, e.g. DEUTDEFF."]
    if not (routing or bic or iban) and "account_number" not in errors:
        errors["routing_number"] = ["A routing number (or sort code), a BIC or an IBAN is required."]
    if errors:
        raise ValidationError("the bank account is not valid", errors)
    return {"holder_name": holder, "bank_name": bank, "account_number": account or iban,
            "routing_number": routing or None, "iban": iban or None, "bic": bic or None, "country": country}


def _tokens(name: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", name or "")
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return [t for t in re.split(r"[^a-z0-9]+", plain) if t]


def names_match(holder: str, kyc_name: str | None) -> bool:
    """Same words in any order, ignoring case, accents and punctuation; middle names may be left out."""
    a, b = _tokens(holder), _tokens(kyc_name or "")
    if not a or not b:
        return False
    if sorted(a) == sorted(b):
        return True
    return len(a) >= 2 and len(b) >= 2 and a[0] == b[0] and a[-1] == b[-1]


def kyc_name(user_id: int) -> str | None:
    from app.kyc.services import approved_full_name

    return approved_full_name(user_id)


def methods_of(user_id: int) -> list[PayoutMethod]:
    return list(db.session.scalars(select(PayoutMethod).where(PayoutMethod.user_id == user_id)
                                   .order_by(PayoutMethod.id)))


def method_for_owner(method_id, user) -> PayoutMethod:
    method = db.session.get(PayoutMethod, method_id) if is_id(method_id) else None
    if method is None or method.user_id != user.id:
        raise NotFound("no such payout method")
    return method


def method_in_use(method: PayoutMethod) -> bool:
    return db.session.scalar(select(Payout.id).where(Payout.payout_method_id == method.id).limit(1)) is not None


def methods_in_use(user_id: int) -> set[int]:
    """Ids of the user's payout methods that a payout refers to (one query)."""
    return set(db.session.scalars(select(Payout.payout_method_id).where(Payout.user_id == user_id).distinct()))


def _announce_method(user: User, method: PayoutMethod, change: str) -> None:
    from app.notifications.services import notify

    usable = method.usable_from.strftime("%Y-%m-%d %H:%M UTC") if method.usable_from else "now"
    notify(user, "payout_method_added", change=change, bank=method.bank_name,
           account=mask(method.account_number), usable_from=usable)


def add_bank_method(user_id: int, *, holder_name: str, bank_name: str, account_number: str | None = None,
                    country: str, routing_number: str | None = None, iban: str | None = None,
                    bic: str | None = None, cooling_off: bool = True, actor=None) -> PayoutMethod:
    """Add a bank account. It is announced by e-mail and cannot be used before the cooling-off period ends
    (`cooling_off=False` only for demo data)."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    fields = _clean_method({"holder_name": holder_name, "bank_name": bank_name, "account_number": account_number,
                            "routing_number": routing_number, "iban": iban, "bic": bic, "country": country})
    count = db.session.scalar(select(func.count(PayoutMethod.id)).where(PayoutMethod.user_id == user_id))
    if count >= MAX_METHODS:
        raise Conflict(f"at most {MAX_METHODS} payout methods; remove one you no longer use first")
    now = utcnow()
    method = PayoutMethod(user_id=user_id, kind="bank", **fields,
                          usable_from=now + timedelta(hours=settings().cooling_hours) if cooling_off else None,
                          name_matches_kyc=_name_check(user_id, fields["holder_name"]))
    db.session.add(method)
    db.session.flush()
    audit.record("payouts.method_added", actor=actor or user, target=method,
                 after={"bank": method.bank_name, "account": mask(method.account_number),
                        "country": method.country, "name_matches_kyc": method.name_matches_kyc})
    if cooling_off:
        _announce_method(user, method, "added")
    return method


def _name_check(user_id: int, holder: str) -> bool | None:
    name = kyc_name(user_id)
    return None if name is None else names_match(holder, name)


def update_bank_method(method: PayoutMethod, user, data: dict) -> PayoutMethod:
    """Change a bank account's details: announced, and a new cooling-off period starts. A method that payouts
    already used keeps its details (the payouts' trail); the investor adds a new one instead."""
    if method.user_id != user.id:
        raise NotFound("no such payout method")
    if method_in_use(method):
        raise Conflict("payouts were made to this account, so its details cannot change: add a new account")
    fields = _clean_method(data)
    before = {"bank": method.bank_name, "account": mask(method.account_number), "country": method.country}
    for key, value in fields.items():
        setattr(method, key, value)
    method.usable_from = utcnow() + timedelta(hours=settings().cooling_hours)
    method.name_matches_kyc = _name_check(user.id, fields["holder_name"])
    db.session.flush()
    audit.record("payouts.method_changed", actor=user, target=method, before=before,
                 after={"bank": method.bank_name, "account": mask(method.account_number), "country": method.country,
                        "name_matches_kyc": method.name_matches_kyc})
    _announce_method(user, method, "changed")
    return method


def remove_method(method: PayoutMethod, user) -> None:
    if method.user_id != user.id:
        raise NotFound("no such payout method")
    if method_in_use(method):
        raise Conflict("this account is used by a payout and stays on record",
                       {"payout_method_id": ["Used by a payout."]})
    audit.record("payouts.method_removed", actor=user, target=method,
                 before={"bank": method.bank_name, "account": mask(method.account_number)})
    db.session.delete(method)
    db.session.flush()


# requests -------------------------------------------------------------------------------------------------------
def _lock_wallet(user_id: int) -> None:
    """Serialise one user's payout requests (limits are read, then written) on PostgreSQL; SQLite serialises
    writers anyway."""
    wallet = ledger.user_account(user_id, USER_WALLET)
    db.session.execute(select(Account.id).where(Account.id == wallet.id).with_for_update())


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


def _check_limits(user_id: int, amount: Money) -> None:
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


def usable_methods(user_id: int, now: datetime | None = None) -> list[PayoutMethod]:
    now = now or utcnow()
    return [m for m in methods_of(user_id) if m.usable_at(now)]


def request_payout(user: User, amount: Money, payout_method_id) -> Payout:
    """Hold `amount + fee` from the wallet for a withdrawal to one of the user's usable bank accounts."""
    from app.auth.services import require_verified
    from app.kyc.services import WITHDRAW, require_approved

    require_verified(user)
    require_approved(user, WITHDRAW)
    if amount.currency != ledger.platform_currency():
        raise ValidationError("wrong currency", {"amount": [f"Amounts are in {ledger.platform_currency()}."]})
    method = db.session.get(PayoutMethod, payout_method_id) if is_id(payout_method_id) else None
    if method is None or method.user_id != user.id:
        raise ValidationError("no such payout method", {"payout_method_id": ["Choose one of your bank accounts."]})
    now = utcnow()
    if not method.usable_at(now):
        raise ValidationError("this bank account is still in its cooling-off period", {"payout_method_id": [
            f"New or changed accounts can be used from {method.usable_from.strftime('%Y-%m-%d %H:%M UTC')}."]})
    _lock_wallet(user.id)
    _check_limits(user.id, amount)
    q = quote(amount)
    available = ledger.balance_of(user.id).available
    if q.total > available:
        raise InsufficientFunds("the amount and fee are above your available balance", {"amount": [
            f"{q.amount.display()} plus the {q.fee.display()} fee is more than your available "
            f"{available.display()}."]})
    token = uuid.uuid4().hex
    memo = f"Payout to {method.bank_name} {mask(method.account_number)} (held)"
    try:
        hold = ledger.hold(user.id, q.total.minor, key=f"payout-request:{token}", memo=memo, actor_id=user.id)
    except InsufficientFunds:
        raise InsufficientFunds("the amount and fee are above your available balance",
                                {"amount": ["Not enough available in your wallet."]}) from None
    cfg = settings()
    payout = Payout(user_id=user.id, payout_method_id=method.id, amount=q.amount.minor, fee=q.fee.minor,
                    currency=q.amount.currency, status=PAYOUT_REQUESTED, hold_id=hold.id,
                    needs_two_approvals=amount > cfg.dual_approval_above,
                    risk_flags=risk_flags(user.id, amount, method, now=now))
    db.session.add(payout)
    db.session.flush()
    _log(payout, "requested", None, PAYOUT_REQUESTED, actor_id=user.id,
         detail={"amount": q.amount.amount_str(), "fee": q.fee.amount_str(), "flags": payout.risk_flags})
    audit.record("payouts.request", actor=user, target=payout,
                 after={"amount": payout.amount, "fee": payout.fee, "method": method.id, "flags": payout.risk_flags})
    _notify(payout, "payout_requested")
    return payout


def risk_flags(user_id: int, amount: Money, method: PayoutMethod, *, now: datetime) -> list[str]:
    """What finance should look at twice, computed when the payout is requested."""
    from app.payments.models import Deposit, ReconciliationItem

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
    if _name_check(user_id, method.holder_name) is False:
        flags.append(FLAG_NAME_MISMATCH)
    return flags


def security_events(user_id: int, *, since: datetime | None = None, limit: int = 20,
                    actions: tuple[str, ...] = SECURITY_ACTIONS):
    """Audit records of security changes on the user's account (and of their payout methods), newest first."""
    from app.core.audit import AuditRecord

    about_user = (AuditRecord.target_type == "users") & (AuditRecord.target_id == str(user_id))
    their_methods = (AuditRecord.target_type == "payout_methods") & (AuditRecord.actor_id == user_id)
    query = select(AuditRecord).where(about_user | their_methods, AuditRecord.action.in_(actions))
    if since is not None:
        query = query.where(AuditRecord.created_at >= since)
    return list(db.session.scalars(query.order_by(AuditRecord.id.desc()).limit(limit)))


# states ---------------------------------------------------------------------------------------------------------
def _log(payout: Payout, kind: str, from_status: str | None, to_status: str | None, *, actor_id=None,
         detail: dict | None = None) -> None:
    db.session.add(PayoutEvent(payout_id=payout.id, kind=kind, from_status=from_status, to_status=to_status,
                               actor_id=actor_id, detail=detail))


def _transition(payout: Payout, to: str, *, actor_id: int | None, detail: dict | None = None, **values) -> None:
    """The one way a payout changes state: allowed by PAYOUT_TRANSITIONS and claimed with a conditional UPDATE,
    so two people acting at once cannot both move it."""
    current = payout.status
    if to not in PAYOUT_TRANSITIONS.get(current, ()):
        raise IllegalTransition(f"payout #{payout.id} is {current}: it cannot become {to}")
    claimed = db.session.execute(
        update(Payout).where(Payout.id == payout.id, Payout.status == current)
        .values(status=to, updated_at=utcnow(), **values).execution_options(synchronize_session=False)).rowcount
    db.session.refresh(payout)
    if claimed != 1:
        raise IllegalTransition(f"payout #{payout.id} was changed meanwhile: it is {payout.status}")
    _log(payout, to, current, to, actor_id=actor_id, detail=detail)


def _notify(payout: Payout, event: str, **extra) -> None:
    from app.notifications.services import notify

    method = payout.method
    notify(payout.user, event, payout_id=payout.id, amount=Money(payout.amount, payout.currency).display(),
           fee=Money(payout.fee, payout.currency).display(), bank=method.bank_name,
           account=mask(method.account_number), **extra)


def _staff(actor, *, payout: Payout | None = None) -> None:
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


def needs_two_approvals(payout: Payout) -> bool:
    return payout.needs_two_approvals or payout.amount > settings().dual_approval_above.minor


def approve(payout: Payout, *, actor) -> str:
    """Approve a requested payout. Above the threshold two different finance users must approve: the first
    approval is recorded and the payout stays requested. Returns "approved" or "awaiting_second_approval"."""
    _staff(actor, payout=payout)
    if payout.status != PAYOUT_REQUESTED:
        raise IllegalTransition(f"payout #{payout.id} is {payout.status}: only requested payouts are approved")
    if needs_two_approvals(payout):
        if payout.first_approver_id is None:
            claimed = db.session.execute(
                update(Payout).where(Payout.id == payout.id, Payout.status == PAYOUT_REQUESTED,
                                     Payout.first_approver_id.is_(None))
                .values(first_approver_id=actor.id, first_approved_at=utcnow(), updated_at=utcnow())
                .execution_options(synchronize_session=False)).rowcount
            db.session.refresh(payout)
            if claimed == 1:
                _log(payout, "first_approval", PAYOUT_REQUESTED, PAYOUT_REQUESTED, actor_id=actor.id)
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


def reject(payout: Payout, *, actor, reason: str) -> Payout:
    _staff(actor, payout=payout)
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


def _bank_reference(reference: str | None) -> str:
    reference = (reference or "").strip()
    if not reference:
        raise ValidationError("the bank reference is required",
                              {"bank_reference": ["The reference of the bank transfer."]})
    if len(reference) > 200 or any(ord(c) < 32 for c in reference):
        raise ValidationError("the bank reference is not valid", {"bank_reference": ["At most 200 characters."]})
    return reference


def mark_paid(payout: Payout, *, actor, bank_reference: str) -> Payout:
    """The bank sent the money: the hold is settled to payouts in transit and the fee moves to fee revenue."""
    _staff(actor, payout=payout)
    reference = _bank_reference(bank_reference)
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


def mark_failed(payout: Payout, *, actor, reason: str) -> Payout:
    """The transfer did not go through (returned by the bank, account closed...): the hold is released."""
    _staff(actor, payout=payout)
    reason = _reason(reason)
    _transition(payout, PAYOUT_FAILED, actor_id=actor.id, detail={"reason": reason},
                decided_by_id=actor.id, decided_at=utcnow(), reason=reason)
    _release(payout, actor_id=actor.id, memo=f"Payout #{payout.id} failed: held funds returned")
    audit.record("payouts.mark_failed", actor=actor, target=payout, before={"status": PAYOUT_APPROVED},
                 after={"status": PAYOUT_FAILED}, reason=reason)
    _notify(payout, "payout_failed", reason=reason)
    return payout


# reading --------------------------------------------------------------------------------------------------------
def payout_for_owner(payout_id, user) -> Payout:
    payout = db.session.get(Payout, payout_id) if is_id(payout_id) else None
    if payout is None or payout.user_id != user.id:
        raise NotFound("no such payout")
    return payout


def payouts_of(user_id: int, *, page: int = 1, per_page: int = 20, status: str | None = None):
    from sqlalchemy.orm import selectinload

    query = select(Payout).where(Payout.user_id == user_id)
    if status:
        query = query.where(Payout.status == status)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = list(db.session.scalars(query.options(selectinload(Payout.method)).order_by(Payout.id.desc())
                                   .limit(per_page).offset((page - 1) * per_page)))
    return rows, total


def flag_labels(flags) -> list[tuple[str, str]]:
    return [(f, RISK_FLAGS.get(f, f)) for f in flags or []]


def queue_counts() -> dict:
    rows = dict(db.session.execute(select(Payout.status, func.count(Payout.id)).group_by(Payout.status)).all())
    awaiting_second = db.session.scalar(select(func.count(Payout.id)).where(
        Payout.status == PAYOUT_REQUESTED, Payout.first_approver_id.is_not(None))) or 0
    return {"requested": rows.get(PAYOUT_REQUESTED, 0), "approved": rows.get(PAYOUT_APPROVED, 0),
            "awaiting_second": awaiting_second,
            "unbatched": db.session.scalar(select(func.count(Payout.id)).where(
                Payout.status == PAYOUT_APPROVED, Payout.batch_id.is_(None))) or 0}


def flag_filter(flag: str):
    """A WHERE clause: the payout carries risk flag `flag` (JSON list, matched as text on SQLite and PostgreSQL)."""
    return Payout.risk_flags.cast(String).like(f'%"{flag}"%')


# batches --------------------------------------------------------------------------------------------------------
def escape_cell(value) -> str:
    """A spreadsheet must never run a cell as a formula: one that starts with = + - @ (or a tab or carriage
    return) is prefixed with an apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


BANK_FILE_HEADER = ("payout_id", "beneficiary_name", "bank_name", "account_number", "iban", "routing_number", "bic",
                    "country", "amount", "currency", "reference")


def bank_file(payouts: list[Payout]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(BANK_FILE_HEADER)
    for p in payouts:
        m = p.method
        writer.writerow([escape_cell(v) for v in (
            p.id, m.holder_name, m.bank_name, m.account_number, m.iban or "", m.routing_number or "", m.bic or "",
            m.country, Money(p.amount, p.currency).amount_str(), p.currency, f"FREEHOLD PAYOUT {p.id}")])
    return out.getvalue()


def create_batch(payout_ids: list[int], *, actor) -> tuple[PayoutBatch, str]:
    """Put approved payouts into one bank file. Each payout goes into one batch only."""
    _staff(actor)
    ids = sorted({int(i) for i in payout_ids})
    if not ids:
        raise ValidationError("select at least one approved payout")
    payouts = list(db.session.scalars(select(Payout).where(Payout.id.in_(ids)).order_by(Payout.id)
                                      .with_for_update()))
    problems = [f"#{i}: not found" for i in sorted(set(ids) - {p.id for p in payouts})]
    for p in payouts:
        if p.status != PAYOUT_APPROVED:
            problems.append(f"#{p.id}: {p.status}, not approved")
        elif p.batch_id is not None:
            problems.append(f"#{p.id}: already in batch #{p.batch_id}")
        elif p.user_id == actor.id:
            problems.append(f"#{p.id}: your own account")
    if problems:
        raise ValidationError("these payouts cannot go into a bank file", {"payouts": problems})
    currencies = {p.currency for p in payouts}
    if len(currencies) != 1:
        raise ValidationError("one bank file holds one currency")
    content = bank_file(payouts)
    batch = PayoutBatch(status=BATCH_EXPORTED, payout_count=len(payouts), total_amount=sum(p.amount for p in payouts),
                        currency=currencies.pop(), file_sha256=hashlib.sha256(content.encode()).hexdigest(),
                        created_by_id=actor.id)
    db.session.add(batch)
    db.session.flush()
    claimed = db.session.execute(
        update(Payout).where(Payout.id.in_(ids), Payout.status == PAYOUT_APPROVED, Payout.batch_id.is_(None))
        .values(batch_id=batch.id).execution_options(synchronize_session=False)).rowcount
    if claimed != len(ids):
        raise Conflict("some payouts were changed meanwhile: try again")
    for p in payouts:
        db.session.refresh(p)
        _log(p, "batched", p.status, p.status, actor_id=actor.id, detail={"batch": batch.id})
    audit.record("payouts.batch_exported", actor=actor, target=batch,
                 after={"payouts": ids, "total": batch.total_amount, "sha256": batch.file_sha256})
    return batch, content


def batch_file(batch: PayoutBatch, *, actor) -> str:
    """The batch's bank file again (same rows; downloading it is an export and audited)."""
    _staff(actor)
    content = bank_file(list(batch.payouts))
    audit.record("payouts.batch_downloaded", actor=actor, target=batch,
                 after={"sha256": hashlib.sha256(content.encode()).hexdigest()})
    return content


def mark_batch_paid(batch: PayoutBatch, *, actor, bank_reference: str) -> list[Payout]:
    """The bank executed the file: every payout of the batch still approved is paid with the one reference
    (a payout marked failed on its own meanwhile stays failed)."""
    _staff(actor)
    reference = _bank_reference(bank_reference)
    claimed = db.session.execute(
        update(PayoutBatch).where(PayoutBatch.id == batch.id, PayoutBatch.status == BATCH_EXPORTED)
        .values(status=BATCH_PAID, bank_reference=reference, paid_by_id=actor.id, paid_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount
    db.session.refresh(batch)
    if claimed != 1:
        raise IllegalTransition(f"batch #{batch.id} is already {batch.status}")
    paid = []
    for payout in batch.payouts:
        if payout.status == PAYOUT_APPROVED:
            paid.append(mark_paid(payout, actor=actor, bank_reference=reference))
    audit.record("payouts.batch_paid", actor=actor, target=batch,
                 after={"bank_reference": reference, "paid": [p.id for p in paid]})
    return paid


# reminders ------------------------------------------------------------------------------------------------------
def waiting_longer_than(hours: int, now: datetime | None = None) -> int:
    now = now or utcnow()
    return db.session.scalar(select(func.count(Payout.id)).where(
        Payout.status.in_(PAYOUT_OPEN), Payout.created_at < now - timedelta(hours=hours))) or 0


def remind_finance(now: datetime | None = None) -> int:
    """Tell finance how many payouts have waited longer than PAYOUT_STALE_HOURS (nothing when none)."""
    from app.notifications.services import notify

    hours = int(current_app.config["PAYOUT_STALE_HOURS"])
    count = waiting_longer_than(hours, now)
    if count:
        notify(None, "payouts_waiting_staff", count=count, hours=hours)
    return count


# ledger invariant -----------------------------------------------------------------------------------------------
def holds_match_payouts() -> list[str]:
    """Each payout's hold is pending while it is open, settled once paid and released otherwise, for amount + fee."""
    expected = case({PAYOUT_REQUESTED: HOLD_PENDING, PAYOUT_APPROVED: HOLD_PENDING, PAYOUT_PAID: HOLD_SETTLED},
                    value=Payout.status, else_=HOLD_RELEASED)
    rows = db.session.execute(
        select(Payout.id, Payout.status, Payout.amount + Payout.fee, Hold.status, Hold.amount)
        .join(Hold, Hold.id == Payout.hold_id)
        .where(or_(Hold.amount != Payout.amount + Payout.fee, Hold.status != expected,
                   Hold.user_id != Payout.user_id))
        .order_by(Payout.id)).all()
    return [f"payout #{pid} ({status}, amount and fee {total}) has a {hold_status} hold of {held} "
            f"that does not match" for pid, status, total, hold_status, held in rows]


def _register_check() -> None:
    from app.ledger.checks import register_check

    register_check(holds_match_payouts)


_register_check()


__all__ = [
    "PAYOUT_APPROVED", "PAYOUT_CANCELLED", "PAYOUT_FAILED", "PAYOUT_PAID", "PAYOUT_REJECTED", "PAYOUT_REQUESTED",
    "add_bank_method", "approve", "cancel", "create_batch", "mark_batch_paid", "mark_failed", "mark_paid",
    "quote", "reject", "request_payout",
]
