"""The return distribution engine: pays every scheduled return period that is due, set-based.

A run pays the `return_schedule` rows (the calendar holds only periods still to pay) with `due_on <= as_of` whose
investment is active, missed periods included. It is a job, not a service: it commits once per batch, so call it
from a task or a command (the console queues the task).

How a run goes
    1. On PostgreSQL the run takes a session-level advisory lock, held on a connection of its own for the whole run.
       A second run started meanwhile waits for the first to finish and then finds nothing left to pay. Holding
       the lock also proves that any run row still marked `running` belongs to a process that died: it is marked
       failed. (SQLite has no such lock: a run left `running` for longer than STALE_AFTER is marked failed.)
    2. The run row is written (status running) and committed, then the ids of the due rows of active investments
       are read once, ordered by investor: an investor's periods fall in one batch, so their wallet moves once per
       run, and a batch writes to few pages of accounts and postings.
    3. The ids are paid in batches of BATCH_SIZE, each batch one transaction:
       - claim: the calendar rows still there, due, and whose investment is active are deleted and returned (a
         paid period leaves the calendar; its payment row is its record). On PostgreSQL they are chosen
         `FOR UPDATE SKIP LOCKED` (and, for the periods that write to their investment, the investment
         `FOR NO KEY UPDATE SKIP LOCKED`): a run that does not hold the run lock only ever takes rows nobody else
         holds, and a cancellation (which locks the investment, then deletes its calendar, then posts) never
         deadlocks with a run;
       - return_payments rows are inserted with `ON CONFLICT (investment_id, period_index) DO NOTHING`; if any
         period turns out to be paid already the batch is rolled back, those calendar rows are removed without
         moving money, and the batch is retried;
       - journal entries (kind `returns`) and their postings are inserted in bulk: each entry holds up to
         ENTRY_SIZE payments of one property, a credit to each investor's wallet (return + capital), one debit of
         the returns from the property's distributions account (`returns_funding:<property id>`, which may go
         below zero: that is what the operator owes) and one debit of the capital from the property's escrow;
       - cached balances move by one UPDATE per batch, after locking the accounts in id order (as ledger.post
         does, so no deadlock with other writers);
       - investments get their capital out of escrow_amount, and become completed once their last period is paid
         and nothing is left in their calendar;
       - the run's counters move; commit.
    4. The run is marked succeeded (or failed, with the error); committed batches stay paid either way, and the
       next run pays what is left. UNIQUE(investment_id, period_index) on return_payments backs all of this.

On PostgreSQL a batch is done by the server, one statement per step over the whole batch (distribution_pg). On
SQLite (the zero-setup default, one writer at a time) rows come to Python and go back by executemany.

Why entries of at most ENTRY_SIZE payments rather than one per batch: on PostgreSQL the ledger's guards check
each INSERT of postings as a whole (its entries balance and are complete) and each entry at commit (it has
postings); an entry of a property's payments stays readable for finance, and ENTRY_SIZE keeps entries few.

A period whose return and capital are both zero moves no money: it gets a payment row without a journal entry.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from array import array
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable, NamedTuple

from sqlalchemy import Date, bindparam, text

from app.core.db import UTCDateTime, utcnow
from app.core.errors import ValidationError
from app.extensions import db
from app.investing import distribution_pg
from app.investing.distribution_pg import PaidElsewhere
from app.investing.models import FAILED, RUNNING, SUCCEEDED, DistributionRun
from app.ledger import services as ledger
from app.ledger.models import PROPERTY_ESCROW, RETURNS_FUNDING

log = logging.getLogger(__name__)

BATCH_SIZE = 25_000          # calendar rows per transaction
ENTRY_SIZE = 100             # payments of one property per journal entry (see the module docstring)
ENTRY_KIND = "returns"
RUN_LOCK_KEY = 0x46485245544E52  # session advisory lock of the run in progress ("FHRETNR" in ASCII)
STALE_AFTER = timedelta(hours=2)  # SQLite only: a run still `running` after this long is taken as dead
TRIGGERS = ("beat", "cli", "console")


class Due(NamedTuple):
    id: int
    investment_id: int
    property_id: int
    user_id: int
    period_index: int
    due_on: object  # date or ISO string (SQLite), passed back as read
    amount: int
    capital: int
    last: bool
    wallet_id: int | None  # the investor's wallet account (None if the user somehow has none)


class _Run(NamedTuple):
    id: int
    as_of: date
    actor_id: int | None


def today() -> date:
    return utcnow().date()


# SQL per dialect -----------------------------------------------------------------------------------------------------
_AS_OF = bindparam("as_of", type_=Date())
_NOW = bindparam("now", type_=UTCDateTime())

_RUN_COUNTERS = text(
    "UPDATE distribution_runs SET payments = payments + :n, total = total + :total, capital = capital + :capital, "
    "batches = batches + 1 WHERE id = :run")


class _Postgres:
    """Batches are paid by the server (distribution_pg); here: the run lock and the lookups of accounts."""

    RECONCILE = text("""
        DELETE FROM return_schedule AS s
        WHERE s.id = ANY(CAST(:ids AS BIGINT[]))
          AND EXISTS (SELECT 1 FROM return_payments AS p
                      WHERE p.investment_id = s.investment_id AND p.period_index = s.period_index)
    """)
    WALLETS = text("SELECT user_id, id FROM ledger_accounts "
                   "WHERE kind = 'user_wallet' AND user_id = ANY(CAST(:ids AS BIGINT[]))")
    ACCOUNTS = text("SELECT code, id FROM ledger_accounts WHERE code = ANY(CAST(:codes AS TEXT[]))")

    # run lock ---------------------------------------------------------------------------------------------------
    def acquire_run_lock(self):
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

    def reconcile(self, ids) -> int:
        return db.session.execute(self.RECONCILE, {"ids": list(ids)}).rowcount

    def wallets(self, user_ids) -> dict[int, int]:
        return dict(db.session.execute(self.WALLETS, {"ids": user_ids}).all())

    def accounts(self, codes) -> dict[str, int]:
        return dict(db.session.execute(self.ACCOUNTS, {"codes": codes}).all())

    def pay_batch(self, accounts, run: _Run, batch_no: int, ids, now: datetime) -> _Batch:
        payments, total, capital = distribution_pg.pay_batch(
            accounts, run_id=run.id, as_of=run.as_of, actor_id=run.actor_id, batch_no=batch_no, ids=ids, now=now,
            entry_size=ENTRY_SIZE, kind=ENTRY_KIND)
        return _Batch(payments, total, capital)


class _SQLite:
    """The embedded default: id lists travel as JSON (`json_each`), rows by executemany. SQLite takes one writer at
    a time and the claim is the batch's first statement (a write), so two runs never claim the same row."""

    CLAIM = text("""
        DELETE FROM return_schedule
        WHERE id IN (SELECT value FROM json_each(:ids)) AND due_on <= :as_of
          AND EXISTS (SELECT 1 FROM investments AS i WHERE i.id = return_schedule.investment_id
                                                       AND i.status = 'active')
        RETURNING id, investment_id, property_id, user_id, period_index, due_on, amount, capital, "last",
                  (SELECT a.id FROM ledger_accounts AS a WHERE a.user_id = return_schedule.user_id
                                                          AND a.kind = 'user_wallet')
    """).bindparams(_AS_OF)
    RECONCILE = text("""
        DELETE FROM return_schedule
        WHERE id IN (SELECT value FROM json_each(:ids))
          AND EXISTS (SELECT 1 FROM return_payments AS p WHERE p.investment_id = return_schedule.investment_id
                                                          AND p.period_index = return_schedule.period_index)
    """)
    WALLETS = text("SELECT user_id, id FROM ledger_accounts "
                   "WHERE kind = 'user_wallet' AND user_id IN (SELECT value FROM json_each(:ids))")
    ACCOUNTS = text("SELECT code, id FROM ledger_accounts WHERE code IN (SELECT value FROM json_each(:codes))")
    ENTRIES = text("INSERT INTO ledger_entries (id, kind, memo, idempotency_key, fingerprint, actor_id, created_at) "
                   "VALUES (:id, :kind, :memo, :key, :fp, :actor, :now)").bindparams(_NOW)
    PAYMENTS = text("""
        INSERT INTO return_payments (investment_id, period_index, due_on, amount, capital, run_id, entry_id, paid_at)
        VALUES (:investment_id, :period_index, :due_on, :amount, :capital, :run, :entry_id, :now)
        ON CONFLICT (investment_id, period_index) DO NOTHING
    """).bindparams(_NOW)
    POSTINGS = text("INSERT INTO ledger_postings (entry_id, account_id, amount) VALUES (:entry_id, :account_id, :amount)")
    BALANCES = text("UPDATE ledger_accounts SET balance = balance + :delta WHERE id = :id")
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

    def acquire_run_lock(self):
        return None

    def release_run_lock(self, conn) -> None:
        return None

    def claim(self, ids, as_of) -> list[Due]:
        return [Due(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8]), r[9])
                for r in db.session.execute(self.CLAIM, {"ids": json.dumps(list(ids)), "as_of": as_of})]

    def reconcile(self, ids) -> int:
        return db.session.execute(self.RECONCILE, {"ids": json.dumps(list(ids))}).rowcount

    def wallets(self, user_ids) -> dict[int, int]:
        return dict(db.session.execute(self.WALLETS, {"ids": json.dumps(user_ids)}).all())

    def accounts(self, codes) -> dict[str, int]:
        return dict(db.session.execute(self.ACCOUNTS, {"codes": json.dumps(codes)}).all())

    def entry_ids(self, n: int) -> list[int]:
        # the claim has taken the write lock: nobody else inserts entries until this batch commits
        top = db.session.execute(text("SELECT COALESCE(MAX(id), 0) FROM ledger_entries")).scalar_one()
        return list(range(top + 1, top + 1 + n))

    def insert_entries(self, ids, memos, keys, fps, *, actor_id, now) -> None:
        db.session.execute(self.ENTRIES, [
            {"id": i, "kind": ENTRY_KIND, "memo": m, "key": k, "fp": f, "actor": actor_id, "now": now}
            for i, m, k, f in zip(ids, memos, keys, fps)])

    def insert_payments(self, rows: list[tuple], entry_ids: list[int | None], *, run_id, now) -> int:
        return db.session.execute(self.PAYMENTS, [
            {"investment_id": r[0], "period_index": r[1], "due_on": r[2], "amount": r[3], "capital": r[4],
             "entry_id": e, "run": run_id, "now": now}
            for r, e in zip(rows, entry_ids)]).rowcount

    def insert_postings(self, entry_ids, account_ids, amounts) -> None:
        db.session.execute(self.POSTINGS, [{"entry_id": e, "account_id": a, "amount": m}
                                           for e, a, m in zip(entry_ids, account_ids, amounts)])

    def add_balances(self, deltas: dict[int, int]) -> None:
        db.session.execute(self.BALANCES, [{"id": i, "delta": deltas[i]} for i in sorted(deltas)])

    def close_investments(self, closing: dict[int, list], *, now) -> None:
        db.session.execute(self.CLOSE, [{"id": i, "capital": closing[i][0], "last": bool(closing[i][1]), "now": now}
                                        for i in sorted(closing)])

    def pay_batch(self, accounts, run: _Run, batch_no: int, ids, now: datetime) -> _Batch:
        return _pay_batch(self, accounts, run, batch_no, ids, now)


