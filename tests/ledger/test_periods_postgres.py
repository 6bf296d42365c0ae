"""A close racing postings, on PostgreSQL: nothing posted into the month can miss its trial balance, a back-dated
posting that comes after the close is refused by the database, and today's postings never wait for a close."""
import threading
import time

import pytest
from sqlalchemy import text

from app.auth.models import User
from app.core.db import unit_of_work
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.checks import verify
from app.ledger.models import GATEWAY_CLEARING, USER_WALLET
from app.ledger.periods import PERIOD_LOCK_KEY, ClosedPeriod
from tests.ledger import test_periods
from tests.ledger.test_periods import LAST_END, LAST_MONTH, _credit

COLLECTED_ON = test_periods.TODAY  # read again with tests/ledger/test_periods.py if the date changes
DATES_FROM = ("tests.ledger.test_periods",)

pytestmark = pytest.mark.postgres
periods = ledger.periods
LABEL = LAST_MONTH.strftime("%Y-%m")


def _waiters(app) -> int:
    """Sessions waiting for the period lock."""
    with app.app_context(), db.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                                 "AND CAST(objid AS BIGINT) = :low"), {"low": PERIOD_LOCK_KEY & 0xFFFFFFFF}).scalar_one()


def _wait_for_waiter(app, thread) -> None:
    deadline = time.monotonic() + 20
    while _waiters(app) == 0:
        assert thread.is_alive() and time.monotonic() < deadline, "nobody waited for the period lock"
        time.sleep(0.02)


def _thread(app, results, name, work, release: threading.Event | None = None, ready: threading.Event | None = None):
    def run():
        with app.app_context():
            try:
                results[name] = work()
                if ready is not None:
                    ready.set()
                if release is not None:
                    assert release.wait(30)
                db.session.commit()
            except Exception as exc:  # the answer the test looks at
                db.session.rollback()
                results[name] = exc
                if ready is not None:
                    ready.set()
            finally:
                db.session.remove()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.fixture
def accounts(make_user, finance):
    user = make_user()
    ledger.user_account(user.id, USER_WALLET)
    ledger.platform_account(GATEWAY_CLEARING, "bank_transfer")
    db.session.commit()
    return user.id, finance.id


def test_a_close_waits_for_a_back_dated_posting_in_flight_and_freezes_it(app, postgres, accounts):
    user_id, finance_id = accounts
    results: dict = {}
    posted, release = threading.Event(), threading.Event()
    poster = _thread(app, results, "post", lambda: _credit(user_id, 400, "in-flight", LAST_END).id, release, posted)
    assert posted.wait(30) and not isinstance(results["post"], Exception), results
    closer = _thread(app, results, "close",
                     lambda: periods.close(db.session.get(User, finance_id), LABEL, "month end").id)
    _wait_for_waiter(app, closer)  # the close waits for the posting in flight to commit
    assert "close" not in results
    release.set()
    poster.join(30)
    closer.join(30)
    assert isinstance(results["close"], int), results
    frozen = {r.code: r.balance for r in periods.frozen_trial_balance(results["close"])}
    assert frozen[ledger.user_account(user_id, USER_WALLET).code] == 400  # the posting is in the trial balance
    assert verify().ok


def test_a_back_dated_posting_that_comes_during_a_close_is_refused_by_the_database(app, postgres, accounts):
    user_id, finance_id = accounts
    results: dict = {}
    closed, release = threading.Event(), threading.Event()
    closer = _thread(app, results, "close",
                     lambda: periods.close(db.session.get(User, finance_id), LABEL, "month end").id, release, closed)
    assert closed.wait(30) and isinstance(results["close"], int), results
    # the code's check reads the committed closed-through date (none yet): only the database can refuse this one
    poster = _thread(app, results, "post", lambda: _credit(user_id, 400, "too-late", LAST_END).id)
    _wait_for_waiter(app, poster)
    release.set()
    closer.join(30)
    poster.join(30)
    assert isinstance(results["post"], ClosedPeriod), results
    assert ledger.entry_by_key("too-late") is None
    assert periods.frozen_trial_balance(results["close"]) == []
    assert verify().ok


def test_postings_of_today_never_wait_for_a_close(app, postgres, accounts):
    user_id, finance_id = accounts
    results: dict = {}
    closed, release = threading.Event(), threading.Event()
    closer = _thread(app, results, "close",
                     lambda: periods.close(db.session.get(User, finance_id), LABEL, "month end").id, release, closed)
    assert closed.wait(30)
    try:
        with unit_of_work():  # while the close holds its lock, uncommitted
            _credit(user_id, 900, "today")
            ledger.post_many([ledger.BulkEntry(key="today-bulk", kind="deposit", lines=[
                (ledger.platform_account(GATEWAY_CLEARING, "bank_transfer").id, -100),
                (ledger.user_account(user_id, USER_WALLET).id, 100)])])
    finally:
        release.set()
        closer.join(30)
    assert ledger.user_account(user_id, USER_WALLET).balance == 1_000
    assert verify().ok
