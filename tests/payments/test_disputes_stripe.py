"""Stripe disputes end to end: `charge.dispute.*` events over HTTP, stored in the inbox once and processed once by
reading the dispute again from the Stripe fake, whatever the duplicates, the order and the timing. The ledger
verifies after each test (its dispute check included)."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from app.core.money import Money
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import FEE_REVENUE, GATEWAY_CLEARING, RECEIVABLES, USER_HELD, USER_WALLET
from app.notifications.models import Notification
from app.payments import disputes, tasks
from app.payments import services as payments
from app.payments.gateways.base import WebhookEvent
from app.payments.gateways.stripe import StripeGateway
from app.payments.models import Deposit, Dispute, Receivable, WebhookInbox


def paid_deposit(fake, user, amount: str = "100.00") -> Deposit:
    """A Stripe deposit paid and credited through its checkout.session.completed event."""
    deposit = payments.start_deposit(user, Money.parse(amount, "USD"), "stripe")
    db.session.commit()
    payments.open_payment(deposit, success_url="http://x/{CHECKOUT_SESSION_ID}", cancel_url="http://x")
    db.session.commit()
    fake.complete_session(deposit.gateway_reference)
    deliver(fake, "checkout.session.completed", deposit.gateway_reference)
    db.session.refresh(deposit)
    assert deposit.status == "succeeded"
    return deposit


def deliver(fake, event_type, obj, *, body=None):
    from flask import current_app
    body = body or fake.event(event_type, obj)
    response = current_app.test_client().post("/webhooks/stripe", data=body,
                                              headers={"Stripe-Signature": fake.sign(body),
                                                       "Content-Type": "application/json"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return body


def spend(user, amount: int) -> None:
    ledger.post([(ledger.user_account(user.id, USER_WALLET), -amount), (ledger.platform_account(FEE_REVENUE), amount)],
                key=f"spent-{user.id}-{amount}", kind="test")
    db.session.commit()


def balances(user) -> tuple[int, int]:
    db.session.expire_all()
    return ledger.user_account(user.id, USER_WALLET).balance, ledger.user_account(user.id, USER_HELD).balance


def the_dispute() -> Dispute:
    db.session.expire_all()
    return db.session.scalar(select(Dispute))


def events_told(user) -> list[str]:
    return list(db.session.scalars(select(Notification.event).where(Notification.user_id == user.id)
                                   .order_by(Notification.id)))


def test_a_dispute_on_a_full_wallet_holds_it_all_and_lost_settles_to_clearing(stripe_config, investor, finance):
    deposit = paid_deposit(stripe_config, investor)
    dispute_id = stripe_config.create_dispute(deposit.gateway_reference)["id"]
    created = deliver(stripe_config, "charge.dispute.created", dispute_id)
    deliver(stripe_config, "charge.dispute.created", dispute_id, body=created)  # the same delivery again
    deliver(stripe_config, "charge.dispute.funds_withdrawn", dispute_id)
    dispute = the_dispute()
    assert (dispute.deposit_id, dispute.held, dispute.receivable, dispute.status) == (deposit.id, 10_000, 0, "open")
    assert dispute.provider_status == "needs_response" and dispute.evidence_due_at is not None
    assert balances(investor) == (0, 10_000)
    assert db.session.scalar(select(func.count(WebhookInbox.id))) == 3  # the second delivery was stored once
    assert "dispute_opened" in events_told(investor)
    assert "dispute_opened_staff" in events_told(finance)
    stripe_config.update_dispute(dispute_id, "under_review")
    deliver(stripe_config, "charge.dispute.updated", dispute_id)
    assert the_dispute().provider_status == "under_review" and balances(investor) == (0, 10_000)
    stripe_config.close_dispute(dispute_id, "lost")
    closed = deliver(stripe_config, "charge.dispute.closed", dispute_id)
    deliver(stripe_config, "charge.dispute.closed", dispute_id, body=closed)
    deliver(stripe_config, "charge.dispute.updated", dispute_id)  # a late event about the closed dispute
    dispute = the_dispute()
    assert dispute.status == "lost" and dispute.closed_at is not None
    assert balances(investor) == (0, 0)
    assert ledger.platform_account(GATEWAY_CLEARING, "stripe").balance == 0  # what Stripe took back
    assert events_told(investor).count("dispute_lost") == 1
    kinds = [event.kind for event in db.session.get(Deposit, deposit.id).events]
    assert {"dispute_opened", "dispute_booked", "dispute_lost"} <= set(kinds)


def test_a_dispute_on_money_already_withdrawn_books_a_receivable_and_won_undoes_it(stripe_config, investor):
    deposit = paid_deposit(stripe_config, investor)
    spend(investor, 7_500)  # withdrawn or invested meanwhile
    dispute_id = stripe_config.create_dispute(deposit.gateway_reference)["id"]
    deliver(stripe_config, "charge.dispute.created", dispute_id)
    dispute = the_dispute()
    assert (dispute.held, dispute.receivable) == (2_500, 7_500)
    assert balances(investor) == (0, 2_500)  # never below zero
    receivable = db.session.get(Receivable, dispute.receivable_id)
    assert receivable.amount == 7_500 and receivable.deposit_id == deposit.id and receivable.settled_at is None
    assert ledger.platform_account(RECEIVABLES, f"user-{investor.id}").balance == -7_500
    assert db.session.get(Deposit, deposit.id).attention_reason  # flagged to finance
    stripe_config.close_dispute(dispute_id, "won")
    deliver(stripe_config, "charge.dispute.funds_reinstated", dispute_id)
    deliver(stripe_config, "charge.dispute.closed", dispute_id)
    dispute = the_dispute()
    assert dispute.status == "won" and dispute.reversal_entry_id is not None
    assert balances(investor) == (2_500, 0)
    assert ledger.platform_account(RECEIVABLES, f"user-{investor.id}").balance == 0
    assert ledger.platform_account(GATEWAY_CLEARING, "stripe").balance == -10_000  # the charge stands
    assert db.session.get(Receivable, dispute.receivable_id).settled_at is not None
    assert events_told(investor).count("dispute_won") == 1


def test_a_partial_dispute_holds_only_the_disputed_amount(stripe_config, investor):
    deposit = paid_deposit(stripe_config, investor)
    dispute_id = stripe_config.create_dispute(deposit.gateway_reference, 4_000)["id"]
    deliver(stripe_config, "charge.dispute.created", dispute_id)
    assert balances(investor) == (6_000, 4_000)


def test_closed_arriving_before_created_opens_and_closes_once(stripe_config, investor):
    deposit = paid_deposit(stripe_config, investor)
    dispute_id = stripe_config.create_dispute(deposit.gateway_reference)["id"]
    created = stripe_config.event("charge.dispute.created", dispute_id)
    stripe_config.close_dispute(dispute_id, "lost")
    deliver(stripe_config, "charge.dispute.closed", dispute_id)
    deliver(stripe_config, "charge.dispute.created", dispute_id, body=created)  # late, and says "open"
    dispute = the_dispute()
    assert dispute.status == "lost" and dispute.held == 10_000
    assert balances(investor) == (0, 0)
    assert db.session.scalar(select(func.count(Dispute.id))) == 1


def test_an_inquiry_closed_without_a_chargeback_releases_the_money(stripe_config, investor):
    deposit = paid_deposit(stripe_config, investor)
    dispute_id = stripe_config.create_dispute(deposit.gateway_reference, status="warning_needs_response")["id"]
    deliver(stripe_config, "charge.dispute.created", dispute_id)
    assert balances(investor) == (0, 10_000)
    stripe_config.close_dispute(dispute_id, "warning_closed")
    deliver(stripe_config, "charge.dispute.closed", dispute_id)
    assert the_dispute().status == "won" and balances(investor) == (10_000, 0)


def test_a_dispute_naming_only_its_charge_finds_the_deposit(stripe_config, investor):
    deposit = paid_deposit(stripe_config, investor)
    dispute_id = stripe_config.create_dispute(deposit.gateway_reference, with_payment_intent=False)["id"]
    deliver(stripe_config, "charge.dispute.created", dispute_id)
    assert the_dispute().deposit_id == deposit.id and balances(investor) == (0, 10_000)


def test_a_dispute_of_an_unknown_payment_is_flagged_and_moves_nothing(app, stripe_config, investor, finance):
    paid_deposit(stripe_config, investor)
    checkout = StripeGateway().create_payment(deposit_id=999_999, amount=5_000, currency="USD",
                                              customer_email="someone@example.com", success_url="http://x",
                                              cancel_url="http://x", idempotency_key="elsewhere")
    stripe_config.complete_session(checkout.reference)
    dispute_id = stripe_config.create_dispute(checkout.reference)["id"]
    deliver(stripe_config, "charge.dispute.created", dispute_id)
    dispute = the_dispute()
    assert dispute.deposit_id is None and dispute.booked_at is None and dispute.attention_reason
    row = db.session.scalar(select(WebhookInbox).where(WebhookInbox.type == "charge.dispute.created"))
    assert row.status == "processed" and "no deposit" in row.error
    assert balances(investor) == (10_000, 0)
    assert "dispute_opened_staff" in events_told(finance)
    stripe_config.close_dispute(dispute_id, "lost")
    deliver(stripe_config, "charge.dispute.closed", dispute_id)
    assert the_dispute().status == "lost" and balances(investor) == (10_000, 0)


def test_a_stripe_failure_leaves_the_event_to_retry_and_nothing_moved(stripe_config, investor):
    deposit = paid_deposit(stripe_config, investor)
    dispute_id = stripe_config.create_dispute(deposit.gateway_reference)["id"]
    stripe_config.fail_next(500)
    deliver(stripe_config, "charge.dispute.created", dispute_id)
    row = db.session.scalar(select(WebhookInbox).where(WebhookInbox.type == "charge.dispute.created"))
    assert row.status == "failed" and the_dispute() is None and balances(investor) == (10_000, 0)
    assert tasks.process_webhook(row.id) == "processed"
    assert balances(investor) == (0, 10_000)


@pytest.mark.postgres
def test_two_dispute_events_at_once_hold_once(app, postgres, stripe_config, investor):
    deposit = paid_deposit(stripe_config, investor)
    dispute_id = stripe_config.create_dispute(deposit.gateway_reference)["id"]
    bodies = [stripe_config.event(kind, dispute_id) for kind in
              ("charge.dispute.created", "charge.dispute.funds_withdrawn", "charge.dispute.created")]
    barrier = threading.Barrier(len(bodies))
    statuses = []

    def send(body):
        http = app.test_client()
        barrier.wait(timeout=20)
        statuses.append(http.post("/webhooks/stripe", data=body,
                                  headers={"Stripe-Signature": stripe_config.sign(body)}).status_code)

    threads = [threading.Thread(target=send, args=(body,)) for body in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert statuses == [200, 200, 200]
    assert balances(investor) == (0, 10_000)
    assert db.session.scalar(select(func.count(Dispute.id))) == 1
    assert db.session.scalar(select(func.count(WebhookInbox.id)).where(WebhookInbox.status == "processed")) == 4


def test_the_drainer_processes_dispute_events_beside_payments(stripe_config, investor):
    deposit = paid_deposit(stripe_config, investor)
    dispute_id = stripe_config.create_dispute(deposit.gateway_reference)["id"]
    events = [WebhookEvent(event_id=f"evt_d{n}", type=kind, reference=dispute_id, payload={"id": f"evt_d{n}"})
              for n, kind in enumerate(("charge.dispute.created", "charge.dispute.funds_withdrawn"))]
    events.append(WebhookEvent(event_id="evt_pay", type="checkout.session.completed",
                               reference=deposit.gateway_reference, payload={"id": "evt_pay"}))
    payments.store_events([("stripe", e) for e in events], connection=db.session.connection())
    db.session.commit()
    counts = tasks.drain(chunk=5)
    assert counts.get("processed") == 3
    assert balances(investor) == (0, 10_000)


@pytest.mark.postgres
def test_open_and_close_at_once_move_the_money_once(app, postgres, stripe_config, investor):
    from tests.concurrency import run_threads

    deposit = paid_deposit(stripe_config, investor)

    def work(index):
        found = db.session.get(Deposit, deposit.id)
        if index % 2:
            return disputes.close_dispute(provider="stripe", external_id="du_race", outcome="lost", deposit=found,
                                          amount=10_000, currency="USD").status
        return disputes.open_dispute(provider="stripe", external_id="du_race", deposit=found, amount=10_000,
                                     currency="USD").status

    results = run_threads(app, 4, work)
    assert not [r for r in results if isinstance(r, Exception)], results
    dispute = the_dispute()
    assert dispute.status == "lost" and dispute.held == 10_000
    assert balances(investor) == (0, 0)
    assert ledger.platform_account(GATEWAY_CLEARING, "stripe").balance == 0


def test_a_dispute_processed_before_the_payment_it_disputes_is_matched_later(stripe_config, investor):
    deposit = payments.start_deposit(investor, Money.parse("100.00", "USD"), "stripe")
    db.session.commit()
    payments.open_payment(deposit, success_url="http://x/{CHECKOUT_SESSION_ID}", cancel_url="http://x")
    db.session.commit()
    stripe_config.complete_session(deposit.gateway_reference)
    dispute_id = stripe_config.create_dispute(deposit.gateway_reference)["id"]
    deliver(stripe_config, "charge.dispute.created", dispute_id)  # before the payment's own event
    assert the_dispute().deposit_id is None and the_dispute().attention_reason
    deliver(stripe_config, "checkout.session.completed", deposit.gateway_reference)
    assert balances(investor) == (10_000, 0)
    stripe_config.close_dispute(dispute_id, "lost")
    deliver(stripe_config, "charge.dispute.closed", dispute_id)
    dispute = the_dispute()
    assert (dispute.deposit_id, dispute.status, dispute.held) == (deposit.id, "lost", 10_000)
    assert dispute.attention_reason is None and balances(investor) == (0, 0)
