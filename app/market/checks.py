"""The market's invariants for `flask ledger verify` (registered by the app): listed units are reserved exactly,
and every live offer's money is held."""
from __future__ import annotations

from sqlalchemy import text

from app.extensions import db


def check_market() -> list[str]:
    rows = db.session.execute(text(
        """SELECT i.id, i.units, i.units_listed, COALESCE(l.total, 0)
           FROM investments i LEFT JOIN (SELECT investment_id, SUM(units_remaining) AS total FROM market_listings
                                         WHERE status = 'open' GROUP BY investment_id) l ON l.investment_id = i.id
           WHERE i.units_listed <> COALESCE(l.total, 0) OR i.units_listed > i.units
           ORDER BY i.id""")).all()
    problems = [f"holding #{iid} reserves {listed} units (of {units}) but its open listings have {total} left"
                for iid, units, listed, total in rows]
    rows = db.session.execute(text(
        """SELECT o.id, o.held_amount, h.status, h.amount
           FROM market_offers o LEFT JOIN ledger_holds h ON h.id = o.hold_id
           WHERE o.status IN ('open', 'countered')
             AND (h.id IS NULL OR h.status <> 'pending' OR h.amount <> o.held_amount OR h.user_id <> o.buyer_id)
           ORDER BY o.id""")).all()
    problems += [f"live offer #{oid} should hold {held} but its hold is {status or 'missing'} ({amount})"
                 for oid, held, status, amount in rows]
    return problems
