"""One batch of a distribution run on PostgreSQL, done by the server: each step is one statement over the whole
batch, and no row travels to Python and back (a run of a million positions would spend most of its time turning
rows into parameters otherwise).

The ids come from distribution.due_ids, which keeps the periods of active investments only. An investment stops
being active either through the run itself (completed, once its calendar is empty) or through services._close
(cancelled), which deletes its calendar in the same transaction: so a period read as due is, at the claim, either
still payable or gone, and the claim needs to read the investment only for the periods that write to it.
Each investor's wallet is looked up by a scalar subquery (one index probe per row, among neighbours since the
batch is ordered by investor); as a join the planner would read every wallet for each batch.

The batch lives in three temporary tables, dropped at commit (or rollback):
    return_batch          the calendar rows claimed, with the investor's wallet and the entry chunk they fall in;
    return_batch_entries  one journal entry per chunk of up to ENTRY_SIZE payments of one property;
    return_batch_lines    the entries' postings: a credit per payment, a debit per entry from the property's
                          distributions account (the returns) and one from its escrow (the capital).

Claiming deletes the calendar rows (`DELETE ... RETURNING`, the rows chosen `FOR UPDATE SKIP LOCKED`). The
investments are not locked, except those the batch writes to (a period with capital, or the last one), which are
taken `FOR NO KEY UPDATE SKIP LOCKED` (a period whose investment is held elsewhere is left for the next run). A
cancellation locks the investment, then deletes its calendar, then posts its refund: it either waits for the batch
to commit (and finds those periods paid) or keeps the batch away from that investment's periods. Lock order inside the batch: calendar rows and those
investments, then ledger accounts in id order (as ledger.post does).

The fingerprint of each entry is the one ledger.post computes (sha256 of the canonical JSON of its kind and
sorted lines), built here with string_agg; tests compare the two.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import text

from app.extensions import db
from app.ledger.models import PROPERTY_ESCROW, RETURNS_FUNDING


class PaidElsewhere(Exception):
    """Some period of the batch already has a payment row (its calendar row was still there)."""


_TEMP_TABLES = (
    """CREATE TEMP TABLE return_batch (
           id bigint, investment_id bigint, property_id bigint, user_id bigint, period_index integer, due_on date,
           amount bigint, capital bigint, "last" boolean, wallet_id bigint, chunk integer) ON COMMIT DROP""",
    """CREATE TEMP TABLE return_batch_entries (
           property_id bigint, chunk integer, entry_id bigint, n integer, payments integer, returns bigint,
           capital bigint, funding_id bigint, escrow_id bigint) ON COMMIT DROP""",
    """CREATE TEMP TABLE return_batch_lines (entry_id bigint, account_id bigint, amount bigint) ON COMMIT DROP""",
)

CLAIM = text("""
    WITH claimed AS (
        SELECT r.id, r.investment_id, r.capital > 0 OR r."last" AS closing
        FROM return_schedule AS r WHERE r.id = ANY(CAST(:ids AS BIGINT[]))
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
           (SELECT w.id FROM ledger_accounts AS w WHERE w.user_id = p.user_id AND w.kind = 'user_wallet'),
           CASE WHEN p.amount + p.capital > 0 THEN
               CAST((row_number() OVER (PARTITION BY p.property_id, p.amount + p.capital > 0 ORDER BY p.id) - 1)
                    / :entry_size AS INTEGER) END
    FROM paid AS p
""")
NO_WALLET = text("SELECT DISTINCT user_id FROM return_batch WHERE wallet_id IS NULL AND chunk IS NOT NULL")
SET_WALLETS = text("""
    UPDATE return_batch AS b SET wallet_id = w.id
    FROM unnest(CAST(:users AS BIGINT[]), CAST(:wallets AS BIGINT[])) AS w(user_id, id) WHERE b.user_id = w.user_id
""")
PROPERTIES = text("""
    SELECT property_id, bool_or(amount > 0), bool_or(capital > 0) FROM return_batch WHERE chunk IS NOT NULL
    GROUP BY property_id
""")
ENTRIES = text("""
    INSERT INTO return_batch_entries
    SELECT g.property_id, g.chunk, nextval(pg_get_serial_sequence('ledger_entries', 'id')),
           CAST(row_number() OVER (ORDER BY g.property_id, g.chunk) AS INTEGER), g.payments, g.returns, g.capital,
           a.funding_id, a.escrow_id
    FROM (SELECT property_id, chunk, count(*) AS payments, sum(amount) AS returns, sum(capital) AS capital
          FROM return_batch WHERE chunk IS NOT NULL GROUP BY property_id, chunk) AS g
    JOIN unnest(CAST(:properties AS BIGINT[]), CAST(:fundings AS BIGINT[]), CAST(:escrows AS BIGINT[]))
         AS a(property_id, funding_id, escrow_id) ON a.property_id = g.property_id
""")
LINES = text("""
    INSERT INTO return_batch_lines
    SELECT e.entry_id, b.wallet_id, b.amount + b.capital
    FROM return_batch AS b JOIN return_batch_entries AS e ON e.property_id = b.property_id AND e.chunk = b.chunk
    UNION ALL SELECT entry_id, funding_id, -returns FROM return_batch_entries WHERE returns > 0
    UNION ALL SELECT entry_id, escrow_id, -capital FROM return_batch_entries WHERE capital > 0
""")
JOURNAL = text("""
    INSERT INTO ledger_entries (id, kind, memo, idempotency_key, fingerprint, actor_id, created_at)
    SELECT e.entry_id, :kind,
           'Returns run #' || CAST(:run AS TEXT) || ' as of ' || CAST(:as_of AS TEXT) || ': property #'
               || e.property_id || ', ' || e.payments || ' payment(s)',
           'returns:' || CAST(:run AS TEXT) || ':' || CAST(:batch AS TEXT) || ':' || e.n,
           f.fingerprint, :actor, :now
    FROM return_batch_entries AS e JOIN (
        SELECT entry_id,
               encode(sha256(convert_to('{"kind":"' || :kind || '","reverses"\\:null,"lines":['
                   || string_agg('[' || account_id || ',' || amount || ']', ',' ORDER BY account_id, amount)
                   || ']}', 'UTF8')), 'hex') AS fingerprint
        FROM return_batch_lines GROUP BY entry_id) AS f ON f.entry_id = e.entry_id
""")
PAYMENTS = text("""
    INSERT INTO return_payments (investment_id, period_index, due_on, amount, capital, run_id, entry_id, paid_at)
    SELECT b.investment_id, b.period_index, b.due_on, b.amount, b.capital, :run, e.entry_id, :now
    FROM return_batch AS b
    LEFT JOIN return_batch_entries AS e ON e.property_id = b.property_id AND e.chunk = b.chunk
    ON CONFLICT (investment_id, period_index) DO NOTHING
""")
POSTINGS = text("INSERT INTO ledger_postings (entry_id, account_id, amount) "
                "SELECT entry_id, account_id, amount FROM return_batch_lines")
LOCK_ACCOUNTS = text("""
    SELECT a.id FROM ledger_accounts AS a WHERE a.id IN (SELECT account_id FROM return_batch_lines)
    ORDER BY a.id FOR NO KEY UPDATE OF a
""")
BALANCES = text("""
    UPDATE ledger_accounts AS a SET balance = a.balance + d.delta
    FROM (SELECT account_id, sum(amount) AS delta FROM return_batch_lines GROUP BY account_id) AS d
    WHERE a.id = d.account_id AND d.delta <> 0
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


def pay_batch(accounts, *, run_id: int, as_of: date, actor_id: int | None, batch_no: int, ids, now, entry_size: int,
              kind: str) -> tuple[int, int, int]:
    """Claim, pay, post, move balances and close finished investments for the calendar rows `ids`. Does not commit.
    Returns (payments, returns, capital); raises PaidElsewhere when a claimed period already had a
    payment row. `accounts` is the run's distribution._Accounts."""
    session = db.session
    for statement in _TEMP_TABLES:
        session.execute(text(statement))
    claimed = session.execute(CLAIM, {"ids": list(ids), "entry_size": entry_size}).rowcount
    if claimed:
        session.execute(text("ANALYZE return_batch"))
        missing = sorted(session.scalars(NO_WALLET))
        if missing:
            wallets = accounts.wallets(missing)
            session.execute(SET_WALLETS, {"users": list(wallets), "wallets": list(wallets.values())})
        needs = session.execute(PROPERTIES).all()
        if needs:
            platform = accounts.platform({(RETURNS_FUNDING, pid) for pid, returns, _ in needs if returns}
                                         | {(PROPERTY_ESCROW, pid) for pid, _, capital in needs if capital})
            session.execute(ENTRIES, {
                "properties": [pid for pid, _, _ in needs],
                "fundings": [platform.get((RETURNS_FUNDING, pid)) for pid, _, _ in needs],
                "escrows": [platform.get((PROPERTY_ESCROW, pid)) for pid, _, _ in needs]})
            session.execute(LINES)
            session.execute(JOURNAL, {"kind": kind, "run": run_id, "as_of": as_of.isoformat(), "batch": batch_no,
                                      "actor": actor_id, "now": now})
        inserted = session.execute(PAYMENTS, {"run": run_id, "now": now}).rowcount
        if inserted != claimed:
            raise PaidElsewhere(f"{claimed - inserted} period(s) of batch {batch_no} already had a payment")
        if needs:
            session.execute(POSTINGS)
            session.execute(LOCK_ACCOUNTS).all()
            session.execute(BALANCES)
        session.execute(CLOSE, {"now": now})
    payments, total, capital = session.execute(COUNTERS, {"run": run_id}).one()
    return int(payments), int(total), int(capital)