def _dialect():
    return _Postgres() if db.engine.dialect.name == "postgresql" else _SQLite()


# reading -------------------------------------------------------------------------------------------------------------
def due_ids(as_of: date) -> array:
    """Ids of the calendar rows due by `as_of` whose investment is active, by investor (an investor's periods fall
    in one batch: their wallet moves once per run, and a batch touches few pages of accounts and postings)."""
    ids = array("q")
    result = db.session.execute(
        text("SELECT s.id FROM return_schedule AS s JOIN investments AS i ON i.id = s.investment_id "
             "WHERE s.due_on <= :as_of AND i.status = 'active' ORDER BY s.user_id, s.id")
        .bindparams(_AS_OF), {"as_of": as_of})
    for part in result.partitions(50_000):
        ids.extend(row[0] for row in part)
    return ids


@dataclass(frozen=True)
class PreviewLine:
    """What a run as of a date would pay for one property."""

    property_id: int
    title: str
    currency: str
    investors: int
    payments: int
    periods: int
    returns: int
    capital: int
    funding_balance: int  # the property's distributions account now

    @property
    def total(self) -> int:
        return self.returns + self.capital

    @property
    def funding_after(self) -> int:
        return self.funding_balance - self.returns


def preview(as_of: date) -> list[PreviewLine]:
    """The dry run: per property, the investors, payments and amounts a run as of `as_of` would pay. Reads only."""
    rows = db.session.execute(text("""
        SELECT s.property_id, p.title, p.currency, COUNT(DISTINCT s.user_id),
               SUM(CASE WHEN s.amount + s.capital > 0 THEN 1 ELSE 0 END), COUNT(*),
               COALESCE(SUM(s.amount), 0), COALESCE(SUM(s.capital), 0)
        FROM return_schedule AS s
        JOIN investments AS i ON i.id = s.investment_id
        JOIN properties AS p ON p.id = s.property_id
        WHERE s.due_on <= :as_of AND i.status = 'active'
        GROUP BY s.property_id, p.title, p.currency
        ORDER BY p.title, s.property_id""").bindparams(_AS_OF), {"as_of": as_of}).all()
    codes = [ledger.account_code(RETURNS_FUNDING, ref=str(r[0])) for r in rows]
    balances = dict(db.session.execute(text("SELECT code, balance FROM ledger_accounts WHERE kind = :kind"),
                                       {"kind": RETURNS_FUNDING}).all()) if codes else {}
    return [PreviewLine(int(pid), title, currency, int(investors), int(payments), int(periods), int(returns),
                        int(capital), int(balances.get(code, 0)))
            for (pid, title, currency, investors, payments, periods, returns, capital), code in zip(rows, codes)]


