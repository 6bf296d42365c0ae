"""The webhook inbox at throughput: requests arriving together share one INSERT (each answered only once its own
event is committed), one wake-up of the drainer per drain on a Redis broker, the drainer processing events in
batches, one transaction each (a batch with a bad event is processed again one event per transaction, so the bad
one fails alone), the sweep for lost wake-ups, and crediting exactly once whatever runs at the same time. The
ledger verifies after each test."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from app.core.db import utcnow
from app.core.money import Money
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import USER_WALLET, JournalEntry
from app.payments import inbox, tasks, timeline
from app.payments import services as payments
from app.payments.gateways.base import WebhookEvent
from app.payments.models import Deposit, DepositEvent, WebhookInbox


def paid_deposits(fake, user, count: int, amount: str = "100.00") -> list[Deposit]:
    """Pending Stripe deposits whose Checkout Sessions are paid at the fake."""
    deposits = []
    for _ in range(count):
        deposit = payments.start_deposit(user, Money.parse(amount, "USD"), "stripe")
        db.session.commit()
        payments.open_payment(deposit, success_url="http://x/{CHECKOUT_SESSION_ID}", cancel_url="http://x")
        db.session.commit()
        fake.complete_session(deposit.gateway_reference)
        deposits.append(deposit)
    return deposits


def event_for(deposit: Deposit, n: int = 0) -> WebhookEvent:
    return WebhookEvent(event_id=f"evt_{deposit.id}_{n}", type="checkout.session.completed",
                        reference=deposit.gateway_reference, payload={"id": f"evt_{deposit.id}_{n}"})


def store_unannounced(events: list[WebhookEvent]) -> list[int | None]:
    """Stored as a webhook stores them, but not announced: left for the drainer or the sweep."""
    ids = payments.store_events([("stripe", e) for e in events], connection=db.session.connection())
    db.session.commit()
    return ids


def wallet(user) -> int:
    db.session.expire_all()
    return ledger.user_account(user.id, USER_WALLET).balance


def statuses() -> dict:
    db.session.expire_all()
    return dict(db.session.execute(select(WebhookInbox.status, func.count(WebhookInbox.id))
                                   .group_by(WebhookInbox.status)).all())


def post_signed(http, fake, reference, **kw):
    body = fake.event("checkout.session.completed", reference, **kw)
    return http.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": fake.sign(body)})


# storing ---------------------------------------------------------------------------------------------------------
def test_one_statement_stores_many_and_reports_duplicates(app, stripe_config, investor):
    [deposit] = paid_deposits(stripe_config, investor, 1)
    first, second = event_for(deposit, 1), event_for(deposit, 2)
    ids = store_unannounced([first, second, first])  # the same event twice in one batch
    assert ids[0] and ids[1] and ids[2] is None
    assert store_unannounced([second]) == [None]  # and once more later
    assert db.session.scalar(select(func.count(WebhookInbox.id))) == 2


@pytest.mark.postgres
def test_concurrent_deliveries_share_inserts_and_each_is_answered_once_stored(app, postgres, stripe_config,
                                                                              investor, monkeypatch):
    deposits = paid_deposits(stripe_config, investor, 6)
    batches = []
    real = inbox.store_events

    def counting(events, *, connection):
        batches.append(len(events))
        return real(events, connection=connection)

    monkeypatch.setattr(inbox, "store_events", counting)
    bodies = [stripe_config.event("checkout.session.completed", d.gateway_reference) for d in deposits] * 3
    barrier = threading.Barrier(len(bodies))
    answers = []

    def send(body):
        http = app.test_client()
        barrier.wait(timeout=20)
        response = http.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": stripe_config.sign(body)})
        answers.append((response.status_code, response.get_json()["data"]["duplicate"]))

    threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [status for status, _ in answers] == [200] * len(bodies)
    assert sorted(duplicate for _, duplicate in answers) == [False] * 6 + [True] * 12
    assert sum(batches) == len(bodies)
    assert db.session.scalar(select(func.count(WebhookInbox.id))) == 6
    assert statuses() == {"processed": 6}  # eager here: processed before each first answer
    assert wallet(investor) == 6 * 10_000


def test_a_failed_insert_fails_every_request_of_its_batch_and_stores_nothing(app, client, stripe_config, investor,
                                                                            monkeypatch):
    [deposit] = paid_deposits(stripe_config, investor, 1)

    def broken(events, *, connection):
        raise RuntimeError("database unavailable")

    with monkeypatch.context() as patch:
        patch.setattr(inbox, "store_events", broken)
        patch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
        response = post_signed(client, stripe_config, deposit.gateway_reference)
    assert response.status_code == 500  # the gateway delivers again later
    assert db.session.scalar(select(func.count(WebhookInbox.id))) == 0
    assert post_signed(client, stripe_config, deposit.gateway_reference).status_code == 200  # the writer recovers
    assert wallet(investor) == 10_000


def test_the_writer_replaces_a_connection_the_database_dropped(app, client, stripe_config, investor):
    first, second = paid_deposits(stripe_config, investor, 2)
    assert post_signed(client, stripe_config, first.gateway_reference).status_code == 200
    writer = app.extensions["freehold_inbox_writer"]
    writer._connection.connection.dbapi_connection.close()  # as a database restart would
    assert post_signed(client, stripe_config, second.gateway_reference).status_code == 200
    assert statuses() == {"processed": 2} and wallet(investor) == 20_000


# waking the drainer ----------------------------------------------------------------------------------------------
class FakeRedis:
    def __init__(self):
        self.keys: dict = {}

    def set(self, key, value, nx=False, px=None):
        self.sets = getattr(self, "sets", 0) + 1
        if nx and key in self.keys:
            return None
        self.keys[key] = (value, px)
        return True

    def delete(self, key):
        return 1 if self.keys.pop(key, None) is not None else 0


@pytest.fixture
def redis_broker(monkeypatch):
    """As on a Redis broker, not eager: wake-ups go to a FakeRedis, published tasks are recorded."""
    fake = FakeRedis()
    published = []
    monkeypatch.setattr(inbox, "tasks_eager", lambda: False)
    monkeypatch.setattr(inbox, "wake_redis", lambda: fake)
    monkeypatch.setattr(inbox, "_wake_seen", {})
    monkeypatch.setattr(tasks.drain_inbox, "apply_async",
                        lambda *a, **kw: published.append(("drain_inbox", a, kw)))
    monkeypatch.setattr(tasks.process_webhook, "apply_async",
                        lambda *a, **kw: published.append(("process_webhook", a, kw)))
    fake.published = published
    return fake


def test_one_wake_up_until_a_drainer_starts(app, redis_broker):
    for ids in ([1], [2, 3], [4]):
        inbox.announce_events(ids)
    assert [name for name, *_ in redis_broker.published] == ["drain_inbox"]
    assert next(iter(redis_broker.keys.values()))[1] == inbox.WAKE_TTL_MS  # a lost message stops suppressing
    tasks.drain_inbox.run()  # a drainer starts: it clears the wake-up first
    assert redis_broker.keys == {}
    inbox.announce_events([5])
    assert [name for name, *_ in redis_broker.published] == ["drain_inbox", "drain_inbox"]


def test_a_process_that_saw_the_wake_up_a_moment_ago_does_not_ask_redis_again(app, redis_broker, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(inbox.time, "monotonic", lambda: clock[0])
    inbox.announce_events([1])
    inbox.announce_events([2])  # the same instant: the drainer woken for 1 reads 2 as well
    assert redis_broker.sets == 1
    clock[0] += inbox.WAKE_FRESH + 0.001
    inbox.announce_events([3])  # later: asks again (the key is still set, so nothing is published)
    assert redis_broker.sets == 2
    assert [name for name, *_ in redis_broker.published] == ["drain_inbox"]
    assert tasks.DRAIN_RESCAN_AFTER > 2 * inbox.WAKE_FRESH  # the drainer's second look comes well after


def test_a_woken_drainer_reads_the_whole_inbox_once_more_before_it_stops(app, stripe_config, investor,
                                                                         redis_broker, monkeypatch):
    """Events that did not set the wake-up again, or whose row id is below what the drainer has read (a slow
    commit), are still read: once nothing is left, the woken drainer waits DRAIN_RESCAN_AFTER from its start and
    reads the inbox again from the first row."""
    early, late, fresh = paid_deposits(stripe_config, investor, 3)
    early_id, _late_id = store_unannounced([event_for(early), event_for(late)])
    # the early row is not visible yet (as if its commit were still under way): the drainer passes its id
    db.session.execute(update(WebhookInbox).where(WebhookInbox.id == early_id).values(status="processing"))
    db.session.commit()
    waited = []

    def meanwhile(seconds):
        waited.append(seconds)
        db.session.execute(update(WebhookInbox).where(WebhookInbox.id == early_id).values(status="received"))
        db.session.commit()
        store_unannounced([event_for(fresh)])  # committed after the wake-up was cleared, not announced

    monkeypatch.setattr(tasks.time, "sleep", meanwhile)
    # a pause long enough that reading the first rows never uses it up, however busy the machine (sleep is faked)
    monkeypatch.setattr(tasks, "DRAIN_RESCAN_AFTER", 60.0)
    counts = tasks.drain_inbox.run()
    assert counts == {"processed": 3, "more": False} and len(waited) == 1
    assert 0 < waited[0] <= tasks.DRAIN_RESCAN_AFTER
    assert statuses() == {"processed": 3} and wallet(investor) == 30_000
    assert tasks.drain(rescan_after=None) == {"more": False}  # the sweep and tests: no second look


def test_a_failed_publish_leaves_no_wake_up_behind_and_does_not_fail_the_request(app, redis_broker, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.drain_inbox, "apply_async", down)
    inbox.announce_events([1])  # logged; the sweep processes the event
    assert redis_broker.keys == {}  # the next event tries again


def test_webhooks_on_a_redis_broker_are_stored_and_left_to_the_drainer(app, client, stripe_config, investor,
                                                                        redis_broker):
    deposits = paid_deposits(stripe_config, investor, 3)
    for deposit in deposits:
        assert post_signed(client, stripe_config, deposit.gateway_reference).status_code == 200
    assert statuses() == {"received": 3} and wallet(investor) == 0
    assert [name for name, *_ in redis_broker.published] == ["drain_inbox"]
    counts = tasks.drain_inbox.run()
    assert counts["processed"] == 3 and not counts["more"]
    assert statuses() == {"processed": 3} and wallet(investor) == 30_000


# the drainer -----------------------------------------------------------------------------------------------------
def test_a_batch_with_a_bad_event_is_processed_again_one_event_at_a_time(app, stripe_config, investor, make_user):
    good = paid_deposits(stripe_config, investor, 3)
    [short] = paid_deposits(stripe_config, investor, 1)
    stripe_config.set_amount(short.gateway_reference, 5_000)  # paid less: flagged, not credited
    [unknown] = paid_deposits(stripe_config, make_user(), 1)
    unknown.gateway_reference = "cs_test_nobody_knows"  # the gateway answers 404: this event fails
    db.session.commit()
    events = [event_for(d) for d in [*good, short, unknown]]
    events.append(WebhookEvent("evt_orphan", "checkout.session.completed", "cs_test_orphan", {}))
    store_unannounced(events)
    counts = tasks.drain()
    assert counts == {"processed": 4, "failed": 1, "ignored": 1, "more": False}
    assert wallet(investor) == 30_000
    db.session.refresh(short)
    assert short.status == "pending" and short.attention_reason
    failed = db.session.scalar(select(WebhookInbox).where(WebhookInbox.status == "failed"))
    assert failed.reference == "cs_test_nobody_knows" and "404" in failed.error and failed.attempts == 1
    assert tasks.drain() == {"more": False}  # failed events are retried on their own schedule, not here
    timeline = [e.kind for e in db.session.scalars(select(DepositEvent).where(
        DepositEvent.deposit_id == good[0].id).order_by(DepositEvent.id))]
    assert timeline[-3:] == ["webhook", "gateway_state", "credited"]


def test_a_crash_in_one_event_rolls_back_only_that_event(app, stripe_config, investor, monkeypatch):
    deposits = paid_deposits(stripe_config, investor, 4)
    real = timeline.tell_investor
    broken = {deposits[1].id}

    def crash(deposit, event, **context):
        if deposit.id in broken:
            raise RuntimeError("worker killed")
        return real(deposit, event, **context)

    monkeypatch.setattr(timeline, "tell_investor", crash)
    ids = store_unannounced([event_for(d) for d in deposits])
    assert tasks.drain() == {"processed": 3, "failed": 1, "more": False}  # the batch, then one by one
    assert wallet(investor) == 30_000  # the crashed event's ledger write went with its rollback, no other's
    broken.clear()
    assert tasks.process_webhook(ids[1]) == "processed"  # the retry
    assert tasks.process_webhook(ids[1]) == "skipped"
    assert wallet(investor) == 40_000
    assert db.session.scalar(select(func.count(JournalEntry.id)).where(JournalEntry.kind == "deposit")) == 4


def test_a_batch_credits_each_deposit_once_and_sends_its_notices_as_one_task(app, stripe_config, investor,
                                                                            make_user, monkeypatch):
    from app.notifications.models import Notification

    other = make_user()
    deposits = paid_deposits(stripe_config, investor, 2) + paid_deposits(stripe_config, other, 1)
    store_unannounced([event_for(d, n) for n in range(2) for d in deposits])  # two events per deposit
    sent = []
    real = tasks.notify_outcomes.apply_async
    monkeypatch.setattr(tasks.notify_outcomes, "apply_async",
                        lambda *a, **kw: sent.append(kw["args"]) or real(*a, **kw))
    assert tasks.drain() == {"processed": 6, "more": False}
    assert wallet(investor) == 20_000 and wallet(other) == 10_000
    assert len(sent) == 1 and len(sent[0][0]) == 3  # one task, one notice per credit
    notices = db.session.scalars(select(Notification).where(Notification.event == "deposit_received")).all()
    assert sorted(n.user_id for n in notices) == sorted([investor.id, investor.id, other.id])
    timeline = [e.kind for e in db.session.scalars(select(DepositEvent).where(
        DepositEvent.deposit_id == deposits[0].id).order_by(DepositEvent.id))]
    assert timeline[-5:] == ["webhook", "gateway_state", "credited", "webhook", "gateway_state"]


def test_a_notice_of_a_batch_that_fails_is_retried_alone(app, investor, make_user, monkeypatch):
    from app.notifications import services as notifications
    from app.notifications.models import Notification

    other = make_user()
    real = notifications.notify

    def notify(user, event, **context):
        if user.id == other.id:
            raise RuntimeError("template broken")
        return real(user, event, **context)

    monkeypatch.setattr(notifications, "notify", notify)
    retried = []
    monkeypatch.setattr(tasks.notify_outcome, "apply_async", lambda *a, **kw: retried.append((a, kw)))
    context = {"deposit_id": 1, "amount": "USD 100.00", "gateway": "card (Stripe)"}
    counts = tasks.notify_outcomes.run([(investor.id, "deposit_received", context),
                                        (other.id, "deposit_received", context),
                                        (investor.id, "deposit_failed", {**context, "reason": "expired"})])
    assert counts == {"sent": 2, "retried": 1}
    assert sorted(n.event for n in db.session.scalars(select(Notification))) == ["deposit_failed",
                                                                                  "deposit_received"]
    assert retried == [(((other.id, "deposit_received", context),), {"countdown": 60})]


def test_a_failed_event_is_retried_with_backoff(app, stripe_config, investor, redis_broker):
    [deposit] = paid_deposits(stripe_config, investor, 1)
    [inbox_id] = store_unannounced([event_for(deposit)])
    stripe_config.fail_next(503, times=2)  # the batch's lookup, then the event's own
    assert tasks.drain()["failed"] == 1
    assert redis_broker.published == [("process_webhook", ((inbox_id,),), {"countdown": 30})]
    assert tasks.process_webhook.run(inbox_id) == "processed"
    assert wallet(investor) == 10_000


def test_drain_stops_after_its_time_and_hands_over(app, stripe_config, investor, monkeypatch):
    deposits = paid_deposits(stripe_config, investor, 3)
    store_unannounced([event_for(d) for d in deposits])
    monkeypatch.setattr(tasks, "DRAIN_BATCH", 1)
    counts = tasks.drain(seconds=0)
    assert counts == {"processed": 1, "more": True}
    assert tasks.drain() == {"processed": 2, "more": False}


def test_the_sweep_processes_events_left_behind_and_leaves_fresh_ones(app, stripe_config, investor):
    old, fresh = paid_deposits(stripe_config, investor, 2)
    old_id, fresh_id = store_unannounced([event_for(old), event_for(fresh)])
    db.session.execute(update(WebhookInbox).where(WebhookInbox.id == old_id)
                       .values(received_at=utcnow() - tasks.SWEEP_AFTER - timedelta(seconds=5)))
    db.session.commit()
    assert tasks.sweep_inbox.delay().get() == {"processed": 1, "more": False}
    assert db.session.get(WebhookInbox, old_id).status == "processed"
    assert db.session.get(WebhookInbox, fresh_id).status == "received"
    assert "payments-sweep-inbox" in app.extensions["celery"].conf.beat_schedule


def test_the_event_is_kept_as_the_gateway_sent_it(app, client, stripe_config, investor, redis_broker,
                                                 is_postgres):
    [deposit] = paid_deposits(stripe_config, investor, 1)
    body = stripe_config.event("checkout.session.completed", deposit.gateway_reference)
    body = body.replace(b'{"id"', b'{ "id"', 1)  # spacing a re-encoding would not keep
    assert client.post("/webhooks/stripe", data=body,
                       headers={"Stripe-Signature": stripe_config.sign(body)}).status_code == 200
    row = db.session.scalar(select(WebhookInbox))
    assert row.payload["data"]["object"]["id"] == deposit.gateway_reference
    if is_postgres:  # PostgreSQL's json type keeps the text: the very bytes that were signed
        stored = db.session.execute(text("SELECT payload::text FROM webhook_inbox")).scalar_one()
        assert stored == body.decode()


# exactly once, whatever runs at the same time ----------------------------------------------------------------------
@pytest.mark.postgres
def test_two_drainers_and_repeated_events_credit_once(app, postgres, stripe_config, investor):
    deposits = paid_deposits(stripe_config, investor, 8)
    store_unannounced([event_for(d, n) for n in range(3) for d in deposits])  # three events per deposit
    results = []

    def drainer():
        with app.app_context():
            results.append(tasks.drain(chunk=5))

    threads = [threading.Thread(target=drainer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sum(r.get("processed", 0) for r in results) == 24  # each row once; the other drainer skipped it
    assert statuses() == {"processed": 24}
    assert db.session.scalar(select(func.max(WebhookInbox.attempts))) == 1
    assert wallet(investor) == 80_000
    assert db.session.scalar(select(func.count(JournalEntry.id)).where(JournalEntry.kind == "deposit")) == 8


@pytest.mark.postgres
def test_the_redirect_and_a_webhook_at_once_credit_once(app, postgres, stripe_config, investor, login):
    [deposit] = paid_deposits(stripe_config, investor, 1)
    [inbox_id] = store_unannounced([event_for(deposit)])
    browser = app.test_client()
    login(investor, http=browser)
    barrier = threading.Barrier(2)
    outcomes = []

    def webhook():
        with app.app_context():
            barrier.wait(timeout=20)
            outcomes.append(tasks.process_webhook(inbox_id))

    url = f"/deposits/{deposit.id}/return?session_id={deposit.gateway_reference}"

    def redirect():
        barrier.wait(timeout=20)
        outcomes.append(browser.get(url).status_code)

    threads = [threading.Thread(target=webhook), threading.Thread(target=redirect)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(map(str, outcomes)) == ["302", "processed"]
    assert wallet(investor) == 10_000
    db.session.refresh(deposit)
    assert deposit.status == "succeeded" and deposit.ledger_entry_id is not None
