"""Deposits end to end against the Stripe fake over HTTP: credited once whatever the deliveries, never when the
payment does not match, refunds with receivables, the redirect that cannot be replayed, a crashed worker, bank
transfers with two approvals, idempotent API calls, expiry and reconciliation. The ledger verifies after each."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core.db import utcnow
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import FEE_REVENUE, USER_WALLET
from app.payments import services as payments
from app.payments.models import Deposit, GatewaySetting, Receivable, ReconciliationItem, WebhookInbox
from tests.support import csrf_from, set_setting


@pytest.fixture
def with_fee(app):
    set_setting("gateway.stripe.fee_bps", 250)  # 2.5 % + 0.30
    set_setting("gateway.stripe.fee_fixed", 30)


def start(client, headers, amount="100.00", gateway="stripe", key=None):
    extra = {"Idempotency-Key": key} if key else {}
    return client.post("/api/v1/deposits", json={"amount": amount, "gateway": gateway}, headers={**headers, **extra})


def deliver(client, fake, event_type, obj, **kw):
    body = fake.event(event_type, obj, **kw)
    return client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": fake.sign(body),
                                                               "Content-Type": "application/json"})


def wallet(user):
    db.session.expire_all()
    return ledger.user_account(user.id, USER_WALLET).balance


def test_stripe_deposit_credits_the_wallet_once_with_the_fee_to_revenue(client, stripe_config, investor, token_for,
                                                                        with_fee):
    headers = token_for(investor)
    response = start(client, headers, "100.00")
    assert response.status_code == 201, response.get_data(as_text=True)
    data = response.get_json()["data"]
    assert data["fee"] == {"amount": "2.80", "currency": "USD"} and data["total"]["amount"] == "102.80"
    assert data["checkout_url"].startswith("https://checkout.stripe.test/")
    deposit = db.session.get(Deposit, data["id"])
    session = stripe_config.session(deposit.gateway_reference)
    assert session["amount_total"] == 10280 and session["metadata"]["deposit_id"] == str(deposit.id)
    stripe_config.complete_session(deposit.gateway_reference)
    assert deliver(client, stripe_config, "checkout.session.completed", deposit.gateway_reference).status_code == 200
    assert wallet(investor) == 10_000
    assert ledger.platform_account(FEE_REVENUE).balance == 280
    db.session.refresh(deposit)
    assert deposit.status == "succeeded"
    assert client.get(f"/api/v1/deposits/{deposit.id}", headers=headers).get_json()["data"]["status"] == "succeeded"
    kinds = [e.kind for e in deposit.events]
    assert kinds[:2] == ["created", "checkout_opened"] and "credited" in kinds


def test_duplicates_and_a_second_event_type_credit_once(client, stripe_config, investor, token_for):
    deposit_id = start(client, token_for(investor)).get_json()["data"]["id"]
    reference = db.session.get(Deposit, deposit_id).gateway_reference
    stripe_config.complete_session(reference)
    body = stripe_config.event("checkout.session.completed", reference)
    for _ in range(5):
        response = client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": stripe_config.sign(body)})
        assert response.status_code == 200
    deliver(client, stripe_config, "checkout.session.async_payment_succeeded", reference)
    assert db.session.scalar(select(func.count(WebhookInbox.id))) == 2
    assert wallet(investor) == 10_000


@pytest.mark.postgres
def test_five_deliveries_at_once_on_postgres(app, postgres, client, stripe_config, investor, token_for):
    deposit_id = start(client, token_for(investor)).get_json()["data"]["id"]
    reference = db.session.get(Deposit, deposit_id).gateway_reference
    stripe_config.complete_session(reference)
    body = stripe_config.event("checkout.session.completed", reference)
    other = stripe_config.event("checkout.session.async_payment_succeeded", reference)
    barrier = threading.Barrier(6)
    statuses = []

    def send(payload):
        http = app.test_client()
        barrier.wait(timeout=20)
        statuses.append(http.post("/webhooks/stripe", data=payload,
                                  headers={"Stripe-Signature": stripe_config.sign(payload)}).status_code)

    threads = [threading.Thread(target=send, args=(body,)) for _ in range(5)]
    threads.append(threading.Thread(target=send, args=(other,)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert statuses.count(200) == 6
    assert wallet(investor) == 10_000
    assert db.session.scalar(select(func.count()).select_from(
        select(WebhookInbox).where(WebhookInbox.status == "processed").subquery())) == 2


@pytest.mark.parametrize("tamper", ["forged", "stale", "future", "reserialised", "missing"])
def test_bad_signatures_are_400_and_store_nothing(client, stripe_config, investor, token_for, tamper):
    import json
    import time

    deposit_id = start(client, token_for(investor)).get_json()["data"]["id"]
    reference = db.session.get(Deposit, deposit_id).gateway_reference
    stripe_config.complete_session(reference)
    body = stripe_config.event("checkout.session.completed", reference)
    header = stripe_config.sign(body)
    if tamper == "forged":
        header = stripe_config.sign(body, secret="whsec_someone_else")
    elif tamper == "stale":
        header = stripe_config.sign(body, timestamp=int(time.time()) - 3600)
    elif tamper == "future":
        header = stripe_config.sign(body, timestamp=int(time.time()) + 3600)
    elif tamper == "reserialised":
        body = json.dumps(json.loads(body)).encode()
    headers = {} if tamper == "missing" else {"Stripe-Signature": header}
    response = client.post("/webhooks/stripe", data=body, headers=headers)
    assert response.status_code == 400 and response.get_json()["status"] == "error"
    assert db.session.scalar(select(func.count(WebhookInbox.id))) == 0
    assert wallet(investor) == 0


@pytest.mark.parametrize("amount,currency", [(5_000, None), (10_000, "eur")])
def test_amount_or_currency_mismatch_is_flagged_not_credited(client, stripe_config, investor, token_for, amount,
                                                             currency):
    deposit_id = start(client, token_for(investor)).get_json()["data"]["id"]
    deposit = db.session.get(Deposit, deposit_id)
    stripe_config.complete_session(deposit.gateway_reference)
    stripe_config.set_amount(deposit.gateway_reference, amount, currency)
    deliver(client, stripe_config, "checkout.session.completed", deposit.gateway_reference)
    db.session.refresh(deposit)
    assert deposit.status == "pending" and deposit.attention_reason
    assert wallet(investor) == 0


def test_refund_before_completion_never_credits(client, stripe_config, investor, token_for):
    deposit_id = start(client, token_for(investor)).get_json()["data"]["id"]
    deposit = db.session.get(Deposit, deposit_id)
    stripe_config.complete_session(deposit.gateway_reference)
    refund = stripe_config.refund_charge(deposit.gateway_reference)
    deliver(client, stripe_config, "charge.refunded", refund["charge"])  # arrives first
    deliver(client, stripe_config, "checkout.session.completed", deposit.gateway_reference)
    db.session.refresh(deposit)
    assert deposit.status == "refunded" and deposit.ledger_entry_id is None
    assert wallet(investor) == 0


def test_refund_after_the_money_was_spent_makes_a_receivable(client, stripe_config, investor, token_for):
    deposit_id = start(client, token_for(investor)).get_json()["data"]["id"]
    deposit = db.session.get(Deposit, deposit_id)
    stripe_config.complete_session(deposit.gateway_reference)
    deliver(client, stripe_config, "checkout.session.completed", deposit.gateway_reference)
    spend = ledger.platform_account(FEE_REVENUE)
    ledger.post([(ledger.user_account(investor.id, USER_WALLET), -7_000), (spend, 7_000)], key="spent", kind="test")
    db.session.commit()
    refund = stripe_config.refund_charge(deposit.gateway_reference)
    deliver(client, stripe_config, "charge.refunded", refund["charge"])
    db.session.refresh(deposit)
    assert deposit.status == "refunded" and deposit.refunded_amount == 10_000
    assert wallet(investor) == 0  # never negative
    receivable = db.session.scalar(select(Receivable))
    assert receivable.amount == 7_000 and deposit.attention_reason
    deliver(client, stripe_config, "charge.refunded", refund["charge"])  # again: nothing more
    assert db.session.scalar(select(func.count(Receivable.id))) == 1


def test_the_redirect_cannot_be_replayed_with_someone_elses_session(client, stripe_config, investor, make_user,
                                                                     token_for, login):
    other = make_user()
    mine = db.session.get(Deposit, start(client, token_for(investor), "500.00").get_json()["data"]["id"])
    theirs = db.session.get(Deposit, start(client, token_for(other), "10.00").get_json()["data"]["id"])
    small_mine = db.session.get(Deposit, start(client, token_for(investor), "20.00").get_json()["data"]["id"])
    stripe_config.complete_session(theirs.gateway_reference)
    stripe_config.complete_session(small_mine.gateway_reference)
    login(investor)
    # their paid session against my big deposit, my small paid session against my big deposit
    for reference in (theirs.gateway_reference, small_mine.gateway_reference):
        client.get(f"/deposits/{mine.id}/return?session_id={reference}")
    assert client.get(f"/deposits/{theirs.id}/return?session_id={theirs.gateway_reference}").status_code == 404
    db.session.refresh(mine)
    assert mine.status == "pending" and wallet(investor) == 0
    client.get(f"/deposits/{small_mine.id}/return?session_id={small_mine.gateway_reference}")
    assert wallet(investor) == 2_000  # the right session on the right deposit: credited (by asking Stripe)


def test_a_crash_after_the_ledger_write_is_rolled_back_and_redelivery_credits_once(client, stripe_config, investor,
                                                                                    token_for, monkeypatch):
    from app.payments import tasks, timeline

    deposit_id = start(client, token_for(investor)).get_json()["data"]["id"]
    deposit = db.session.get(Deposit, deposit_id)
    stripe_config.complete_session(deposit.gateway_reference)
    real = timeline.tell_investor
    calls = {"n": 0}

    def crash(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(timeline, "tell_investor", crash)
    deliver(client, stripe_config, "checkout.session.completed", deposit.gateway_reference)
    row = db.session.scalar(select(WebhookInbox))
    db.session.refresh(row)
    assert row.status == "failed" and "worker killed" in row.error
    assert wallet(investor) == 0  # the ledger write went with the rollback
    assert tasks.process_webhook(row.id) == "processed"  # redelivery
    assert tasks.process_webhook(row.id) == "skipped"
    assert wallet(investor) == 10_000


def test_unverified_investors_cannot_deposit(client, stripe_config, make_user, token_for):
    response = start(client, token_for(make_user(verified=False)))
    assert response.status_code == 403


@pytest.mark.parametrize("amount,field", [("-5.00", "amount"), ("0", "amount"), ("1.234", "amount"),
                                          ("99999999.00", "amount"), ("5.00", "gateway")])
def test_bad_amounts_are_422_and_change_nothing(client, stripe_config, investor, token_for, amount, field):
    gateway = "paypal" if field == "gateway" else "stripe"
    response = client.post("/api/v1/deposits", json={"amount": amount, "gateway": gateway},
                           headers=token_for(investor))
    assert response.status_code == 422 and field in response.get_json()["errors"]
    assert db.session.scalar(select(func.count(Deposit.id))) == 0
    float_amount = client.post("/api/v1/deposits", json={"amount": 10.5, "gateway": "stripe"},
                               headers=token_for(investor))
    assert float_amount.status_code == 422


def test_idempotency_key(client, stripe_config, investor, token_for):
    headers = token_for(investor)
    first = start(client, headers, "100.00", key="abc-1")
    again = start(client, headers, "100.00", key="abc-1")
    assert first.status_code == again.status_code == 201
    assert first.get_json()["data"]["id"] == again.get_json()["data"]["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert start(client, headers, "200.00", key="abc-1").status_code == 409
    assert db.session.scalar(select(func.count(Deposit.id))) == 1


def test_bank_transfer_needs_two_finance_approvals_above_the_threshold(client, investor, token_for, make_user,
                                                                       login):
    set_setting("bank_transfer.second_approval_above", 500_000)
    response = start(client, token_for(investor), "6000.00", gateway="bank_transfer")
    data = response.get_json()["data"]
    assert data["reference"].startswith("FH-") and data["reference"] in data["instructions"]
    deposit = db.session.get(Deposit, data["id"])
    first, second = make_user(role="finance"), make_user(role="finance")
    assert payments.approve_bank_transfer(deposit, actor=first) == "awaiting_second_approval"
    db.session.commit()
    from app.core.errors import Forbidden

    with pytest.raises(Forbidden):
        payments.approve_bank_transfer(deposit, actor=first)
    db.session.rollback()
    login(second)
    page = client.get(f"/admin/deposits/details/?id={deposit.id}").get_data(as_text=True)
    client.post(f"/admin/deposits/{deposit.id}/approve", data={"csrf_token": csrf_from(page)})
    db.session.refresh(deposit)
    assert deposit.status == "succeeded" and deposit.first_approver_id == first.id
    assert deposit.decided_by_id == second.id
    assert wallet(investor) == 600_000


def test_bank_transfer_reject_and_small_amounts_need_one_approval(investor, make_user):
    small = payments.create_deposit(investor.id, payments.Money.parse("50.00", "USD"), "bank_transfer")
    finance = make_user(role="finance")
    assert payments.approve_bank_transfer(small, actor=finance) == "credited"
    other = payments.create_deposit(investor.id, payments.Money.parse("60.00", "USD"), "bank_transfer")
    payments.reject_bank_transfer(other, actor=finance, reason="No money arrived.")
    db.session.commit()
    assert (small.status, other.status) == ("succeeded", "failed")


def test_abandoned_deposits_expire(client, stripe_config, investor, token_for):
    from app.payments.tasks import expire_abandoned_deposits

    deposit = db.session.get(Deposit, start(client, token_for(investor)).get_json()["data"]["id"])
    deposit.created_at = utcnow() - timedelta(hours=49)
    db.session.commit()
    assert expire_abandoned_deposits.delay().get() == 1
    db.session.refresh(deposit)
    assert deposit.status == "failed" and deposit.failure_reason == "expired"


def test_reconciliation_finds_paid_but_not_credited(client, stripe_config, investor, token_for, make_user, login):
    from app.payments.tasks import reconcile_payments

    deposit = db.session.get(Deposit, start(client, token_for(investor)).get_json()["data"]["id"])
    stripe_config.complete_session(deposit.gateway_reference)  # paid, but the webhook never came
    assert reconcile_payments.delay().get() == 1
    assert reconcile_payments.delay().get() == 0  # recorded once
    item = db.session.scalar(select(ReconciliationItem))
    assert item.kind == "paid_not_credited" and item.deposit_id == deposit.id
    login(make_user(role="finance"))
    page = client.get(f"/admin/reconciliation/details/?id={item.id}").get_data(as_text=True)
    client.post(f"/admin/reconciliation/{item.id}/resolve", data={"csrf_token": csrf_from(page),
                                                                   "note": "Reprocessed the webhook."})
    db.session.refresh(item)
    assert item.resolved_at is not None


def test_console_timeline_and_settings(client, stripe_config, investor, token_for, make_user, login):
    deposit = db.session.get(Deposit, start(client, token_for(investor)).get_json()["data"]["id"])
    login(make_user(role="finance"))
    html = client.get(f"/admin/deposits/details/?id={deposit.id}").get_data(as_text=True)
    assert "Timeline" in html and "checkout opened" in html
    assert client.get("/admin/gateway_settings/").status_code == 200
    assert db.session.scalar(select(GatewaySetting).where(GatewaySetting.gateway == "stripe")) is not None


def test_razorpay_deposit_gives_the_client_what_its_checkout_needs(client, investor, token_for, razorpay_config):
    response = start(client, token_for(investor), "100.00", gateway="razorpay")
    assert response.status_code == 201, response.get_data(as_text=True)
    data = response.get_json()["data"]
    assert data["checkout_data"]["order_id"].startswith("order_") and data["checkout_data"]["amount"] == 10_000
