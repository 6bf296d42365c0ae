"""Declared distributions: finance declares an amount for a property and a period (the quarter's rent, say), a
second finance user approves the split, and paying it moves the money from the property's distributions account to
each investor's wallet in one ledger entry.

The split is pro rata to what each investment has paid (or to what it has paid times the days it was held within
the period), exact to the minor unit by the largest-remainder rule, ties to the earlier investment
(schedule.pro_rata). The split is computed live while the declaration is a draft; approval freezes it into
DistributionShare rows (refused when it changed since the approver's preview) and paying pays exactly those rows.

Every step is a conditional status update (DECLARED_TRANSITIONS), so a double click or a concurrent request moves a
declaration once; the ledger entry's key `declared:<id>` backs that up. Services flush and never commit.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, or_, select, update

from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, IllegalTransition, NotFound, ValidationError
from app.core.money import Money, MoneyError
from app.extensions import db
from app.investing import schedule
from app.investing.models import (
    ACTIVE,
    APPROVED,
    BASIS_DAYS,
    BASIS_PAID,
    COMPLETED,
    DECLARED_TRANSITIONS,
    DISCARDED,
    DIST_PAID,
    DRAFT,
    LIVE,
    PAYING,
    DeclaredDistribution,
    DistributionShare,
    Investment,
)

BASES = {BASIS_PAID: "paid amount", BASIS_DAYS: "paid amount × days held in the period"}
RESIDUE_RULE = ("Each investor's share is the exact pro-rata amount rounded down to the cent; the cents left over "
                "go one each to the largest remainders, and where remainders are equal, to the earlier investment. "
                "The shares add up exactly to the declared amount.")
LABEL_MAX = 120
NOTE_MAX = 2000


# the split ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShareLine:
    investment_id: int
    user_id: int
    email: str
    invested_on: date
    paid_amount: int
    days: int | None  # days held within the period (days basis only)
    weight: int
    amount: int


@dataclass(frozen=True)
class Split:
    lines: list[ShareLine]
    total: int
    currency: str
    basis: str
    frozen: bool  # True once approved: the stored shares, not a live computation

    @property
    def weight_total(self) -> int:
        return sum(line.weight for line in self.lines)

    @property
    def fingerprint(self) -> str:
        body = f"{self.basis}|{self.total}|" + ";".join(f"{x.investment_id}:{x.weight}:{x.amount}"
                                                        for x in self.lines)
        return hashlib.sha256(body.encode()).hexdigest()

    def share_percent(self, line: ShareLine) -> str:
        total = self.weight_total
        return f"{line.weight * 100 / total:.4f} %" if total else "—"

    def money(self, minor: int) -> Money:
        return Money(minor, self.currency)


def days_held(inv: Investment, period_start: date, period_end: date) -> int:
    """Days within [period_start, period_end] (both included) the investment was held: from the day it was made
    to the day before it closed (to the period's end while it is open)."""
    start = max(inv.invested_on, period_start)
    end = period_end
    if inv.closed_at is not None:
        end = min(end, inv.closed_at.date() - timedelta(days=1))
    return max(0, (end - start).days + 1)


def _eligible(property_id: int, period_start: date, period_end: date, basis: str):
    """The investments sharing in a distribution, with their investors' e-mails, earliest first.

    By paid amount: the live investments (paying or active) made on or before the period's last day. By days
    held: also those completed during the period (they held it until then); refunded ones (cancelled, defaulted)
    never share."""
    from app.auth.models import User

    statuses = LIVE if basis == BASIS_PAID else (PAYING, ACTIVE, COMPLETED)
    query = (select(Investment, User.email).join(User, User.id == Investment.user_id)
             .where(Investment.property_id == property_id, Investment.status.in_(statuses),
                    Investment.paid_amount > 0, Investment.invested_on <= period_end)
             .order_by(Investment.invested_on, Investment.id))
    if basis == BASIS_DAYS:
        query = query.where(or_(Investment.closed_at.is_(None), Investment.closed_at > datetime.combine(
            period_start, time.min, tzinfo=UTC)))
    return db.session.execute(query).all()


def compute_split(property_id: int, amount: int, currency: str, period_start: date, period_end: date,
                  basis: str) -> Split:
    """The split as it stands now (nothing is written)."""
    rows = []
    for inv, email in _eligible(property_id, period_start, period_end, basis):
        days = days_held(inv, period_start, period_end) if basis == BASIS_DAYS else None
        weight = inv.paid_amount * days if basis == BASIS_DAYS else inv.paid_amount
        if weight > 0:
            rows.append((inv, email, days, weight))
    amounts = schedule.pro_rata(amount, [w for *_, w in rows]) if rows else []
    lines = [ShareLine(investment_id=inv.id, user_id=inv.user_id, email=email, invested_on=inv.invested_on,
                       paid_amount=inv.paid_amount, days=days, weight=weight, amount=part)
             for (inv, email, days, weight), part in zip(rows, amounts)]
    return Split(lines=lines, total=amount, currency=currency, basis=basis, frozen=False)


def split_of(d: DeclaredDistribution) -> Split:
    """What the declaration pays: live while a draft, the stored shares once approved (or paid)."""
    from app.auth.models import User

    if d.status == DRAFT or (d.status == DISCARDED and d.approved_at is None):
        return compute_split(d.property_id, d.amount, d.currency, d.period_start, d.period_end, d.basis)
    rows = db.session.execute(
        select(DistributionShare, Investment, User.email)
        .join(Investment, Investment.id == DistributionShare.investment_id)
        .join(User, User.id == DistributionShare.user_id)
        .where(DistributionShare.distribution_id == d.id)
        .order_by(Investment.invested_on, Investment.id)).all()
    lines = [ShareLine(investment_id=inv.id, user_id=share.user_id, email=email, invested_on=inv.invested_on,
                       paid_amount=inv.paid_amount,
                       days=days_held(inv, d.period_start, d.period_end) if d.basis == BASIS_DAYS else None,
                       weight=share.weight, amount=share.amount)
             for share, inv, email in rows]
    return Split(lines=lines, total=d.amount, currency=d.currency, basis=d.basis, frozen=True)


# the workflow -------------------------------------------------------------------------------------------------------
def _require(actor, permission: str) -> None:
    from app.core.security import has_permission

    if not has_permission(actor, permission):
        raise Forbidden(f"this needs the {permission} permission")


def _snapshot(d: DeclaredDistribution) -> dict:
    return {"status": d.status, "property_id": d.property_id, "label": d.label,
            "period": f"{d.period_start.isoformat()}..{d.period_end.isoformat()}",
            "amount": Money(d.amount, d.currency).amount_str(), "currency": d.currency, "basis": d.basis}


def _move(d: DeclaredDistribution, target: str, *, extra_where=(), **values) -> None:
    """Conditional status update: exactly one request moves the declaration from the status it was read in."""
    if target not in DECLARED_TRANSITIONS[d.status]:
        raise IllegalTransition(f"a {d.status} distribution cannot become {target}")
    source = d.status
    moved = db.session.execute(
        update(DeclaredDistribution).where(DeclaredDistribution.id == d.id, DeclaredDistribution.status == source,
                                           *extra_where)
        .values(status=target, updated_at=utcnow(), **values).execution_options(synchronize_session=False)).rowcount
    db.session.refresh(d)
    if moved != 1:
        raise Conflict(f"this distribution is {d.status} now" if d.status != source
                       else "this distribution changed meanwhile: look at it again")


def _parse_amount(raw, currency: str) -> int:
    if isinstance(raw, Money):
        if raw.currency != currency:
            raise ValidationError(f"this property pays in {currency}", {"amount": [f"Use {currency}."]})
        minor = raw.minor
    elif isinstance(raw, int) and not isinstance(raw, bool):
        minor = raw
    else:
        try:
            minor = Money.parse(str(raw or "").strip(), currency).minor
        except MoneyError as exc:
            raise ValidationError(str(exc), {"amount": [str(exc)[:1].upper() + str(exc)[1:] + "."]}) from None
    if minor <= 0:
        raise ValidationError("the amount must be positive", {"amount": ["Must be more than zero."]})
    return minor


def _parse_date(raw, field: str) -> date:
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
    from app.notifications.services import notify, recipients_for
    from app.properties.models import Property

    _require(actor, "distributions.declare")
    p = db.session.get(Property, property_id) if property_id else None
    if p is None or p.status in ("draft", "cancelled"):
        raise NotFound("no such property with investors", {"property_id": ["Choose a property."]})
    label = (label or "").strip()
    if not label or len(label) > LABEL_MAX:
        raise ValidationError("a label is required", {"label": [f"1 to {LABEL_MAX} characters, e.g. 'Rent Q1 2026'."]})
    start, end = _parse_date(period_start, "period_start"), _parse_date(period_end, "period_end")
    if end < start:
        raise ValidationError("the period ends before it starts", {"period_end": ["On or after the start."]})
    if basis not in BASES:
        raise ValidationError("unknown basis", {"basis": ["Paid amount or days held."]})
    minor = _parse_amount(amount, p.currency)
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
    """Pay an approved distribution: one ledger entry from the property's distributions account (which may go
    negative: what the operator owes) to each investor's wallet, exactly the approved shares. Once only."""
    from app.investing.services import distributions_account
    from app.ledger import services as ledger
    from app.ledger.models import USER_WALLET
    from app.notifications.services import notify
    from app.properties.models import Property

    _require(actor, "distributions.declare")
    if d.status != APPROVED:
        raise IllegalTransition(f"only an approved distribution can be paid; this one is {d.status}")
    before = _snapshot(d)
    _move(d, DIST_PAID, paid_at=utcnow())  # the claim: a second click or a concurrent request stops here
    shares = list(db.session.scalars(select(DistributionShare).where(DistributionShare.distribution_id == d.id)
                                     .order_by(DistributionShare.id)))
    if sum(s.amount for s in shares) != d.amount:
        raise Conflict("the approved shares do not add up to the declared amount")
    per_user: dict[int, int] = {}
    for s in shares:
        per_user[s.user_id] = per_user.get(s.user_id, 0) + s.amount
    p = db.session.get(Property, d.property_id)
    lines = [(distributions_account(d.property_id), -d.amount)]
    lines += [(ledger.user_account(user_id, USER_WALLET), amount) for user_id, amount in per_user.items() if amount]
    entry = ledger.post(lines, key=f"declared:{d.id}", kind="declared_distribution",
                        memo=f"{p.title}: {d.label} ({d.period_start.isoformat()} to {d.period_end.isoformat()})",
                        actor_id=actor.id)
    d.entry_id = entry.id
    db.session.flush()
    audit.record("distributions.paid", actor=actor, target=d, before=before, after={
        "status": d.status, "entry_id": entry.id, "investors": len(per_user),
        "amount": Money(d.amount, d.currency).amount_str()})
    from app.auth.models import User

    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(list(per_user))))}
    for user_id, amount in per_user.items():
        notify(users[user_id], "declared_distribution_paid", link="/portfolio", title=p.title, label=d.label,
               amount=Money(amount, d.currency).display(),
               period=f"{d.period_start.isoformat()} to {d.period_end.isoformat()}")
    return d


