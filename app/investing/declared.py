"""Declared distributions: finance declares an amount for a property and a period (the quarter's rent, say), a
second finance user approves the split, and paying it moves the money from the property's distributions account to
each investor's wallet in one ledger entry — whole, and only when that account covers it (after the return periods
already due and the distributions asked for earlier); otherwise it waits for funding, still approved, and the next
returns run (or payment attempt) pays it once the operator has funded the account.

The split is pro rata to what each investment has paid (or to what it has paid times the days it was held within
the period), exact to the minor unit by the largest-remainder rule, ties to the earlier investment
(schedule.pro_rata). The split is computed live while the declaration is a draft; approval freezes it into
DistributionShare rows (refused when it changed since the approver's preview) and paying pays exactly those rows.

Every step is a conditional status update (DECLARED_TRANSITIONS), so a double click or a concurrent request moves a
declaration once; the ledger entry's key `declared:<id>` backs that up. Services flush and never commit.

The split lives in declared_split.py, what investors were paid (and the ledger check) in declared_paid.py; this
module re-exports them, so callers import app.investing.declared alone.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select, text

from app.auth.models import User
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, IllegalTransition, NotFound, ValidationError
from app.core.money import Money, MoneyError
from app.core.security import has_permission
from app.core.states import transition
from app.extensions import db
from app.investing.accounts import distributions_account
from app.investing.declared_paid import PaidShare, check_declared, paid_shares_for
from app.investing.declared_split import (
    BASES,
    RESIDUE_RULE,
    ShareLine,
    Split,
    compute_split,
    days_held,
    split_of,
)
from app.investing.models import (
    APPROVED,
    BASIS_PAID,
    DECLARED_TRANSITIONS,
    DISCARDED,
    DIST_PAID,
    DRAFT,
    PAYING,
    RUNNING,
    DeclaredDistribution,
    DistributionRun,
    DistributionShare,
    Investment,
    ScheduledReturn,
)
from app.investing.returns.postgres import RUN_LOCK_KEY
from app.ledger import services as ledger
from app.ledger.models import USER_WALLET, Account
from app.notifications.services import notify, recipients_for
from app.properties.models import Property

__all__ = [
    "BASES",
    "LABEL_MAX",
    "NOTE_MAX",
    "RESIDUE_RULE",
    "PaidShare",
    "ShareLine",
    "Split",
    "approve",
    "available",
    "check_declared",
    "compute_split",
    "days_held",
    "declare",
    "discard",
    "get",
    "paid_shares_for",
    "parse_amount",
    "parse_date",
    "pay",
    "pay_waiting",
    "split_of",
    "waiting",
]

STALE_RUN = timedelta(hours=2)  # SQLite: a run `running` longer than this is dead (returns.engine.STALE_AFTER)
LABEL_MAX = 120
NOTE_MAX = 2000


def _require(actor, permission: str) -> None:
    if not has_permission(actor, permission):
        raise Forbidden(f"this needs the {permission} permission")


def _snapshot(d: DeclaredDistribution) -> dict:
    return {"status": d.status, "property_id": d.property_id, "label": d.label,
            "period": f"{d.period_start.isoformat()}..{d.period_end.isoformat()}",
            "amount": Money(d.amount, d.currency).amount_str(), "currency": d.currency, "basis": d.basis}


def _move(d: DeclaredDistribution, target: str, *, extra_where=(), **values) -> None:
    """Conditional status update: exactly one request moves the declaration from the status it was read in."""
    transition(d, target, DECLARED_TRANSITIONS, what="this distribution", extra_where=extra_where,
               conflict=Conflict, **values)


def parse_amount(raw, currency: str, *, grouping: bool = False) -> int:
    """An amount of a property's money in minor units, more than zero: a Money of the property's currency, an int of
    minor units, or a decimal string in major units read by Money.parse (`grouping`: thousands separators allowed;
    its refusal becomes the form's error). Declared distributions and fundings read their amounts with it."""
    if isinstance(raw, Money):
        if raw.currency != currency:
            raise ValidationError(f"this property pays in {currency}", {"amount": [f"Use {currency}."]})
        minor = raw.minor
    elif isinstance(raw, int) and not isinstance(raw, bool):
        minor = raw
    else:
        try:
            minor = Money.parse(str(raw or "").strip(), currency, grouping=grouping).minor
        except MoneyError as exc:
            raise ValidationError(str(exc), {"amount": [str(exc)[:1].upper() + str(exc)[1:] + "."]}) from None
    if minor <= 0:
        raise ValidationError("the amount must be more than zero", {"amount": ["Must be more than zero."]})
    return minor


def parse_date(raw, field: str) -> date:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw or "").strip())
    except ValueError:
        raise ValidationError(f"{field.replace('_', ' ')} must be a date (YYYY-MM-DD)",
                              {field: ["A date, YYYY-MM-DD."]}) from None


