"""Which due return periods the distributions accounts cover: one SQL statement, the same on PostgreSQL and SQLite
(both have window functions), so no calendar row is looked at one by one in Python.

A *period* of a property is its calendar rows with the same due date. period_index does not line up across
investments (each investment counts its periods from its own anchor: the funding close, its investment date or its
last installment), so the due date is what groups the investors paid together: every row of a property due on that
day, whatever its index.

Per property the periods are ordered by due date and their returns summed as a running total (a window sum); the
periods whose running total is within the balance of the property's distributions account
(`returns_funding:<property id>`) are funded. The returns are never negative, so the running total only grows and
the funded periods are always the oldest ones, with no gap: a later, smaller period never jumps an older one that
the account does not cover. The others wait in the calendar: the property's funding shortfall.

A period counts when its rows are due by the as-of date and their investment is not still being paid for
(`paying`): an active investment, or one cancelled or completed since, whose rows due before it closed stay owed
to the holder on their due date (the row's user_id).
"""
from __future__ import annotations

from sqlalchemy import Date, TextClause, bindparam, text

_DUE = """
    due AS (
        SELECT s.id, s.property_id, s.user_id, s.due_on, s.amount, s.capital
        FROM return_schedule AS s JOIN investments AS i ON i.id = s.investment_id
        WHERE s.due_on <= :as_of AND i.status <> 'paying'),
    periods AS (
        SELECT d.property_id, d.due_on, SUM(d.amount) AS returns, COUNT(*) AS payments
        FROM due AS d GROUP BY d.property_id, d.due_on),
    running AS (
        SELECT p.property_id, p.due_on, p.returns, p.payments,
               SUM(p.returns) OVER (PARTITION BY p.property_id ORDER BY p.due_on) AS needed
        FROM periods AS p),
    judged AS (
        SELECT r.property_id, r.due_on, r.returns, r.payments, r.needed, COALESCE(a.balance, 0) AS balance,
               CASE WHEN r.needed <= COALESCE(a.balance, 0) THEN 1 ELSE 0 END AS funded
        FROM running AS r
        LEFT JOIN ledger_accounts AS a
               ON a.code = 'returns_funding:' || CAST(r.property_id AS VARCHAR(20)))"""



def _with_due(query: str) -> TextClause:
    """The statement `query` preceded by the common table expressions above (constant text, no user input)."""
    return text("".join(("WITH ", _DUE, query)))


# ids of the calendar rows of funded periods, a property's periods oldest first, a period's rows together
FUNDED_IDS = _with_due("""
    SELECT d.id FROM due AS d
    JOIN judged AS j ON j.property_id = d.property_id AND j.due_on = d.due_on AND j.funded = 1
    ORDER BY d.property_id, d.due_on, d.id
""").bindparams(bindparam("as_of", type_=Date()))

# ids of the calendar rows that bring capital back in periods that wait for funding: the capital is paid from
# escrow anyway (see engine.pay_waiting_capital)
WAITING_CAPITAL_IDS = _with_due("""
    SELECT d.id FROM due AS d
    JOIN judged AS j ON j.property_id = d.property_id AND j.due_on = d.due_on AND j.funded = 0
    WHERE d.capital > 0
    ORDER BY d.property_id, d.id
""").bindparams(bindparam("as_of", type_=Date()))

# per property: the periods that wait (count, oldest due date, their returns), the account's balance and the returns
# of every due period, funded or not (the running total at the last one)
WAITING = _with_due("""
    SELECT j.property_id, COUNT(*), MIN(j.due_on), SUM(j.returns), MAX(j.balance), MAX(j.needed)
    FROM judged AS j WHERE j.funded = 0
    GROUP BY j.property_id ORDER BY j.property_id
""").bindparams(bindparam("as_of", type_=Date()))

# per property and funded/waiting: investors, payments, periods, returns, capital, and the account's balance
PREVIEW = _with_due("""
    SELECT d.property_id, j.funded, COUNT(DISTINCT d.user_id),
           SUM(CASE WHEN d.amount + d.capital > 0 THEN 1 ELSE 0 END), COUNT(DISTINCT d.due_on), COUNT(*),
           COALESCE(SUM(d.amount), 0), COALESCE(SUM(d.capital), 0), MAX(j.balance)
    FROM due AS d
    JOIN judged AS j ON j.property_id = d.property_id AND j.due_on = d.due_on
    GROUP BY d.property_id, j.funded
""").bindparams(bindparam("as_of", type_=Date()))
