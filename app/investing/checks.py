"""Investing's invariants for `flask ledger verify` (registered by the app)."""
from __future__ import annotations

from sqlalchemy import text

from app.extensions import db


def check_units_sold() -> list[str]:
    """Each property's raised amount equals its investments that were not refunded (paying, active or completed),
    its escrow holds exactly what they paid and has not been paid back, and its units sold are the units its
    holdings own."""
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
    problems += _units_problems()
    return problems


def _units_problems() -> list[str]:
    """Per property, the units of its holdings that were not refunded (paying, active, completed; a sold holding
    has none) equal the units its offering sold; each holding owns paid_amount // unit price units (bought on the
    market or from the offering alike), a refunded one none, and never lists more than it owns."""
    rows = db.session.execute(text(
        """SELECT p.id, p.units_sold, COALESCE(i.total, 0)
           FROM properties p LEFT JOIN (SELECT property_id, SUM(units) AS total FROM investments
                                        WHERE status IN ('paying', 'active', 'completed', 'sold')
                                        GROUP BY property_id) i
             ON i.property_id = p.id
           WHERE p.units_sold <> COALESCE(i.total, 0)
           ORDER BY p.id""")).all()
    problems = [f"property #{pid} records {sold} units sold but its holdings (not refunded) own {total}"
                for pid, sold, total in rows]
    rows = db.session.execute(text(
        """SELECT i.id, i.units, i.units_listed, CASE WHEN i.status IN ('cancelled', 'defaulted') THEN 0
                                                     ELSE i.paid_amount / p.unit_price END
           FROM investments i JOIN properties p ON p.id = i.property_id
           WHERE i.units <> CASE WHEN i.status IN ('cancelled', 'defaulted') THEN 0
                                 ELSE i.paid_amount / p.unit_price END
              OR i.units_listed > i.units
           ORDER BY i.id""")).all()
    problems += [f"investment #{iid} owns {units} units ({listed} listed) but its paid amount makes {expected}"
                 for iid, units, listed, expected in rows]
    return problems