def declare(property_id: int, *, label: str, period_start, period_end, amount, basis: str = BASIS_PAID,
            note: str = "", actor) -> DeclaredDistribution:
    """Finance declares `amount` for a property and a period: a draft that a second finance user approves.
    Refused without investors to pay, or when the same declaration is already live (a double submit)."""
    _require(actor, "distributions.declare")
    p = db.session.get(Property, property_id) if property_id else None
    if p is None or p.status in ("draft", "cancelled", "archived"):
        raise NotFound("no such property with investors", {"property_id": ["Choose a property."]})
    label = (label or "").strip()
    if not label or len(label) > LABEL_MAX:
        raise ValidationError("a label is required", {"label": [f"1 to {LABEL_MAX} characters, e.g. 'Rent Q1 2026'."]})
    start, end = parse_date(period_start, "period_start"), parse_date(period_end, "period_end")
    if end < start:
        raise ValidationError("the period ends before it starts", {"period_end": ["On or after the start."]})
    if basis not in BASES:
        raise ValidationError("unknown basis", {"basis": ["Paid amount or days held."]})
    minor = parse_amount(amount, p.currency)
    note = (note or "").strip()[:NOTE_MAX]
    duplicate = db.session.scalar(select(DeclaredDistribution.id).where(
        DeclaredDistribution.property_id == p.id, DeclaredDistribution.label == label,
        DeclaredDistribution.period_start == start, DeclaredDistribution.period_end == end,
        DeclaredDistribution.status != DISCARDED))
    if duplicate:
        raise Conflict(f"'{label}' for this period is already declared (#{duplicate}): discard it first to "
                       f"declare it again")
    split = compute_split(p.id, minor, p.currency, start, end, basis)
    if not split.lines:
        raise Conflict("nobody held this property in that period: there is nobody to pay")
    d = DeclaredDistribution(property_id=p.id, label=label, period_start=start, period_end=end, amount=minor,
                             currency=p.currency, basis=basis, status=DRAFT, note=note, created_by_id=actor.id)
    db.session.add(d)
    db.session.flush()
    audit.record("distributions.declared", actor=actor, target=d, after=_snapshot(d) | {
        "investors": len({x.user_id for x in split.lines}), "investments": len(split.lines)}, reason=note or None)
    checkers = [u for u in recipients_for("role:finance") if u.id != actor.id]
    if checkers:
        notify(checkers, "declared_distribution_pending_staff",
               link=f"/admin/declared_distributions/details/?id={d.id}", title=p.title, label=label,
               amount=Money(minor, p.currency).display(), period=f"{start.isoformat()} to {end.isoformat()}",
               declared_by=actor.email)
    return d


