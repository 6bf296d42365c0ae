"""Investing's invariants for `flask ledger verify` (registered by the app)."""
from __future__ import annotations

from sqlalchemy import text

from app.extensions import db


def check_units_sold() -> list[str]:
    """Each property's raised amount (units sold) equals its investments that were not refunded (paying, active or
    completed), and its escrow holds exactly what they paid and has not been paid back."""
    rows = db.session.execute(text(
        """SELECT p.id, p.raised_amount, COALESCE(i.total, 0)
           FROM properties p LEFT JOIN (SELECT property_id, SUM(amount) AS total FROM investments
                                        WHERE status IN ('paying', 'active', 'completed') GROUP BY property_id) i
             ON i.property_id = p.id
           WHERE p.raised_amount <> COALESCE(i.total, 0) AND p.status <> 'cancelled'
           ORDER BY p.id""")).all()
    problems = [f"property #{pid} records {raised} raised but its investments (not refunded) total {total}"
                for pid, raised, total in rows]
    rows = db.session.execute(text(
        """SELECT a.ref, a.balance, COALESCE(i.total, 0)
           FROM ledger_accounts a LEFT JOIN (SELECT CAST(property_id AS VARCHAR(80)) AS ref,
                                                    SUM(escrow_amount) AS total
                                             FROM investments GROUP BY property_id) i ON i.ref = a.ref
           WHERE a.kind = 'property_escrow' AND a.balance <> COALESCE(i.total, 0) ORDER BY a.ref""")).all()
    problems += [f"escrow of property #{ref} holds {bal} but its investments have {total} in escrow"
                 for ref, bal, total in rows]
    return problems
