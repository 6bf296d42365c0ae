"""Return notices: each investor a distribution run pays is told once for the run, after commit, by the channels
they chose, in their language; a retried, resumed or failed run never tells twice. Run on PostgreSQL (the run's
set-based path) and on SQLite alike. And the investor's words in their wallet history."""
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.core.db import unit_of_work
from app.core.money import Money
from app.extensions import db
from app.investing import returns
from app.investing.models import FAILED, SUCCEEDED, ReturnNotice
from app.investing.tasks import send_return_notice_chunk, send_return_notices
from app.notifications import services as notifications
from app.notifications.models import EMAIL, IN_APP, Delivery, Notification
from tests.investing.test_distribution import book, periods

NOVEMBER = date(2026, 11, 15)


def notices_of(user) -> list[Notification]:
    db.session.expire_all()
    return list(db.session.scalars(select(Notification).where(
        Notification.user_id == user.id, Notification.event == "returns_paid").order_by(Notification.id)))


def sent_total() -> int:
    return db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.event == "returns_paid"))


@pytest.fixture
def two_holdings(make_property, make_user, fund_distributions):
    """Ann holds two properties (two periods due on one, one on the other); Bob one. Every row in a batch of its
    own (batch_size=1), so Ann's payments span three batches."""
    north = make_property(title="Northgate Logistics Park", target_amount=1_000_000_000)
    harbour = make_property(title="Harbour Lofts", target_amount=1_000_000_000)
    ann, bob = make_user(first_name="Ann"), make_user(first_name="Bob")
    book(north, ann, schedule=[*periods(2, amount=6_670, first=NOVEMBER - timedelta(days=30), every=30, last=False),
                               (NOVEMBER + timedelta(days=60), 6_670, 0, True)])
    book(harbour, ann, schedule=[(NOVEMBER, 1_250, 0, False), (NOVEMBER + timedelta(days=45), 1_250, 0, True)])
    book(harbour, bob, schedule=[(NOVEMBER, 2_500, 0, False), (NOVEMBER + timedelta(days=45), 2_500, 0, True)])
    for p in (north, harbour):
        fund_distributions(p.id, 1_000_000)
    return {"north": north, "harbour": harbour, "ann": ann, "bob": bob}


def test_one_notice_per_investor_per_run_across_holdings_and_batches(two_holdings):
    ann, bob = two_holdings["ann"], two_holdings["bob"]
    run = returns.distribute(batch_size=1)
    assert run.status == SUCCEEDED and run.payments == 4 and run.batches == 4

    [notice] = notices_of(ann)
    body = notice.body + " " + notice.title
    assert "Northgate Logistics Park" in body and "Harbour Lofts" in body
    assert Money(6_670 * 2 + 1_250, "USD").local("en") in notice.title  # the total, as the investor reads it
    assert notice.link == "/wallet"
    assert "#" not in body and "run" not in body.lower()
    email = db.session.scalar(select(Delivery).where(Delivery.notification_id == notice.id,
                                                     Delivery.channel == EMAIL))
    assert "Northgate Logistics Park, October 2026, November 2026: " + Money(13_340, "USD").local("en") in email.body
    assert "Harbour Lofts, November 2026: " + Money(1_250, "USD").local("en") in email.body
    # what comes next: the earliest period still on Ann's calendar (Harbour Lofts, 45 days after November 15)
    assert Money(1_250, "USD").local("en") + " on December 30, 2026" in email.body
    [bobs] = notices_of(bob)
    assert Money(2_500, "USD").local("en") in bobs.title and "Northgate" not in bobs.body
    rows = db.session.scalars(select(ReturnNotice).where(ReturnNotice.run_id == run.id)).all()
    assert sorted((r.user_id, r.payments, r.amount) for r in rows) == sorted(
        [(ann.id, 3, 14_590), (bob.id, 1, 2_500)])
    assert all(r.sent_at is not None for r in rows)


