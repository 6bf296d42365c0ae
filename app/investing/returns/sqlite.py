"""One batch of a distribution run on SQLite, the embedded default: the calendar rows come to Python and go back by
executemany. SQLite takes one writer at a time and the claim is the batch's first statement (a write), so two runs
never claim the same row; id lists travel as JSON (`json_each`)."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import CursorResult, Date, bindparam, text

from app.core.db import UTCDateTime
from app.extensions import db
from app.investing.returns.batch import Accounts, Batch, Group, PaidElsewhere, RunInfo, post_entries
from app.investing.returns.notices import record_rows

_AS_OF = bindparam("as_of", type_=Date())
_NOW = bindparam("now", type_=UTCDateTime())


class Due(NamedTuple):
    id: int
    investment_id: int
    property_id: int
    user_id: int
    period_index: int
    due_on: object  # date or ISO string, passed back as read
    amount: int
    capital: int
    last: bool


class SQLite:
    CLAIM = text("""
        DELETE FROM return_schedule
        WHERE id IN (SELECT value FROM json_each(:ids)) AND due_on <= :as_of
          AND EXISTS (SELECT 1 FROM investments AS i WHERE i.id = return_schedule.investment_id
                                                       AND i.status <> 'paying')
        RETURNING id, investment_id, property_id, user_id, period_index, due_on, amount, capital, "last"
    """).bindparams(_AS_OF)
    RECONCILE = text("""
        DELETE FROM return_schedule
        WHERE id IN (SELECT value FROM json_each(:ids))
          AND EXISTS (SELECT 1 FROM return_payments AS p WHERE p.investment_id = return_schedule.investment_id
                                                          AND p.period_index = return_schedule.period_index)
    """)
    PAYMENTS = text("""
        INSERT INTO return_payments (investment_id, period_index, due_on, amount, capital, run_id, entry_id, paid_at)
        VALUES (:investment_id, :period_index, :due_on, :amount, :capital, :run, :entry_id, :now)
        ON CONFLICT (investment_id, period_index) DO NOTHING
    """).bindparams(_NOW)
    CLOSE = text("""
        UPDATE investments SET
            escrow_amount = CASE WHEN escrow_amount > :capital THEN escrow_amount - :capital ELSE 0 END,
            status = CASE WHEN :last AND NOT EXISTS (SELECT 1 FROM return_schedule AS r
                                                    WHERE r.investment_id = investments.id)
                          THEN 'completed' ELSE status END,
            closed_at = CASE WHEN :last AND NOT EXISTS (SELECT 1 FROM return_schedule AS r
                                                       WHERE r.investment_id = investments.id)
                             THEN :now ELSE closed_at END,
            close_reason = CASE WHEN :last AND NOT EXISTS (SELECT 1 FROM return_schedule AS r
                                                          WHERE r.investment_id = investments.id)
                                THEN 'every return period paid' ELSE close_reason END,
            updated_at = :now
        WHERE id = :id AND status = 'active'
    """).bindparams(_NOW)
    COUNTERS = text("UPDATE distribution_runs SET payments = payments + :n, total = total + :total, "
                    "capital = capital + :capital, batches = batches + 1 WHERE id = :run")

    def acquire_run_lock(self):
        return None  # no such lock: a run left `running` too long is taken as dead (engine.STALE_AFTER)

    def release_run_lock(self, conn) -> None:
        return None

    def claim(self, ids, as_of) -> list[Due]:
        return [Due._make((*r[:8], bool(r[8])))
                for r in db.session.execute(self.CLAIM, {"ids": json.dumps(list(ids)), "as_of": as_of})]

    def reconcile(self, ids) -> int:
        return cast("CursorResult[Any]",
                    db.session.execute(self.RECONCILE, {"ids": json.dumps(list(ids))})).rowcount

    def pay_batch(self, accounts: Accounts, run: RunInfo, batch_no: int, ids, now: datetime) -> Batch:
        """One transaction's worth: claim, post, pay, close finished investments, count. Does not commit."""
        rows = self.claim(ids, run.as_of)
        done = Batch()
        entry_of: dict[int, int] = {}  # calendar row id -> its entry; the periods that move no money have none
        money = sorted((r for r in rows if r.amount + r.capital > 0), key=lambda r: (r.property_id, r.id))
        if money:
            chunks: list[list[Due]] = []
            for r in money:
                if chunks and chunks[-1][0].property_id == r.property_id and len(chunks[-1]) < run.entry_size:
                    chunks[-1].append(r)
                else:
                    chunks.append([r])
            groups = [Group(c[0].property_id, [r.user_id for r in c], [r.amount + r.capital for r in c],
                            sum(r.amount for r in c), sum(r.capital for r in c)) for c in chunks]
            for chunk, entry_id in zip(chunks, post_entries(groups, accounts, run, batch_no)):
                entry_of.update((r.id, entry_id) for r in chunk)
            done = Batch(len(money), sum(g.returns for g in groups), sum(g.capital for g in groups))
        if rows:
            inserted = cast("CursorResult[Any]", db.session.execute(self.PAYMENTS, [
                {"investment_id": r.investment_id, "period_index": r.period_index, "due_on": r.due_on,
                 "amount": r.amount, "capital": r.capital, "entry_id": entry_of.get(r.id), "run": run.id, "now": now}
                for r in rows])).rowcount
            if inserted != len(rows):
                raise PaidElsewhere(f"{len(rows) - inserted} period(s) of batch {batch_no} already had a payment")
            closing: dict[int, list] = {}
            for r in rows:
                if r.last or r.capital:
                    c = closing.setdefault(r.investment_id, [0, False])
                    c[0] += r.capital
                    c[1] = c[1] or bool(r.last)
            record_rows(run.id, ((r.user_id, r.property_id, r.due_on, r.amount, r.capital) for r in money), now)
            if closing:
                db.session.execute(self.CLOSE, [{"id": i, "capital": closing[i][0], "last": bool(closing[i][1]),
                                                 "now": now} for i in sorted(closing)])
        db.session.execute(self.COUNTERS, {"n": done.payments, "total": done.total, "capital": done.capital,
                                           "run": run.id})
        return done
