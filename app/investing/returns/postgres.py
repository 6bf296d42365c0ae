"""One batch of a distribution run on PostgreSQL, done by the server: each step is one statement over the whole
batch, and no calendar row travels to Python and back (a run of a million positions would spend most of its time
turning rows into parameters otherwise). Only the batch's journal entries come up — one row per entry, with its
investors and amounts as arrays — to be posted by the ledger's bulk posting (`ledger.post_many`, set-based too).

The ids come from engine.due_ids: the rows of the funded periods (funded.py) of investments not still being paid
for. An investment stops being active either through the run itself (completed, once its calendar is empty) or
through a cancellation, which in the same transaction drops its future rows and keeps the due ones without their
capital and last flag (refunded with the escrow): so a period read as due is, at the claim, still payable, and the
claim needs to read the investment only for the periods that write to it (capital back or the last period, of
active investments only).

Claiming deletes the calendar rows (`DELETE ... RETURNING`, the rows chosen `FOR UPDATE SKIP LOCKED`) into a
temporary table dropped at commit (`return_batch`: the rows claimed and the entry chunk each falls in). The
investments are not locked, except those the batch writes to (a period with capital, or the last one), which are
taken `FOR NO KEY UPDATE SKIP LOCKED` (a period whose investment is held elsewhere is left for the next run). A
cancellation locks the investment, then deletes its calendar, then posts its refund: it either waits for the batch
to commit (and finds those periods paid) or keeps the batch away from that investment's periods. Lock order inside
the batch: calendar rows and those investments, then ledger accounts in id order (the ledger's own order).

The run lock: a session-level advisory lock, held on a connection of its own for the whole run.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, text

from app.extensions import db
from app.investing.returns.batch import Accounts, Batch, Group, PaidElsewhere, RunInfo, post_entries
from app.investing.returns.notices import RECORD_BATCH

log = logging.getLogger(__name__)

RUN_LOCK_KEY = 0x46485245544E52  # session advisory lock of the run in progress ("FHRETNR" in ASCII)

BATCH_TABLE = """
    CREATE TEMP TABLE return_batch (
        id bigint, investment_id bigint, property_id bigint, user_id bigint, period_index integer, due_on date,
        amount bigint, capital bigint, "last" boolean, chunk integer) ON COMMIT DROP"""
CLAIM = text("""
    WITH claimed AS (
        SELECT r.id, r.investment_id, r.capital > 0 OR r."last" AS closing
        FROM return_schedule AS r WHERE r.id = ANY(CAST(string_to_array(:ids, ',') AS BIGINT[]))
        FOR UPDATE OF r SKIP LOCKED),
    held AS (
        SELECT i.id FROM investments AS i
        WHERE i.id IN (SELECT investment_id FROM claimed WHERE closing) AND i.status = 'active'
        FOR NO KEY UPDATE OF i SKIP LOCKED),
    paid AS (
        DELETE FROM return_schedule AS s USING claimed AS c
        WHERE s.id = c.id AND (NOT c.closing OR c.investment_id IN (SELECT id FROM held))
        RETURNING s.id, s.investment_id, s.property_id, s.user_id, s.period_index, s.due_on, s.amount, s.capital,
                  s."last")
    INSERT INTO return_batch
    SELECT p.id, p.investment_id, p.property_id, p.user_id, p.period_index, p.due_on, p.amount, p.capital, p."last",
           CASE WHEN p.amount + p.capital > 0 THEN
               CAST((row_number() OVER (PARTITION BY p.property_id, p.amount + p.capital > 0 ORDER BY p.id) - 1)
                    / :entry_size AS INTEGER) END
    FROM paid AS p
""")
# one row per journal entry: the payments of one property's chunk, in calendar-row order (investors and amounts as
# comma-separated text, much cheaper to read than arrays)
GROUPS = text("""
    SELECT property_id, chunk, string_agg(CAST(user_id AS TEXT), ',' ORDER BY id),
           string_agg(CAST(amount + capital AS TEXT), ',' ORDER BY id), CAST(sum(amount) AS BIGINT),
           CAST(sum(capital) AS BIGINT)
    FROM return_batch WHERE chunk IS NOT NULL GROUP BY property_id, chunk ORDER BY property_id, chunk
""")
PAYMENTS = text("""
    INSERT INTO return_payments (investment_id, period_index, due_on, amount, capital, run_id, entry_id, paid_at)
    SELECT b.investment_id, b.period_index, b.due_on, b.amount, b.capital, :run, e.entry_id, :now
    FROM return_batch AS b
    LEFT JOIN unnest(CAST(:properties AS BIGINT[]), CAST(:chunks AS INTEGER[]), CAST(:entries AS BIGINT[]))
         AS e(property_id, chunk, entry_id) ON e.property_id = b.property_id AND e.chunk = b.chunk
    ON CONFLICT (investment_id, period_index) DO NOTHING