def discard(d: DeclaredDistribution, *, actor, reason: str) -> DeclaredDistribution:
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


# the investor's view ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PaidShare:
    distribution_id: int
    property_id: int
    property_title: str
    property_slug: str
    label: str
    period_start: date
    period_end: date
    paid_at: datetime
    amount: Money


def paid_shares_for(user_id: int, *, investment_id: int | None = None, property_id: int | None = None,
                    limit: int | None = None) -> list[PaidShare]:
    """What the investor received from paid declared distributions, newest first, one row per distribution (their
    investments in the property added up). Drafts, approved and discarded ones are never shown. One query."""
    from app.properties.models import Property

    query = (select(DeclaredDistribution.id, DeclaredDistribution.property_id, Property.title, Property.slug,
                    DeclaredDistribution.label, DeclaredDistribution.period_start, DeclaredDistribution.period_end,
                    DeclaredDistribution.paid_at, DeclaredDistribution.currency,
                    func.sum(DistributionShare.amount))
             .join(DeclaredDistribution, DeclaredDistribution.id == DistributionShare.distribution_id)
             .join(Property, Property.id == DeclaredDistribution.property_id)
             .where(DistributionShare.user_id == user_id, DeclaredDistribution.status == DIST_PAID)
             .group_by(DeclaredDistribution.id, DeclaredDistribution.property_id, Property.title, Property.slug,
                       DeclaredDistribution.label, DeclaredDistribution.period_start,
                       DeclaredDistribution.period_end, DeclaredDistribution.paid_at, DeclaredDistribution.currency)
             .order_by(DeclaredDistribution.paid_at.desc(), DeclaredDistribution.id.desc()))
    if investment_id is not None:
        query = query.where(DistributionShare.investment_id == investment_id)
    if property_id is not None:
        query = query.where(DeclaredDistribution.property_id == property_id)
    if limit:
        query = query.limit(limit)
    return [PaidShare(distribution_id=i, property_id=pid, property_title=title, property_slug=slug, label=label,
                      period_start=start, period_end=end, paid_at=paid_at, amount=Money(int(total or 0), cur))
            for i, pid, title, slug, label, start, end, paid_at, cur, total in db.session.execute(query)]


