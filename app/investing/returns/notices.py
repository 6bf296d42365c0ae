"""Return notices, the recording side: what a run paid each investor, one row per (run, investor) in
`return_notices`, written in the transaction of each batch of payments, set-based (one statement per batch on
PostgreSQL, one executemany on SQLite). A batch that pays an investor again (another property, or a period of a
period spanning batches) adds to their row. Nothing is sent here: the run queues the sending once it is over
(app.investing.return_notices), so an investor gets one notice per run, after commit, for committed batches only.

`details` lists what was paid, one item per property and due date, "property_id:due_on:amount:capital", joined
by ";": the notice is rendered from it without reading the payments again."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import bindparam, text

from app.core.db import UTCDateTime
from app.extensions import db

# On PostgreSQL, from the batch's temporary table (postgres.py): the payments that moved money, grouped by investor
RECORD_BATCH = text("""
    INSERT INTO return_notices AS n (run_id, user_id, payments, amount, capital, details, created_at)
    SELECT :run, g.user_id, CAST(sum(g.n) AS INTEGER), sum(g.amount), sum(g.capital),
           string_agg(g.property_id || ':' || g.due_on || ':' || g.amount || ':' || g.capital, ';'
                      ORDER BY g.property_id, g.due_on), :now
    FROM (SELECT user_id, property_id, due_on, count(*) AS n, sum(amount) AS amount, sum(capital) AS capital
          FROM return_batch WHERE chunk IS NOT NULL GROUP BY user_id, property_id, due_on) AS g
    GROUP BY g.user_id
    ON CONFLICT (run_id, user_id) DO UPDATE SET
        payments = n.payments + EXCLUDED.payments, amount = n.amount + EXCLUDED.amount,
        capital = n.capital + EXCLUDED.capital, details = n.details || ';' || EXCLUDED.details
""")

# Either database, from rows already in Python (SQLite's batches, capital paid while its period waits)
RECORD_ROWS = text("""
    INSERT INTO return_notices AS n (run_id, user_id, payments, amount, capital, details, created_at)
    VALUES (:run, :user_id, :payments, :amount, :capital, :details, :now)
    ON CONFLICT (run_id, user_id) DO UPDATE SET
        payments = n.payments + excluded.payments, amount = n.amount + excluded.amount,
        capital = n.capital + excluded.capital, details = n.details || ';' || excluded.details
""").bindparams(bindparam("now", type_=UTCDateTime()))


def record_rows(run_id: int, paid: Iterable[tuple[int, int, object, int, int]], now: datetime) -> int:
    """Add (user_id, property_id, due_on, amount, capital) payments to the investors' notices of the run; returns
    how many investors. Payments that moved no money are left out."""
    per_user: dict[int, dict[tuple[int, str], list[int]]] = {}
    for user_id, property_id, due_on, amount, capital in paid:
        if amount + capital <= 0:
            continue
        day = due_on.isoformat() if isinstance(due_on, date) else str(due_on)[:10]
        item = per_user.setdefault(user_id, {}).setdefault((property_id, day), [0, 0, 0])
        item[0] += 1
        item[1] += amount
        item[2] += capital
    if not per_user:
        return 0
    db.session.execute(RECORD_ROWS, [
        {"run": run_id, "user_id": user_id, "payments": sum(v[0] for v in items.values()),
         "amount": sum(v[1] for v in items.values()), "capital": sum(v[2] for v in items.values()),
         "details": ";".join(f"{pid}:{day}:{v[1]}:{v[2]}" for (pid, day), v in sorted(items.items())), "now": now}
        for user_id, items in sorted(per_user.items())])
    return len(per_user)


def parse_details(details: str) -> list[tuple[int, date, int, int]]:
    """The (property_id, due_on, amount, capital) items of a notice row, in property and date order (items of the
    same property and day added by several batches are summed)."""
    summed: dict[tuple[int, date], list[int]] = {}
    for item in filter(None, details.split(";")):
        pid, day, amount, capital = item.split(":")
        got = summed.setdefault((int(pid), date.fromisoformat(day)), [0, 0])
        got[0] += int(amount)
        got[1] += int(capital)
    return [(pid, day, v[0], v[1]) for (pid, day), v in sorted(summed.items())]