def test_a_retried_or_resumed_run_and_retried_tasks_send_nothing_more(two_holdings):
    returns.distribute(batch_size=2)
    before = sent_total()
    assert before == 2
    assert returns.distribute().payments == 0  # resumed: nothing left to pay
    assert send_return_notices.apply().get() == 0  # the sweep finds nothing unsent
    ids = list(db.session.scalars(select(ReturnNotice.id)))
    with unit_of_work():
        assert send_return_notice_chunk.run(ids) == 0  # a chunk task delivered again claims nothing
    assert sent_total() == before


def test_a_run_failing_mid_way_tells_only_of_its_committed_batches(two_holdings):
    ann, bob = two_holdings["ann"], two_holdings["bob"]
    seen_during_run: list[int] = []

    def fail_after_first(batch_no):
        seen_during_run.append(sent_total())  # committed, but nothing is sent while the run goes on
        if batch_no == 2:
            raise RuntimeError("worker lost")

    # rows ordered by property then due date: Northgate's two periods (Ann) come first, then Harbour's
    run = returns.distribute(batch_size=1, after_batch=fail_after_first)
    assert run.status == FAILED and run.payments == 2
    assert seen_during_run == [0, 0]
    [only] = notices_of(ann)
    assert "Northgate Logistics Park" in only.title + only.body and "Harbour" not in only.body
    assert notices_of(bob) == []
    # the next run pays the rest and tells about it alone
    rerun = returns.distribute(batch_size=1)
    assert rerun.status == SUCCEEDED and rerun.payments == 2
    ann_notices, [bobs] = notices_of(ann), notices_of(bob)
    assert len(ann_notices) == 2 and "Harbour Lofts" in ann_notices[1].body
    assert "Northgate" not in ann_notices[1].body
    assert Money(2_500, "USD").local("en") in bobs.title


def test_a_batch_rolled_back_leaves_no_notice_behind(two_holdings, monkeypatch):
    ann, bob = two_holdings["ann"], two_holdings["bob"]
    real = returns.dialect()

    class FailingThird:
        """Batch 3 writes everything (its payments, its investors' notice rows) and then fails: rolled back."""

        def __getattr__(self, name):
            return getattr(real, name)

        def pay_batch(self, accounts, run, batch_no, ids, now):
            done = real.pay_batch(accounts, run, batch_no, ids, now)
            if batch_no == 3:
                raise RuntimeError("connection lost")
            return done

    monkeypatch.setattr("app.investing.returns.engine.dialect", lambda: FailingThird())
    run = returns.distribute(batch_size=1)
    assert run.status == FAILED and run.payments == 2
    [row] = db.session.scalars(select(ReturnNotice).where(ReturnNotice.run_id == run.id)).all()
    assert (row.user_id, row.payments, row.amount) == (ann.id, 2, 13_340)  # Harbour's batch left nothing
    [only] = notices_of(ann)
    assert "Harbour" not in only.body and notices_of(bob) == []


def test_a_notice_left_unsent_by_a_dead_process_is_sent_once_by_the_sweep(two_holdings, monkeypatch):
    sent = []
    monkeypatch.setattr("app.investing.returns.engine.after_commit", lambda *a, **k: sent.append(a))
    returns.distribute()
    assert sent and sent_total() == 0  # the sending was never queued (the process died before)
    assert db.session.scalar(select(func.count()).select_from(ReturnNotice).where(ReturnNotice.sent_at.is_(None))) == 2
    assert send_return_notices.apply().get() == 2
    assert send_return_notices.apply().get() == 0
    assert sent_total() == 2