""")
CLOSE = text("""
    UPDATE investments AS i SET
        escrow_amount = GREATEST(i.escrow_amount - c.capital, 0),
        status = CASE WHEN c.done THEN 'completed' ELSE i.status END,
        closed_at = CASE WHEN c.done THEN :now ELSE i.closed_at END,
        close_reason = CASE WHEN c.done THEN 'every return period paid' ELSE i.close_reason END,
        updated_at = :now
    FROM (SELECT b.investment_id AS id, sum(b.capital) AS capital,
                 bool_or(b."last") AND NOT EXISTS (SELECT 1 FROM return_schedule AS r
                                                  WHERE r.investment_id = b.investment_id) AS done
          FROM return_batch AS b WHERE b."last" OR b.capital > 0 GROUP BY b.investment_id) AS c
    WHERE i.id = c.id AND i.status = 'active'
""")
COUNTERS = text("""
    UPDATE distribution_runs AS r SET payments = r.payments + s.n, total = r.total + s.total,
                                      capital = r.capital + s.capital, batches = r.batches + 1
    FROM (SELECT count(chunk) AS n, COALESCE(sum(amount), 0) AS total, COALESCE(sum(capital), 0) AS capital
          FROM return_batch) AS s
    WHERE r.id = :run
    RETURNING s.n, s.total, s.capital
""")
RECONCILE = text("""
    DELETE FROM return_schedule AS s
    WHERE s.id = ANY(CAST(string_to_array(:ids, ',') AS BIGINT[]))
      AND EXISTS (SELECT 1 FROM return_payments AS p
                  WHERE p.investment_id = s.investment_id AND p.period_index = s.period_index)
""")


def _ints(values) -> str:
    """Ids for `CAST(string_to_array(:ids, ',') AS BIGINT[])`: tens of thousands travel as one string, much cheaper
    to send than an array parameter built element by element."""
    return ",".join(map(str, values))


class Postgres:
    # run lock -----------------------------------------------------------------------------------------------------
    def acquire_run_lock(self):
        """Wait for the run in progress, if any, then hold the lock on a connection of its own until released."""
        conn = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": RUN_LOCK_KEY}).scalar():
                log.info("returns: another distribution run is in progress; waiting for it to finish")
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": RUN_LOCK_KEY})
        except BaseException:
            conn.close()
            raise
        return conn

    def release_run_lock(self, conn) -> None:
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": RUN_LOCK_KEY})
        finally:
            conn.close()

    # a batch ------------------------------------------------------------------------------------------------------
    def reconcile(self, ids) -> int:
        return cast("CursorResult[Any]", db.session.execute(RECONCILE, {"ids": _ints(ids)})).rowcount

    def pay_batch(self, accounts: Accounts, run: RunInfo, batch_no: int, ids, now: datetime) -> Batch:
        """Claim, post, pay and close finished investments for the calendar rows `ids`. Does not commit. Raises
        PaidElsewhere when a claimed period already had a payment row."""
        session = db.session
        session.execute(text(BATCH_TABLE))
        claimed = cast("CursorResult[Any]", session.execute(
            CLAIM, {"ids": _ints(ids), "entry_size": run.entry_size})).rowcount
        if claimed:
            session.execute(text("ANALYZE return_batch"))
            rows = session.execute(GROUPS).all()
            entries: list[int] = []
            if rows:
                groups = [Group(pid, [int(u) for u in users.split(",")], [int(a) for a in amounts.split(",")],
                                int(returns), int(capital)) for pid, _, users, amounts, returns, capital in rows]
                entries = post_entries(groups, accounts, run, batch_no)
            inserted = cast("CursorResult[Any]", session.execute(PAYMENTS, {
                "run": run.id, "now": now, "properties": [r[0] for r in rows], "chunks": [r[1] for r in rows],
                "entries": entries})).rowcount
            if inserted != claimed:
                raise PaidElsewhere(f"{claimed - inserted} period(s) of batch {batch_no} already had a payment")
            session.execute(CLOSE, {"now": now})
            session.execute(RECORD_BATCH, {"run": run.id, "now": now})  # the investors' notices, sent after the run
        payments, total, capital = session.execute(COUNTERS, {"run": run.id}).one()
        return Batch(int(payments), int(total), int(capital))