@dataclass(frozen=True)
class Shortfall:
    property_id: int | None
    title: str
    account_code: str
    currency: str
    balance: int

    @property
    def owed(self) -> int:
        return -self.balance


def shortfalls() -> list[Shortfall]:
    """Distributions accounts below zero: what each property's operator owes the platform, largest first."""
    rows = db.session.execute(text(
        "SELECT ref, code, currency, balance FROM ledger_accounts WHERE kind = :kind AND balance < 0 "
        "ORDER BY balance, code"), {"kind": RETURNS_FUNDING}).all()
    ids = [int(ref) for ref, *_ in rows if ref and ref.isdigit()]
    titles = {}
    if ids:
        from app.properties.models import Property

        titles = dict(db.session.execute(
            Property.__table__.select().with_only_columns(Property.id, Property.title).where(Property.id.in_(ids))
        ).all())
    out = []
    for ref, code, currency, balance in rows:
        pid = int(ref) if ref and ref.isdigit() else None
        out.append(Shortfall(pid, titles.get(pid, f"property {ref}"), code, currency, int(balance)))
    return out


def recent_runs(limit: int = 20) -> list[DistributionRun]:
    return list(db.session.scalars(db.select(DistributionRun).order_by(DistributionRun.id.desc()).limit(limit)))


