"""The run: pays the scheduled return periods that are due AND funded, set-based, in batches.

A run pays `return_schedule` rows (the calendar holds only periods still to pay) with `due_on <= as_of`, missed
periods included, from each property's distributions account (`returns_funding:<property id>`), and only what that
account covers: it never takes the account below zero.

Periods and funding (funded.py)
    A period of a property is its calendar rows with the same due date — not the same period_index: each
    investment counts its periods from its own anchor (funding close, investment date or last installment), so
    index 3 of one investment and index 3 of another may fall on different days, while the investors due on the
    same day are the ones paid together. Per property, the periods are taken oldest first while the running total
    of their returns (a window sum ordered by due date, computed by the database) stays within the account's
    balance; each period is paid for ALL its investors or NONE. What is not covered waits in the calendar: a
    funding shortfall (reports.shortfalls), paid by a later run once the operator funds the account. Capital back is
    not limited by funding: it comes from the property's escrow, so a period that waits still gets its capital paid
    (pay_waiting_capital: the capital is paid and taken off the calendar row, whose return stays owed).

    Rows stay owed to whoever held the units on the due date: the calendar row carries its user_id, which is what
    is paid; a cancellation keeps the rows already due (return_calendar.drop_calendars drops only the future ones),
    so the engine pays rows of any investment that is not still being paid for (`status <> 'paying'`).

All-or-nothing across batches
    The funded periods are decided ONCE, at the start of the run, holding the run lock, and the ids are ordered by
    property, due date and row, so a period's rows are contiguous (a period larger than a batch spans several).
    Nothing can lower a distributions account during the run: the run is its only payer of returns; declared
    distributions (declared.pay) pay from the same account only when they can take the same lock on PostgreSQL
    (pg_try_advisory_xact_lock_shared on RUN_LOCK_KEY) and, on SQLite, when no run is in progress — otherwise
    they wait and are paid after the run (declared.pay_waiting, called after every run by the task and the
    command). Funding only raises the balance. So every period decided at the start is still covered when its last batch posts, however many
    batches it spans. Known limits, each leaving the rest of a period for the next run, which pays it first (it is
    the oldest, and its money is still in the account, which declared payments leave to due returns):
    - a batch that fails, or a process killed between batches, commits the earlier batches of a period only;
    - on PostgreSQL a row held by another transaction at the claim (a cancellation in flight, or a run started
      with exclusive=False, which takes no run lock) is skipped, as is a closing row whose investment is held.

How a run goes
    1. On PostgreSQL the run takes a session-level advisory lock, held on a connection of its own for the whole run.
       A second run started meanwhile waits for the first to finish and then finds nothing left to pay. Holding
       the lock also proves that any run row still marked `running` belongs to a process that died: it is marked
       failed. (SQLite has no such lock: a run left `running` for longer than STALE_AFTER is marked failed.)
    2. The run row is written (status running) and committed; the capital of periods that wait is paid from
       escrow (one unit of work); then the ids of the rows of funded periods are read once,
       and their number written to the run (`planned`, for its progress bar).
    3. The ids are paid in batches of BATCH_SIZE, each batch one unit of work:
       - claim: the calendar rows still there and due are deleted and returned (a paid period leaves the
         calendar; its payment row is its record). On PostgreSQL they are chosen `FOR UPDATE SKIP LOCKED` (and,
         for the periods that write to their investment, the investment `FOR NO KEY UPDATE SKIP LOCKED`): a
         cancellation (which locks the investment, then trims its calendar, then posts) never deadlocks with a run;
       - the journal entries (kind `returns`, up to ENTRY_SIZE payments of one property each) are posted by the
         ledger's bulk posting, which writes them, their postings and the cached balances (batch.post_entries);
       - return_payments rows are inserted with `ON CONFLICT (investment_id, period_index) DO NOTHING`; if any
         period turns out to be paid already the batch is rolled back, those calendar rows are removed without
         moving money (a unit of its own), and the batch is retried;
       - investments get their capital out of escrow_amount, and become completed once their last period is paid
         and nothing is left in their calendar;
       - each paid investor's notice row of the run (return_notices, UNIQUE(run, investor)) is written or added
         to from the batch's payments, one statement (returns/notices.py);
       - the run's counters move; commit.
    4. The run is marked succeeded (or failed, with the error); committed batches stay paid either way, and the
       next run pays what is left. UNIQUE(investment_id, period_index) on return_payments backs all of this.
    5. Once the run is marked, a task is queued (after that commit) that sends the notices not yet sent: one per
       investor per run, for the batches that committed (app/investing/return_notices.py).
    6. Its callers (the beat/console task, the command line) then pay the declared distributions waiting for
       funding that the accounts now cover (declared.pay_waiting), once the lock is released.

On PostgreSQL a batch is done by the server, one statement per step over the whole batch (postgres.py). On SQLite
(the zero-setup default, one writer at a time) rows come to Python and go back by executemany (sqlite.py).

A period whose return and capital are both zero moves no money: it gets a payment row without a journal entry.
"""
from __future__ import annotations

import logging
import time
from array import array
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, cast

from celery import current_app as current_celery
from sqlalchemy import CursorResult

from app.core.db import after_commit, discard, in_unit_of_work, unit_of_work, utcnow
from app.core.errors import ValidationError
from app.core.metrics import record_distribution_run
from app.extensions import db
from app.investing.models import FAILED, RUNNING, SUCCEEDED, DistributionRun
from app.investing.returns.batch import Accounts, PaidElsewhere, RunInfo, pay_waiting_capital
from app.investing.returns.funded import FUNDED_IDS
from app.investing.returns.postgres import Postgres
from app.investing.returns.sqlite import SQLite

