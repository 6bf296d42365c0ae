"""The payouts' invariant in `flask ledger verify`: each payout's hold matches the payout. Registered with the
ledger's checks when this module is imported (the services facade imports it)."""
from __future__ import annotations

from sqlalchemy import case, or_, select

from app.extensions import db
from app.ledger.models import HOLD_PENDING, HOLD_RELEASED, HOLD_SETTLED, Hold
from app.ledger.services import register_check
from app.payouts.models import PAYOUT_APPROVED, PAYOUT_PAID, PAYOUT_REQUESTED, Payout


@register_check
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