def test_a_broker_out_of_reach_does_not_fail_the_run(two_holdings, monkeypatch):
    def unreachable(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(send_return_notices, "apply_async", unreachable)
    run = returns.distribute()
    assert run.status == SUCCEEDED and sent_total() == 0
    assert send_return_notices.apply().get() == 2  # the sweep sends them


def test_channels_follow_the_investors_choices(two_holdings):
    ann, bob = two_holdings["ann"], two_holdings["bob"]
    with unit_of_work():
        notifications.set_preferences(db.session.merge(ann), {("returns", IN_APP): True})  # e-mail and push off
    returns.distribute()
    [mine] = notices_of(ann)
    channels = set(db.session.scalars(select(Delivery.channel).where(Delivery.notification_id == mine.id)))
    assert channels == {IN_APP}
    [his] = notices_of(bob)
    assert {IN_APP, EMAIL} <= set(db.session.scalars(select(Delivery.channel)
                                                     .where(Delivery.notification_id == his.id)))


def test_the_notice_speaks_the_investors_language(two_holdings):
    bob = two_holdings["bob"]
    with unit_of_work():
        db.session.merge(bob).locale = "es"
    returns.distribute()
    [his] = notices_of(bob)
    email = db.session.scalar(select(Delivery).where(Delivery.notification_id == his.id, Delivery.channel == EMAIL))
    assert Money(2_500, "USD").local("es") in email.body
    assert "noviembre de 2026" in email.body
    assert "Total pagado" in email.body and "Hello" not in email.body and "Your next" not in email.body


# the investor's words in the wallet history ------------------------------------------------------------------------
NORTHGATE_NOVEMBER = "Return from Northgate Logistics Park, October 2026 – November 2026"


def test_the_wallet_page_describes_lines_in_the_investors_words(two_holdings, client, login, fund):
    ann = two_holdings["ann"]
    fund(ann, "50.00")
    returns.distribute()
    login(ann)
    page = client.get("/wallet").get_data(as_text=True)
    assert NORTHGATE_NOVEMBER in page
    assert "Return from Harbour Lofts, November 2026" in page
    assert "Deposit to your wallet" in page
    assert "Returns run #" not in page and "property #" not in page
    dashboard = client.get("/").get_data(as_text=True)
    assert "Return from Harbour Lofts, November 2026" in dashboard and "Returns run #" not in dashboard
    csv = client.get("/wallet/statement.csv").get_data(as_text=True)
    assert "Return from Harbour Lofts, November 2026" in csv and "Returns run #" not in csv


def test_the_api_adds_the_description_and_keeps_the_memo(two_holdings, client, token_for, fund):
    ann = two_holdings["ann"]
    fund(ann, "50.00")
    returns.distribute()
    body = client.get("/api/v1/wallet/transactions", headers=token_for(ann)).get_json()
    lines = body["data"]
    descriptions = {line["description"] for line in lines}
    assert {NORTHGATE_NOVEMBER, "Return from Harbour Lofts, November 2026", "Deposit to your wallet"} <= descriptions
    assert all("#" not in d and "run" not in d.lower() for d in descriptions)
    assert any(line["memo"].startswith("Returns run #") for line in lines)  # the field stays, as the contract says


def test_the_history_speaks_the_investors_language(two_holdings, client, login, fund):
    ann = two_holdings["ann"]
    with unit_of_work():
        db.session.merge(ann).locale = "es"
    returns.distribute()
    login(ann)
    page = client.get("/wallet").get_data(as_text=True)
    assert "Rendimiento de Harbour Lofts, noviembre de 2026" in page


def test_the_wallet_page_reads_a_fixed_number_of_queries_whatever_its_lines(two_holdings, client, login, fund,
                                                                            count_queries, fund_distributions):
    ann, harbour = two_holdings["ann"], two_holdings["harbour"]
    fund(ann, "5.00")
    returns.distribute()
    login(ann)
    client.get("/wallet")
    with count_queries() as few:
        assert client.get("/wallet").status_code == 200
    for n in range(4):
        fund(ann, "5.00")
        book(harbour, ann, schedule=[(NOVEMBER - timedelta(days=n), 100 + n, 0, True)])
    returns.distribute()
    with count_queries() as many:
        page = client.get("/wallet").get_data(as_text=True)
    assert page.count("Return from Harbour Lofts, November 2026") >= 2
    assert 0 < len(many) == len(few)