# paying --------------------------------------------------------------------------------------------------------------
def _fingerprint(lines: list[tuple[int, int]]) -> str:
    """The same fingerprint ledger.post gives an entry with these (account id, amount) lines."""
    body = {"kind": ENTRY_KIND, "reverses": None, "lines": sorted(lines)}
    return hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()


class _Accounts:
    """Ledger account ids the run needs: investors' wallets and the properties' distributions and escrow accounts.
    Platform accounts are created on first use; ids learnt inside a batch are kept only once it commits."""

    def __init__(self, sql):
        self.sql = sql
        self.known: dict[str, int] = {}
        self.pending: dict[str, int] = {}

    def platform(self, kinds_refs: set[tuple[str, int]]) -> dict[tuple[str, int], int]:
        codes = {(k, r): ledger.account_code(k, ref=str(r)) for k, r in kinds_refs}
        wanted = [c for c in codes.values() if c not in self.known and c not in self.pending]
        if wanted:
            self.pending.update(self.sql.accounts(wanted))
            # in code order: two runs creating the same accounts at once wait for each other, never deadlock
            for (kind, ref), code in sorted(codes.items(), key=lambda item: item[1]):
                if code not in self.known and code not in self.pending:
                    self.pending[code] = ledger.platform_account(kind, ref=str(ref)).id
        return {key: self.known.get(code) or self.pending[code] for key, code in codes.items()}

    def wallets(self, user_ids: list[int]) -> dict[int, int]:
        found = self.sql.wallets(user_ids)
        missing = [u for u in user_ids if u not in found]
        if missing:  # every user gets a wallet when created; open one for any that somehow has none
            from app.auth.models import User

            for user in db.session.scalars(db.select(User).where(User.id.in_(missing))):
                ledger.open_user_accounts(user)
            found = self.sql.wallets(user_ids)
        return found

    def committed(self) -> None:
        self.known.update(self.pending)
        self.pending.clear()

    def rolled_back(self) -> None:
        self.pending.clear()


