"""What was paid of declared distributions: each investor's shares as they see them, and the ledger invariant
that a paid declaration took exactly its amount from the distributions account (for `flask ledger verify`)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import cast

from sqlalchemy import func, select, text

from app.core.money import Money
from app.extensions import db
from app.investing.models import DIST_PAID, DeclaredDistribution, DistributionShare
from app.properties.models import Property


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
                      period_start=start, period_end=end,
                      paid_at=cast("datetime", paid_at),  # a paid distribution has its paid_at
                      amount=Money(int(total or 0), cur))
            for i, pid, title, slug, label, start, end, paid_at, cur, total in db.session.execute(query)]


def check_declared() -> list[str]:
    """Each paid declaration has its ledger entry, its shares add up to it, and the entry took exactly that from
    the property's distributions account; nothing unpaid has an entry."""
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