def approve(d: DeclaredDistribution, *, actor, fingerprint: str | None = None) -> DeclaredDistribution:
    """A second finance user (never the one who declared it) approves the split they previewed: it is frozen into
    DistributionShare rows. `fingerprint` is the preview's: a split that changed since is refused."""
    _require(actor, "distributions.approve")
    if d.created_by_id == actor.id:
        raise Forbidden("a distribution is approved by a second person: you declared this one")
    if d.status != DRAFT:
        raise IllegalTransition(f"a {d.status} distribution cannot be approved")
    split = compute_split(d.property_id, d.amount, d.currency, d.period_start, d.period_end, d.basis)
    if not split.lines:
        raise Conflict("nobody holds this property in that period any more: discard it")
    if fingerprint is not None and fingerprint != split.fingerprint:
        raise Conflict("the split changed since you previewed it (an investment was made, paid or closed): "
                       "review it again")
    before = _snapshot(d)
    _move(d, APPROVED, extra_where=(DeclaredDistribution.created_by_id != actor.id,),
          approved_by_id=actor.id, approved_at=utcnow())
    db.session.add_all(DistributionShare(distribution_id=d.id, investment_id=x.investment_id, user_id=x.user_id,
                                         weight=x.weight, amount=x.amount) for x in split.lines)
    db.session.flush()
    audit.record("distributions.approved", actor=actor, target=d, before=before, after={
        "status": d.status, "shares": len(split.lines), "fingerprint": split.fingerprint})
    return d


def pay(d: DeclaredDistribution, *, actor) -> DeclaredDistribution:
    """Pay an approved distribution whole — exactly the approved shares, one ledger entry from the property's
    distributions account to each investor's wallet — when that account covers it; otherwise it waits for funding
    (still approved, its payment asked for) and a later run pays it (pay_waiting). Once only."""
    _require(actor, "distributions.declare")
    if d.status != APPROVED:
        raise IllegalTransition(f"only an approved distribution can be paid; this one is {d.status}")
    if d.payment_requested_at is None:
        d.payment_requested_at = utcnow()
        d.payment_requested_by_id = actor.id
        db.session.flush()
    if _covered(d):
        return _pay(d, actor=actor)
    audit.record("distributions.payment_waiting", actor=actor, target=d, after={
        "status": d.status, "amount": Money(d.amount, d.currency).amount_str(),
        "available": Money(max(available(d.property_id, before=d), 0), d.currency).amount_str()})
    return d


def waiting(d: DeclaredDistribution) -> bool:
    """Approved, its payment asked for, not paid: it waits for the distributions account to cover it."""
    return d.status == APPROVED and d.payment_requested_at is not None


def available(property_id: int, *, before: DeclaredDistribution | None = None) -> int:
    """What the property's distributions account can give a declared distribution now: its balance less the return
    periods already due and unpaid (older: the returns engine pays them first) and, when `before` is given, less the
    distributions waiting ahead of it (asked for earlier). May be negative."""
    account = distributions_account(property_id)
    due_returns = db.session.scalar(
        select(func.coalesce(func.sum(ScheduledReturn.amount), 0))
        .join(Investment, Investment.id == ScheduledReturn.investment_id)
        .where(ScheduledReturn.property_id == property_id, ScheduledReturn.due_on <= utcnow().date(),
               Investment.status != PAYING)) or 0
    ahead = 0
    if before is not None and before.payment_requested_at is not None:
        ahead = db.session.scalar(select(func.coalesce(func.sum(DeclaredDistribution.amount), 0)).where(
            DeclaredDistribution.property_id == property_id, DeclaredDistribution.status == APPROVED,
            DeclaredDistribution.payment_requested_at.is_not(None), DeclaredDistribution.id != before.id,
            (DeclaredDistribution.payment_requested_at < before.payment_requested_at)
            | ((DeclaredDistribution.payment_requested_at == before.payment_requested_at)
               & (DeclaredDistribution.id < before.id)))) or 0
    return int(account.balance) - int(due_returns) - int(ahead)


def _covered(d: DeclaredDistribution) -> bool:
    """Whether the account covers `d` now, with no distribution run in progress: the account is locked (declared
    payments of a property one at a time), and a run's funded periods were decided against the balance, so while a
    run holds its lock (PostgreSQL) or is running (SQLite) nothing else may draw on the account."""
    if not _no_run_in_progress():
        return False
    db.session.execute(select(Account.id).where(Account.id == distributions_account(d.property_id).id)
                       .with_for_update())
    return available(d.property_id, before=d) >= d.amount