@dataclass
class _Batch:
    payments: int = 0
    total: int = 0
    capital: int = 0


def _pay_batch(sql: _SQLite, accounts: _Accounts, run: _Run, batch_no: int, ids, now: datetime) -> _Batch:
    """One transaction's worth, on SQLite: claim, pay, post, move balances, close finished investments. Does not
    commit. (PostgreSQL: distribution_pg.pay_batch, the same steps done by the server.)"""
    rows = sql.claim(ids, run.as_of)
    done = _Batch()
    if not rows:
        db.session.execute(_RUN_COUNTERS, {"n": 0, "total": 0, "capital": 0, "run": run.id})
        return done
    money = sorted((r for r in rows if r.amount + r.capital > 0), key=lambda r: (r.property_id, r.id))
    entry_of: dict[int, int] = {}  # calendar row id -> its entry; the periods that move no money have none
    if money:
        wallets = {r.user_id: r.wallet_id for r in money if r.wallet_id is not None}
        missing = sorted({r.user_id for r in money if r.wallet_id is None})
        if missing:
            wallets.update(accounts.wallets(missing))
        needs = {(RETURNS_FUNDING, r.property_id) for r in money if r.amount} | \
                {(PROPERTY_ESCROW, r.property_id) for r in money if r.capital}
        platform = accounts.platform(needs)

        # entries of up to ENTRY_SIZE payments of one property
        groups: list[list[Due]] = []
        for r in money:
            if groups and groups[-1][0].property_id == r.property_id and len(groups[-1]) < ENTRY_SIZE:
                groups[-1].append(r)
            else:
                groups.append([r])
        entry_ids = sql.entry_ids(len(groups))
        memos, keys, fps = [], [], []
        p_entries, p_accounts, p_amounts = [], [], []
        deltas: dict[int, int] = defaultdict(int)
        for n, (entry_id, group) in enumerate(zip(entry_ids, groups), start=1):
            pid = group[0].property_id
            lines = []
            returns = capital = 0
            for r in group:
                lines.append((wallets[r.user_id], r.amount + r.capital))
                returns += r.amount
                capital += r.capital
                entry_of[r.id] = entry_id
            if returns:
                lines.append((platform[(RETURNS_FUNDING, pid)], -returns))
            if capital:
                lines.append((platform[(PROPERTY_ESCROW, pid)], -capital))
            for account_id, amount in lines:
                p_entries.append(entry_id)
                p_accounts.append(account_id)
                p_amounts.append(amount)
                deltas[account_id] += amount
            memos.append(f"Returns run #{run.id} as of {run.as_of.isoformat()}: property #{pid}, "
                         f"{len(group)} payment(s)")
            keys.append(f"returns:{run.id}:{batch_no}:{n}")
            fps.append(_fingerprint(lines))
            done.total += returns
            done.capital += capital
        done.payments = len(money)
        sql.insert_entries(entry_ids, memos, keys, fps, actor_id=run.actor_id, now=now)

    inserted = sql.insert_payments([(r.investment_id, r.period_index, r.due_on, r.amount, r.capital) for r in rows],
                                   [entry_of.get(r.id) for r in rows], run_id=run.id, now=now)
    if inserted != len(rows):
        raise PaidElsewhere(f"{len(rows) - inserted} period(s) of batch {batch_no} already had a payment")
    if money:
        sql.insert_postings(p_entries, p_accounts, p_amounts)
        sql.add_balances({a: d for a, d in deltas.items() if d})

    closing: dict[int, list] = {}
    for r in rows:
        if r.last or r.capital:
            c = closing.setdefault(r.investment_id, [0, False])
            c[0] += r.capital
            c[1] = c[1] or bool(r.last)
    if closing:
        sql.close_investments(closing, now=now)
    db.session.execute(_RUN_COUNTERS, {"n": done.payments, "total": done.total, "capital": done.capital,
                                       "run": run.id})
    return done


