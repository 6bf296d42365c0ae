"""Reading payouts: an investor's own (one, or a page of them), the console queue's counts and its risk-flag
filter."""
from __future__ import annotations

from sqlalchemy import String, func, select
from sqlalchemy.orm import selectinload

from app.core.errors import NotFound
from app.extensions import db
from app.payouts.models import PAYOUT_APPROVED, PAYOUT_REQUESTED, RISK_FLAGS, Payout
from app.payouts.terms import is_id


def payout_for_owner(payout_id, user) -> Payout:
    payout = db.session.get(Payout, payout_id) if is_id(payout_id) else None
    if payout is None or payout.user_id != user.id:
        raise NotFound("no such payout")
    return payout


def payouts_of(user_id: int, *, page: int = 1, per_page: int = 20, status: str | None = None):
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