# ledger check --------------------------------------------------------------------------------------------------------
def check_declared() -> list[str]:
    """Each paid declaration has its ledger entry, its shares add up to it, and the entry took exactly that from
    the property's distributions account; nothing unpaid has an entry."""
    from sqlalchemy import text

    rows = db.session.execute(text(
        """SELECT d.id, d.status, d.amount, d.entry_id, COALESCE(s.total, 0), COALESCE(p.taken, 0)
           FROM declared_distributions d
           LEFT JOIN (SELECT distribution_id, SUM(amount) AS total FROM distribution_shares
                      GROUP BY distribution_id) s ON s.distribution_id = d.id
           LEFT JOIN (SELECT lp.entry_id, -SUM(lp.amount) AS taken FROM ledger_postings lp
                      JOIN ledger_accounts a ON a.id = lp.account_id WHERE a.kind = 'returns_funding'
                      GROUP BY lp.entry_id) p ON p.entry_id = d.entry_id
           WHERE (d.status = 'paid' AND (d.entry_id IS NULL OR COALESCE(s.total, 0) <> d.amount
                                         OR COALESCE(p.taken, 0) <> d.amount))
              OR (d.status <> 'paid' AND d.entry_id IS NOT NULL)
           ORDER BY d.id""")).all()
    problems = []
    for did, status, amount, entry_id, shares, taken in rows:
        if status != "paid":
            problems.append(f"declared distribution #{did} is {status} but has ledger entry #{entry_id}")
        elif entry_id is None:
            problems.append(f"declared distribution #{did} is paid without a ledger entry")
        else:
            problems.append(f"declared distribution #{did} declares {amount}, its shares total {shares} and its "
                            f"entry took {taken}")
    return problems


def _register_check() -> None:
    from app.ledger.checks import register_check

    register_check(check_declared)


_register_check()