log = logging.getLogger(__name__)

BATCH_SIZE = 25_000          # calendar rows per transaction
ENTRY_SIZE = 100             # payments of one property per journal entry (see batch.py)
STALE_AFTER = timedelta(hours=2)  # SQLite only: a run still `running` after this long is taken as dead
TRIGGERS = ("beat", "cli", "console")
SEND_NOTICES_TASK = "investing.send_return_notices"  # app/investing/tasks.py


def today() -> date:
    return utcnow().date()


def dialect() -> Postgres | SQLite:
    """How a batch is paid here: by the server on PostgreSQL, by Python on SQLite."""
    return Postgres() if db.engine.dialect.name == "postgresql" else SQLite()


def due_ids(as_of: date) -> array:
    """Ids of the calendar rows of the periods due by `as_of` that the distributions accounts cover (funded.py),
    ordered by property, due date and row: a period's rows are contiguous."""
    ids = array("q")
    result = db.session.execute(FUNDED_IDS, {"as_of": as_of})
    for part in result.partitions(50_000):
        ids.extend(row[0] for row in part)
    return ids


def _reap_stale(holding_lock: bool) -> int:
    """Mark failed the runs whose process died. Holding the run lock proves every other `running` run is dead."""
    query = db.update(DistributionRun).where(DistributionRun.status == RUNNING)
    if not holding_lock:
        query = query.where(DistributionRun.started_at < utcnow() - STALE_AFTER)
    return cast("CursorResult[Any]", db.session.execute(query.values(
        status=FAILED, finished_at=utcnow(),
        error="interrupted: the process running it stopped; its committed batches stay paid and the next run "
              "paid the rest").execution_options(synchronize_session=False))).rowcount


def distribute(as_of: date | None = None, *, trigger: str = "cli", actor_id: int | None = None,
               batch_size: int = BATCH_SIZE, exclusive: bool = True,
               after_batch: Callable[[int], None] | None = None) -> DistributionRun:
    """Pay every period due by `as_of` (default today), unpaid and funded (the rest waits). Commits per batch; returns the run, succeeded or
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
    sql = dialect()
    if in_unit_of_work():
        raise RuntimeError("a distribution run commits per batch: call it outside any unit of work")
    if db.session.new or db.session.dirty or db.session.deleted:
        raise RuntimeError("a distribution run commits per batch: commit or roll back the session's work first")
    discard()  # end any read transaction: no transaction of the caller's spans the run
    lock = sql.acquire_run_lock() if exclusive else None
    try:
        with unit_of_work():
            reaped = _reap_stale(holding_lock=lock is not None)
        if reaped:
            log.warning("returns: %s interrupted distribution run(s) marked failed", reaped)
        with unit_of_work():
            run = DistributionRun(as_of=as_of, trigger=trigger, actor_id=actor_id, status=RUNNING, payments=0,
                                  total=0, capital=0, batches=0, started_at=utcnow())
            db.session.add(run)
            db.session.flush()
            run_id = run.id
        info = RunInfo(run_id, as_of, actor_id, ENTRY_SIZE)
        started = time.monotonic()
        accounts = Accounts()
        try:
            with unit_of_work():
                pay_waiting_capital(accounts, info, utcnow())
            accounts.committed()
            ids = due_ids(as_of)
            discard()  # the read is over: each batch is a transaction of its own
            with unit_of_work():  # what the run sets out to pay, for its progress: the ids just read, counted
                db.session.execute(db.update(DistributionRun).where(DistributionRun.id == run_id)
                                   .values(planned=len(ids)).execution_options(synchronize_session=False))
            for batch_no, start in enumerate(range(0, len(ids), batch_size), start=1):
                chunk = ids[start:start + batch_size]
                try:
                    with unit_of_work():
                        sql.pay_batch(accounts, info, batch_no, chunk, utcnow())
                except PaidElsewhere as exc:
                    accounts.rolled_back()
                    log.warning("returns run #%s: %s; taking them off the calendar and retrying the batch", run_id,
                                exc)
                    with unit_of_work():
                        sql.reconcile(chunk)
                    with unit_of_work():
                        sql.pay_batch(accounts, info, batch_no, chunk, utcnow())
                accounts.committed()
                if after_batch is not None:
                    after_batch(batch_no)
            _finish(run_id, SUCCEEDED, started)
        except Exception as exc:
            discard()  # what failed was rolled back by its unit; a read in progress ends here
            accounts.rolled_back()
            log.exception("returns run #%s failed", run_id)
            _finish(run_id, FAILED, started, error=f"{type(exc).__name__}: {exc}"[:2000])
    finally:
        if lock is not None:
            sql.release_run_lock(lock)
    run = db.session.get_one(DistributionRun, run_id)
    record_distribution_run(run.status, (run.duration_ms or 0) / 1000, run.payments or 0)
    return run


def _send_notices() -> None:
    """Queue the sending of the notices (after the run's last commit). A broker out of reach does not fail the run:
    its notices stay unsent, for beat's hourly sweep of the same task."""
    try:
        current_celery.tasks[SEND_NOTICES_TASK].apply_async()
    except Exception:
        log.exception("returns: the sending of the return notices could not be queued; beat's sweep will send them")


def _finish(run_id: int, status: str, started: float, *, error: str | None = None) -> None:
    with unit_of_work():
        db.session.execute(db.update(DistributionRun).where(DistributionRun.id == run_id).values(
            status=status, finished_at=utcnow(), duration_ms=int((time.monotonic() - started) * 1000), error=error)
            .execution_options(synchronize_session=False))
        # the investors' notices of the committed batches (and any a dead run left unsent), once the run is over
        after_commit(_send_notices)
    db.session.expire_all()