def _reap_stale(holding_lock: bool) -> int:
    """Mark failed the runs whose process died. Holding the run lock proves every other `running` run is dead."""
    query = db.update(DistributionRun).where(DistributionRun.status == RUNNING)
    if not holding_lock:
        query = query.where(DistributionRun.started_at < utcnow() - STALE_AFTER)
    count = db.session.execute(query.values(
        status=FAILED, finished_at=utcnow(),
        error="interrupted: the process running it stopped; its committed batches stay paid and the next run "
              "paid the rest").execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if count:
        log.warning("returns: %s interrupted distribution run(s) marked failed", count)
    return count


def distribute(as_of: date | None = None, *, trigger: str = "cli", actor_id: int | None = None,
               batch_size: int = BATCH_SIZE, exclusive: bool = True,
               after_batch: Callable[[int], None] | None = None) -> DistributionRun:
    """Pay every period due by `as_of` (default today) and unpaid. Commits per batch; returns the run, succeeded or
    failed (with its error). Idempotent: a second run, a concurrent run or a retried task pays nothing twice.
    `exclusive=False` skips the run lock (row locks alone then keep concurrent runs apart); `after_batch` is called
    with the batch number after each commit."""
    as_of = as_of or today()
    if as_of > today():
        raise ValidationError("returns are paid on or after their due date: the as-of date cannot be in the future",
                              {"as_of": ["Choose today or an earlier date."]})
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}")
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    sql = _dialect()
    if db.session.new or db.session.dirty or db.session.deleted:
        raise RuntimeError("a distribution run commits per batch: commit or roll back the session's work first")
    db.session.rollback()  # end any read transaction: no transaction of the caller's spans the run
    lock = sql.acquire_run_lock() if exclusive else None
    try:
        _reap_stale(holding_lock=lock is not None)
        run = DistributionRun(as_of=as_of, trigger=trigger, actor_id=actor_id, status=RUNNING, payments=0, total=0,
                              capital=0, batches=0, started_at=utcnow())
        db.session.add(run)
        db.session.commit()
        run_id = run.id
        info = _Run(run_id, as_of, actor_id)
        started = time.monotonic()
        accounts = _Accounts(sql)
        try:
            ids = due_ids(as_of)
            db.session.commit()
            for batch_no, start in enumerate(range(0, len(ids), batch_size), start=1):
                chunk = ids[start:start + batch_size]
                try:
                    sql.pay_batch(accounts, info, batch_no, chunk, utcnow())
                except PaidElsewhere as exc:
                    db.session.rollback()
                    accounts.rolled_back()
                    log.warning("returns run #%s: %s; taking them off the calendar and retrying the batch", run_id,
                                exc)
                    sql.reconcile(chunk)
                    db.session.commit()
                    sql.pay_batch(accounts, info, batch_no, chunk, utcnow())
                db.session.commit()
                accounts.committed()
                if after_batch is not None:
                    after_batch(batch_no)
            _finish(run_id, SUCCEEDED, started)
        except Exception as exc:
            db.session.rollback()
            accounts.rolled_back()
            log.exception("returns run #%s failed", run_id)
            _finish(run_id, FAILED, started, error=f"{type(exc).__name__}: {exc}"[:2000])
        return db.session.get(DistributionRun, run_id)
    finally:
        if lock is not None:
            sql.release_run_lock(lock)


def _finish(run_id: int, status: str, started: float, *, error: str | None = None) -> None:
    db.session.execute(db.update(DistributionRun).where(DistributionRun.id == run_id).values(
        status=status, finished_at=utcnow(), duration_ms=int((time.monotonic() - started) * 1000), error=error)
        .execution_options(synchronize_session=False))
    db.session.commit()
    db.session.expire_all()


def summary(run: DistributionRun, currency: str | None = None) -> str:
    """One line about a run, for the command line and logs."""
    from app.core.money import Money

    currency = currency or ledger.platform_currency()
    seconds = (run.duration_ms or 0) / 1000
    line = (f"returns run #{run.id} as of {run.as_of.isoformat()} {run.status}: {run.payments:,} payment(s), "
            f"returns {Money(run.total, currency).display()}")
    if run.capital:
        line += f", capital {Money(run.capital, currency).display()}"
    line += f", {run.batches} batch(es) in {seconds:.1f} s"
    if run.error:
        line += f" — {run.error}"
    return line