def _no_run_in_progress() -> bool:
    if db.engine.dialect.name == "postgresql":
        # the run holds it (exclusive) for its whole run; taken here shared (declared payments do not wait for each
        # other: the account row lock orders those of one property), it keeps a run from starting until this commits
        return bool(db.session.execute(text("SELECT pg_try_advisory_xact_lock_shared(:k)"),
                                       {"k": RUN_LOCK_KEY}).scalar())
    return not db.session.scalar(select(func.count(DistributionRun.id)).where(
        DistributionRun.status == RUNNING, DistributionRun.started_at > utcnow() - STALE_RUN))


def pay_waiting() -> list[DeclaredDistribution]:
    """Pay the distributions waiting for funding that their account now covers, oldest first per property (one that
    is still not covered keeps the later ones of its property waiting). Called after every returns run, in a unit
    of work; idempotent. The payment is by the finance user who asked for it."""
    paid = []
    blocked: set[int] = set()
    for d in db.session.scalars(select(DeclaredDistribution).where(
            DeclaredDistribution.status == APPROVED, DeclaredDistribution.payment_requested_at.is_not(None))
            .order_by(DeclaredDistribution.payment_requested_at, DeclaredDistribution.id)):
        if d.property_id in blocked:
            continue
        if not _covered(d):
            blocked.add(d.property_id)
            continue
        paid.append(_pay(d, actor=d.payment_requested_by, reason="paid once the distributions account covered it"))
    return paid


def _pay(d: DeclaredDistribution, *, actor, reason: str | None = None) -> DeclaredDistribution:
    before = _snapshot(d)
    _move(d, DIST_PAID, paid_at=utcnow())  # the claim: a second click or a concurrent request stops here
    shares = list(db.session.scalars(select(DistributionShare).where(DistributionShare.distribution_id == d.id)
                                     .order_by(DistributionShare.id)))
    if sum(s.amount for s in shares) != d.amount:
        raise Conflict("the approved shares do not add up to the declared amount")
    per_user: dict[int, int] = {}
    for s in shares:
        per_user[s.user_id] = per_user.get(s.user_id, 0) + s.amount
    p = db.session.get_one(Property, d.property_id)
    lines = [(distributions_account(d.property_id), -d.amount)]
    lines += [(ledger.user_account(user_id, USER_WALLET), amount) for user_id, amount in per_user.items() if amount]
    entry = ledger.post(lines, key=f"declared:{d.id}", kind="declared_distribution",
                        memo=f"{p.title}: {d.label} ({d.period_start.isoformat()} to {d.period_end.isoformat()})",
                        actor_id=actor.id if actor is not None else None)
    d.entry_id = entry.id
    db.session.flush()
    audit.record("distributions.paid", actor=actor, target=d, before=before, after={
        "status": d.status, "entry_id": entry.id, "investors": len(per_user),
        "amount": Money(d.amount, d.currency).amount_str()}, reason=reason)
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(list(per_user))))}
    for user_id, amount in per_user.items():
        notify(users[user_id], "declared_distribution_paid", link="/portfolio", title=p.title, label=d.label,
               amount=Money(amount, d.currency),
               period=f"{d.period_start.isoformat()} to {d.period_end.isoformat()}")
    return d


def discard(d: DeclaredDistribution, *, actor, reason: str | None) -> DeclaredDistribution:
    """Drop a draft or an approved distribution that was not paid (with a reason, audited)."""
    _require(actor, "distributions.declare")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("a reason is required", {"reason": ["Say why it is discarded."]})
    if DISCARDED not in DECLARED_TRANSITIONS[d.status]:
        raise IllegalTransition(f"a {d.status} distribution cannot be discarded")
    before = _snapshot(d)
    _move(d, DISCARDED)
    audit.record("distributions.discarded", actor=actor, target=d, before=before, after={"status": d.status},
                 reason=reason[:1000])
    return d


def get(distribution_id: int) -> DeclaredDistribution:
    d = db.session.get(DeclaredDistribution, distribution_id)
    if d is None:
        raise NotFound("no such distribution")
    return d


ledger.register_check(check_declared)
