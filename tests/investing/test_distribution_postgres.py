"""The distribution engine under concurrency and crashes, on PostgreSQL: two runs at once, a worker killed between
batches and inside one, a run meeting a locked investment. Each period is paid exactly once; the ledger verifies."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from app.extensions import db
from app.investing import returns
from app.investing.models import (
    COMPLETED,
    FAILED,
    RUNNING,
    SUCCEEDED,
    DistributionRun,
    Investment,
    ReturnPayment,
    ScheduledReturn,
)
from tests.investing.test_distribution import assert_consistent, book, periods

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("postgres")


@pytest.fixture
def portfolio(make_property, make_user, fund_distributions):
    """3 properties, 30 investors, 60 investments, 180 periods due (missed ones included), some ending their term;
    every property funded for all of it."""
    props = [make_property(target_amount=1_000_000_000) for _ in range(3)]
    users = [make_user() for _ in range(30)]
    due = 0
    for n in range(60):
        capital = 100_000 if n % 7 == 0 else 0
        schedule = periods(3, amount=1_000 + n, capital=capital, last=capital > 0)
        book(props[n % 3], users[n % 30], schedule=schedule)
        due += 3
    for p in props:
        fund_distributions(p.id, 1_000_000)
    return {"properties": props, "users": users, "due": due}


def _in_thread(app, results, key, barrier, **kwargs):
    with app.app_context():
        barrier.wait()
        try:
            results[key] = returns.distribute(**kwargs)
            results[key] = (results[key].status, results[key].payments, results[key].total)
        except Exception as exc:
            results[key] = exc
        finally:
            db.session.remove()


@pytest.mark.parametrize("exclusive", [True, False], ids=["run-lock", "row-locks-only"])
def test_two_runs_at_once_pay_each_period_once(app, portfolio, exclusive):
    results: dict = {}
    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=_in_thread, args=(app, results, k, barrier),
                                kwargs={"batch_size": 20, "exclusive": exclusive, "trigger": t})
               for k, t in (("a", "beat"), ("b", "cli"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(isinstance(r, tuple) and r[0] == SUCCEEDED for r in results.values()), results
    together = results["a"][1] + results["b"][1]
    if exclusive:  # the second waited for the first, then found nothing left
        assert together == portfolio["due"] and 0 in (results["a"][1], results["b"][1])
    else:  # each skipped what the other held; a period whose investment the other held is left for the next run
        assert 0 < together <= portfolio["due"]
    assert_consistent()
    assert returns.distribute().payments == portfolio["due"] - together
    assert db.session.scalar(select(func.count(ReturnPayment.id))) == portfolio["due"]
    assert_consistent()


def _spawn(database_url: str, as_of, script: str) -> subprocess.CompletedProcess:
    """Run `script` in a separate process against the test database, with `returns` imported."""
    code = textwrap.dedent(f"""
        import os, signal, sys
        from datetime import date
        sys.path.insert(0, {str(ROOT)!r})
        from tests.support import build_app
        app = build_app({database_url!r})
        with app.app_context():
            from app.investing import returns
            as_of = date.fromisoformat({as_of.isoformat()!r})
    """) + textwrap.indent(textwrap.dedent(script), "    ")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ))


def test_a_worker_killed_after_its_first_batch_leaves_that_batch_paid_and_the_next_run_pays_the_rest(
        app, database_url, portfolio):
    done = _spawn(database_url, returns.today(), """
        def die(batch_no):
            if batch_no == 1:
                os.kill(os.getpid(), signal.SIGKILL)
        returns.distribute(as_of, batch_size=50, trigger="beat", after_batch=die)
        print("not killed")
    """)
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr
    db.session.expire_all()
    killed = db.session.scalar(select(DistributionRun))
    assert killed.status == RUNNING and killed.payments == 50 and killed.batches == 1
    assert db.session.scalar(select(func.count(ReturnPayment.id))) == 50
    assert_consistent()  # the committed batch is whole: payments, entries, postings and balances

    run = returns.distribute(batch_size=50)
    assert run.status == SUCCEEDED and run.payments == portfolio["due"] - 50
    db.session.refresh(killed)
    assert killed.status == FAILED and "interrupted" in killed.error
    assert_consistent()
    assert returns.distribute().payments == 0


def test_a_worker_killed_inside_a_batch_leaves_nothing_of_it(app, database_url, portfolio):
    done = _spawn(database_url, returns.today(), """
        real = returns.postgres.Postgres.pay_batch
        calls = []
        def pay_then_die(self, *args):
            calls.append(1)
            real(self, *args)
            if len(calls) == 2:  # batch 2: calendar rows, payments, entries, postings, balances written, not committed
                os.kill(os.getpid(), signal.SIGKILL)
        returns.postgres.Postgres.pay_batch = pay_then_die
        returns.distribute(as_of, batch_size=40, trigger="beat")
    """)
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr
    db.session.expire_all()
    assert db.session.scalar(select(func.count(ReturnPayment.id))) == 40
    assert db.session.scalar(select(func.count(ScheduledReturn.id))) == portfolio["due"] - 40
    assert_consistent()
    run = returns.distribute()
    assert run.status == SUCCEEDED and run.payments == portfolio["due"] - 40
    assert_consistent()


def test_a_run_waits_for_the_run_in_progress(app, database_url, portfolio):
    """The run lock: a second run started while one holds it waits, then finds nothing left to pay."""
    holder = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with holder.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": returns.RUN_LOCK_KEY})
        results: dict = {}
        barrier = threading.Barrier(2)
        waiting = threading.Thread(target=_in_thread, args=(app, results, "late", barrier))
        waiting.start()
        barrier.wait()
        waiting.join(timeout=1.5)
        assert waiting.is_alive()  # still waiting for the lock
        with app.app_context():
            first = returns.distribute(exclusive=False)
            first_payments = first.payments
            db.session.remove()
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": returns.RUN_LOCK_KEY})
    waiting.join(timeout=60)
    holder.dispose()
    assert first_payments == portfolio["due"]
    assert results["late"][:2] == (SUCCEEDED, 0)
    assert_consistent()


def _first_closing_investment(portfolio) -> int:
    """An investment whose last due period brings the capital back (it writes to the investment)."""
    return db.session.scalar(select(ScheduledReturn.investment_id).where(ScheduledReturn.capital > 0)
                             .order_by(ScheduledReturn.id).limit(1))


def test_an_investment_held_by_another_transaction_keeps_the_periods_that_write_to_it(app, database_url, portfolio):
    """Another transaction holds the investment: its periods that only pay the investor are paid; the one that
    takes the capital out of its escrow and completes it is left for the next run (no wait, no deadlock)."""
    target = _first_closing_investment(portfolio)
    other = create_engine(database_url)
    with other.connect() as conn:
        conn.execute(text("SELECT id FROM investments WHERE id = :i FOR UPDATE"), {"i": target})
        run = returns.distribute()
        conn.rollback()
    other.dispose()
    assert run.status == SUCCEEDED and run.payments == portfolio["due"] - 1
    left = db.session.execute(select(ScheduledReturn.investment_id, ScheduledReturn.period_index)).all()
    assert left == [(target, 3)]
    assert returns.distribute().payments == 1
    assert db.session.get(Investment, target).status == COMPLETED
    assert_consistent()


def test_a_cancellation_in_flight_keeps_the_run_off_its_calendar(app, database_url, portfolio):
    """A cancellation locks the investment and deletes its calendar before posting the refund: a run meanwhile
    skips those periods; if the cancellation rolls back, the next run pays them."""
    target = _first_closing_investment(portfolio)
    other = create_engine(database_url)
    with other.connect() as conn:
        conn.execute(text("SELECT id FROM investments WHERE id = :i FOR UPDATE"), {"i": target})
        conn.execute(text("DELETE FROM return_schedule WHERE investment_id = :i"), {"i": target})
        run = returns.distribute()
        conn.rollback()
    other.dispose()
    assert run.status == SUCCEEDED and run.payments == portfolio["due"] - 3
    assert set(db.session.scalars(select(ScheduledReturn.investment_id))) == {target}
    assert returns.distribute().payments == 3
    assert_consistent()


def test_cancelling_a_property_while_a_run_pays_it_refunds_once_and_pays_each_period_once(
        app, portfolio, manager):
    """The property is cancelled (refunds through the ledger) by one thread while another runs the distribution:
    never a deadlock, never capital paid back after its investment was refunded, escrow never paid out twice; the
    due periods the run had not paid stay owed and the next run pays them."""
    from app.auth.models import User
    from app.investing.models import CANCELLED
    from app.properties import services as properties
    from app.properties.models import Property

    manager_id = manager.id
    prop_id = portfolio["properties"][0].id
    results: dict = {}
    barrier = threading.Barrier(2)

    def cancel():
        with app.app_context():
            barrier.wait()
            try:
                properties.cancel(db.session.get(Property, prop_id), actor=db.session.get(User, manager_id),
                                  reason="Planning permission refused")
                db.session.commit()
                results["cancel"] = "ok"
            except Exception as exc:
                results["cancel"] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=cancel),
               threading.Thread(target=_in_thread, args=(app, results, "run", barrier), kwargs={"batch_size": 7})]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results["cancel"] == "ok" and results["run"][0] == SUCCEEDED, results
    db.session.expire_all()
    for inv in db.session.scalars(select(Investment).where(Investment.property_id == prop_id)):
        assert inv.status in (CANCELLED, COMPLETED), inv.status
        assert inv.escrow_amount == 0
        if inv.status == CANCELLED:  # refunded what was in escrow: the capital was not paid back by the run
            assert inv.refunded_amount == inv.amount
            assert not db.session.scalar(select(func.count(ReturnPayment.id)).where(
                ReturnPayment.investment_id == inv.id, ReturnPayment.capital > 0))
    # what the run did not pay before the cancellation stays owed (due already), without its capital: paid next
    left = db.session.execute(select(ScheduledReturn.capital, ScheduledReturn.last).join(
        Investment, Investment.id == ScheduledReturn.investment_id).where(Investment.property_id == prop_id)).all()
    assert all(capital == 0 and not last for capital, last in left)
    assert_consistent()
    assert returns.distribute().payments == len(left)
    assert not db.session.scalar(select(func.count(ScheduledReturn.id)).join(
        Investment, Investment.id == ScheduledReturn.investment_id).where(Investment.property_id == prop_id))
    assert_consistent()


# paying only what is funded, on PostgreSQL -------------------------------------------------------------------------
def test_funded_periods_are_chosen_by_the_server_oldest_first_whole(make_property, make_user, fund_distributions):
    p = make_property()
    users = [make_user() for _ in range(4)]
    first = returns.today() - timedelta(days=90)
    for u in users:
        book(p, u, schedule=periods(3, amount=1_000, first=first))  # periods of 4,000 each
    book(p, users[0], schedule=[(first + timedelta(days=10), 100, 0, True)])  # a small period between
    fund_distributions(p.id, 4_050)  # the first period; not the small one after it
    run = returns.distribute(batch_size=3)
    assert run.payments == 4 and run.total == 4_000
    fund_distributions(p.id, 50)
    assert returns.distribute(batch_size=3).payments == 1
    assert returns.distribute().payments == 0  # 4,000 short
    fund_distributions(p.id, 8_000)
    assert returns.distribute(batch_size=3).payments == 8
    assert_consistent()


def test_a_period_spanning_two_batches_is_paid_whole_while_a_declared_payment_waits(
        app, make_property, make_investor, make_user, finance, finance2, fund_distributions):
    """Six investors due on the same day, batches of four: the period spans two batches. Between them a declared
    distribution of the same property asks to be paid from the same account: it waits for the run (the run lock),
    so the second batch still finds its money; afterwards the declared one is paid once funded."""
    from app.investing import declared
    from app.investing.tasks import pay_declared_waiting
    from app.ledger.models import RETURNS_FUNDING, Account

    p = make_property()
    holders = [make_user() for _ in range(6)]
    for u in holders:
        book(p, u, schedule=periods(1, amount=1_000, last=False))
    investor = make_investor("5000.00")
    from tests.investing.test_declared import _declare, _invest
    _invest(investor, p, "1000.00")
    d = _declare(p, finance, amount="30.00")
    declared.approve(d, actor=finance2)
    db.session.commit()
    d_id, finance_id = d.id, finance.id
    fund_distributions(p.id, 6_000)  # exactly the period; the declared one would take it below
    outcome: dict = {}

    def between(batch_no):
        if batch_no != 1:
            return

        def attempt():
            with app.app_context():
                from app.auth.models import User
                try:
                    outcome["status"] = declared.pay(declared.get(d_id), actor=db.session.get(User, finance_id)).status
                    db.session.commit()
                except Exception as exc:
                    outcome["status"] = exc
                finally:
                    db.session.remove()

        t = threading.Thread(target=attempt)
        t.start()
        t.join(timeout=30)

    run = returns.distribute(batch_size=4, after_batch=between)
    assert outcome["status"] == "approved"  # waiting: the run held the account
    assert run.status == SUCCEEDED and run.batches == 2 and run.payments == 6 and run.total == 6_000
    balances = db.session.scalars(select(Account.balance).where(Account.kind == RETURNS_FUNDING)).all()
    assert balances == [0]
    assert pay_declared_waiting() == 0  # still not covered
    fund_distributions(p.id, 3_000)
    assert pay_declared_waiting() == 1
    assert declared.get(d_id).status == "paid"
    assert_consistent()


def test_a_failure_between_batches_leaves_the_rest_of_the_period_first_in_line(make_property, make_user,
                                                                              fund_distributions):
    """The accepted limit: a batch that fails after an earlier batch of the same period committed leaves that
    period partly paid; its rest is the oldest due and its money is still in the account, so the next run pays it
    first, before any later period."""
    p = make_property()
    users = [make_user() for _ in range(5)]
    first = returns.today() - timedelta(days=60)
    for u in users:
        book(p, u, schedule=periods(2, amount=1_000, first=first))
    fund_distributions(p.id, 5_000)  # the first period (5 x 1,000) only

    def fail(batch_no):
        if batch_no == 1:
            raise RuntimeError("worker lost")

    run = returns.distribute(batch_size=3, after_batch=fail)
    assert run.status == FAILED and run.payments == 3
    assert_consistent()
    fund_distributions(p.id, 1_000)  # not enough for the second period: the rest of the first comes first
    again = returns.distribute(batch_size=3)
    assert again.payments == 2 and again.total == 2_000
    assert {r.due_on for r in db.session.scalars(select(ScheduledReturn))} == {first + timedelta(days=30)}
    assert_consistent()
