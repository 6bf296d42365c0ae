"""PayPal deposits end to end against the PayPal fake over HTTP: the server captures once and credits once whether the
investor's return or the approval event comes first, duplicated and out-of-order events, forged and mismatched
payments never credited, a denied capture, refunds from the console, a reversal of money already spent, daily
reconciliation, the portal and API faces, and PayPal switched off. The ledger verifies after each test."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core.db import unit_of_work, utcnow
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import FEE_REVENUE, USER_WALLET
from app.payments import services as payments
from app.payments.models import Deposit, Receivable, ReconciliationItem, WebhookInbox
from tests.support import csrf_from


def start(client, headers, amount="100.00"):
    return client.post("/api/v1/deposits", json={"amount": amount, "gateway": "paypal"}, headers=headers)


def begin(client, investor, token_for, amount="100.00") -> Deposit:
    response = start(client, token_for(investor), amount)
    assert response.status_code == 201, response.get_data(as_text=True)
    return db.session.get(Deposit, response.get_json()["data"]["id"])


def deliver(client, fake, event_type, thing_id=None, **kwargs):
    body, headers = fake.webhook(event_type, thing_id, **kwargs)
    return client.post("/webhooks/paypal", data=body, headers=headers)


def come_back(client, deposit):
    """The investor (signed in) comes back from PayPal, which adds the order id and the payer id."""
    return client.get(f"/deposits/{deposit.id}/return?token={deposit.gateway_reference}&PayerID=PAYER123")


def wallet(user):
    db.session.expire_all()
    return ledger.user_account(user.id, USER_WALLET).balance


def captures_of(fake, order_id):
    return fake.requests_to("POST", f"/v2/checkout/orders/{order_id}/capture")


def status(deposit) -> str:
    db.session.expire_all()
    return db.session.get(Deposit, deposit.id).status


# the API and the portal ------------------------------------------------------------------------------------------
def test_the_api_answers_the_approval_link(client, paypal_config, investor, token_for):
    response = start(client, token_for(investor))
    assert response.status_code == 201
    data = response.get_json()["data"]
    deposit = db.session.get(Deposit, data["id"])
    assert data["gateway"] == "paypal" and data["status"] == "pending"
    assert data["checkout_url"] == f"https://www.sandbox.paypal.com/checkoutnow?token={deposit.gateway_reference}"
    order = paypal_config.orders[deposit.gateway_reference]
    unit = order["purchase_units"][0]
    assert unit["custom_id"] == str(deposit.id) and unit["amount"] == {"currency_code": "USD", "value": "100.00"}
    assert order["experience_context"]["return_url"] == f"http://localhost/deposits/{deposit.id}/return"


def test_the_deposit_page_offers_paypal_and_sends_the_investor_to_approve(client, paypal_config, investor, login):
    login(investor)
    page = client.get("/deposits/new").get_data(as_text=True)
    assert 'value="paypal"' in page
    form = {"csrf_token": csrf_from(page), "amount": "50.00", "gateway": "paypal"}
    quote = client.post("/deposits/new", data=form)
    assert quote.status_code == 200
    answer = client.post("/deposits/new", data={**form, "confirm": "yes"})
    assert answer.status_code == 302
    deposit = db.session.scalar(select(Deposit))
    assert answer.headers["Location"] == f"https://www.sandbox.paypal.com/checkoutnow?token={deposit.gateway_reference}"


def test_off_without_its_environment(app, client, monkeypatch, investor, token_for, login):
    for key in ("PAYPAL_CLIENT_ID", "PAYPAL_CLIENT_SECRET", "PAYPAL_WEBHOOK_ID"):
        monkeypatch.setitem(app.config, key, None)
    response = start(client, token_for(investor))
    assert response.status_code == 422 and response.get_json()["status"] == "error"
    login(investor)
    assert 'value="paypal"' not in client.get("/deposits/new").get_data(as_text=True)
    assert client.post("/webhooks/paypal", data=b"{}").status_code == 404
    assert db.session.scalar(select(func.count(Deposit.id))) == 0


def test_off_when_finance_switches_it_off(client, paypal_config, investor, token_for, login, finance):
    with unit_of_work():
        payments.update_gateway_settings(payments.gateway_row("paypal"), actor=finance, enabled=False,
                                         instructions="")
    assert start(client, token_for(investor)).status_code == 422
    login(investor)
    assert 'value="paypal"' not in client.get("/deposits/new").get_data(as_text=True)


# capture once, credit once ---------------------------------------------------------------------------------------
def test_approve_then_return_captures_and_credits_once(client, paypal_config, investor, token_for, login):
    fake = paypal_config
    deposit = begin(client, investor, token_for)
    login(investor)
    assert come_back(client, deposit).status_code == 302  # not approved yet: nothing happens
    assert status(deposit) == "pending" and captures_of(fake, deposit.gateway_reference) == []

    fake.approve(deposit.gateway_reference)
    response = come_back(client, deposit)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/deposits/{deposit.id}")
    assert status(deposit) == "succeeded" and wallet(investor) == 10_000
    [capture] = fake.captures.values()
    assert db.session.get(Deposit, deposit.id).charge_reference == capture["id"]

    come_back(client, deposit)  # back again, and the events after it: nothing more
    assert deliver(client, fake, "CHECKOUT.ORDER.APPROVED", deposit.gateway_reference).status_code == 200
    assert deliver(client, fake, "PAYMENT.CAPTURE.COMPLETED", capture["id"]).status_code == 200
    assert wallet(investor) == 10_000 and len(captures_of(fake, deposit.gateway_reference)) == 1


def test_paypal_unavailable_on_return_leaves_the_deposit_for_the_webhook(client, paypal_config, investor, token_for,
                                                                       login):
    fake = paypal_config
    deposit = begin(client, investor, token_for)
    fake.approve(deposit.gateway_reference)
    fake.fail_next(503, path=f"/v2/checkout/orders/{deposit.gateway_reference}/capture")
    login(investor)
    response = come_back(client, deposit)
    assert response.status_code == 302 and status(deposit) == "pending"
    deliver(client, fake, "CHECKOUT.ORDER.APPROVED", deposit.gateway_reference)
    assert status(deposit) == "succeeded" and wallet(investor) == 10_000 and len(fake.captures) == 1


def test_the_return_never_credits_from_what_the_browser_says(client, paypal_config, investor, token_for, login,
                                                              make_user):
    fake = paypal_config
    mine = begin(client, investor, token_for, "500.00")
    other = make_user()
    theirs = begin(client, other, token_for, "10.00")
    fake.approve(theirs.gateway_reference)
    login(investor)
    client.get(f"/deposits/{mine.id}/return?token={theirs.gateway_reference}&PayerID=X")  # their order on mine
    client.get(f"/deposits/{mine.id}/return?session_id={theirs.gateway_reference}")
    assert client.get(f"/deposits/{theirs.id}/return?token={theirs.gateway_reference}").status_code == 404
    assert status(mine) == "pending" and status(theirs) == "pending"
    assert wallet(investor) == 0 and fake.captures == {}


def test_the_approval_event_first_then_the_return(client, paypal_config, investor, token_for, login):
    fake = paypal_config
    deposit = begin(client, investor, token_for)
    fake.approve(deposit.gateway_reference)
    assert deliver(client, fake, "CHECKOUT.ORDER.APPROVED", deposit.gateway_reference).status_code == 200
    assert status(deposit) == "succeeded" and wallet(investor) == 10_000
    login(investor)
    come_back(client, deposit)
    assert wallet(investor) == 10_000 and len(captures_of(fake, deposit.gateway_reference)) == 1
    [row] = db.session.scalars(select(WebhookInbox)).all()
    assert (row.status, row.deposit_id, row.reference) == ("processed", deposit.id, deposit.gateway_reference)


def test_capture_completed_before_order_approved(client, paypal_config, investor, token_for):
    """A capture this platform asked for whose answer was lost: its event comes before the approval's."""
    fake = paypal_config
    deposit = begin(client, investor, token_for)
    fake.approve(deposit.gateway_reference)
    capture = fake.capture(deposit.gateway_reference)
    assert deliver(client, fake, "PAYMENT.CAPTURE.COMPLETED", capture["id"]).status_code == 200
    assert status(deposit) == "succeeded" and wallet(investor) == 10_000
    approved = {**fake.event("CHECKOUT.ORDER.APPROVED", deposit.gateway_reference)}
    approved["resource"]["status"] = "APPROVED"  # the event as it was when the order was approved
    assert deliver(client, fake, approved).status_code == 200
    assert wallet(investor) == 10_000 and captures_of(fake, deposit.gateway_reference) == []


def test_every_event_twice_credits_and_refunds_once(client, paypal_config, investor, token_for):
    fake = paypal_config
    deposit = begin(client, investor, token_for)
    fake.approve(deposit.gateway_reference)
    approved = fake.event("CHECKOUT.ORDER.APPROVED", deposit.gateway_reference)
    for attempt in range(2):
        response = deliver(client, fake, approved)
        assert response.get_json()["data"]["duplicate"] is (attempt == 1)
    [capture] = fake.captures.values()
    completed = fake.event("PAYMENT.CAPTURE.COMPLETED", capture["id"])
    for _ in range(2):
        deliver(client, fake, completed)
    refund = fake.refund(capture["id"], 2_500)
    refunded = fake.event("PAYMENT.CAPTURE.REFUNDED", refund["id"])
    for _ in range(2):
        deliver(client, fake, refunded)
    assert db.session.scalar(select(func.count(WebhookInbox.id))) == 3
    db.session.expire_all()
    deposit = db.session.get(Deposit, deposit.id)
    assert (deposit.status, deposit.refunded_amount) == ("succeeded", 2_500)
    assert wallet(investor) == 7_500 and len(captures_of(fake, deposit.gateway_reference)) == 1


@pytest.mark.postgres
def test_the_return_and_the_approval_event_at_once_capture_and_credit_once(app, postgres, client, paypal_config,
                                                                          investor, token_for):
    from app.auth.models import User
    from tests.concurrency import run_threads

    fake = paypal_config
    deposit = begin(client, investor, token_for)
    fake.approve(deposit.gateway_reference)
    body, headers = fake.webhook("CHECKOUT.ORDER.APPROVED", deposit.gateway_reference)
    deposit_id, user_id, order_id = deposit.id, investor.id, deposit.gateway_reference
    db.session.commit()

    def work(index):
        if index % 2:
            return app.test_client().post("/webhooks/paypal", data=body, headers=headers).status_code
        with unit_of_work():
            payments.confirm_redirect(db.session.get(Deposit, deposit_id), db.session.get(User, user_id), order_id)
        return "returned"

    results = run_threads(app, 4, work)
    assert sorted(map(str, results)) == ["200", "200", "returned", "returned"], results
    assert status(deposit) == "succeeded" and wallet(investor) == 10_000
    assert len(captures_of(fake, order_id)) == 1 and len(fake.captures) == 1


# never credited ----------------------------------------------------------------------------------------------------
def test_a_forged_event_is_400_stores_nothing_and_credits_nothing(client, paypal_config, investor, token_for):
    fake = paypal_config
    deposit = begin(client, investor, token_for)
    fake.approve(deposit.gateway_reference)
    body, headers = fake.webhook("CHECKOUT.ORDER.APPROVED", deposit.gateway_reference)
    headers["PAYPAL-TRANSMISSION-SIG"] = "Zm9yZ2VkIHNpZ25hdHVyZQ=="
    response = client.post("/webhooks/paypal", data=body, headers=headers)
    assert response.status_code == 400 and response.get_json()["status"] == "error"
    made_up = dict(headers, **{"PAYPAL-TRANSMISSION-ID": "0000-made-up"})
    assert client.post("/webhooks/paypal", data=body, headers=made_up).status_code == 400
    assert client.post("/webhooks/paypal", data=body).status_code == 400
    assert db.session.scalar(select(func.count(WebhookInbox.id))) == 0
    assert status(deposit) == "pending" and wallet(investor) == 0 and fake.captures == {}


@pytest.mark.parametrize("amount, currency", [(5_000, None), (None, "EUR")])
def test_a_capture_of_another_amount_or_currency_is_flagged_never_credited(client, paypal_config, investor,
                                                                           token_for, login, amount, currency):
    fake = paypal_config
    deposit = begin(client, investor, token_for)
    fake.approve(deposit.gateway_reference, amount=amount, currency=currency)
    deliver(client, fake, "CHECKOUT.ORDER.APPROVED", deposit.gateway_reference)
    login(investor)
    come_back(client, deposit)
    [capture] = fake.captures.values()
    deliver(client, fake, "PAYMENT.CAPTURE.COMPLETED", capture["id"])
    db.session.expire_all()
    deposit = db.session.get(Deposit, deposit.id)
    assert deposit.status == "pending" and deposit.ledger_entry_id is None and wallet(investor) == 0
    assert "instead of" in deposit.attention_reason


def test_a_denied_capture_fails_the_deposit(client, paypal_config, investor, token_for):
    fake = paypal_config
    deposit = begin(client, investor, token_for)
    fake.approve(deposit.gateway_reference, capture_status="PENDING")
    deliver(client, fake, "CHECKOUT.ORDER.APPROVED", deposit.gateway_reference)
    assert status(deposit) == "pending" and wallet(investor) == 0
    [capture] = fake.captures.values()
    fake.deny(capture["id"])
    deliver(client, fake, "PAYMENT.CAPTURE.DENIED", capture["id"])
    assert status(deposit) == "failed" and wallet(investor) == 0


def test_a_pending_capture_credits_when_it_completes(client, paypal_config, investor, token_for):
    fake = paypal_config
    deposit = begin(client, investor, token_for)
    fake.approve(deposit.gateway_reference, capture_status="PENDING")
    deliver(client, fake, "CHECKOUT.ORDER.APPROVED", deposit.gateway_reference)
    [capture] = fake.captures.values()
    fake.complete(capture["id"])
    deliver(client, fake, "PAYMENT.CAPTURE.COMPLETED", capture["id"])
    assert status(deposit) == "succeeded" and wallet(investor) == 10_000


# money going back --------------------------------------------------------------------------------------------------
def paid_deposit(client, fake, investor, token_for, amount="100.00") -> Deposit:
    deposit = begin(client, investor, token_for, amount)
    fake.approve(deposit.gateway_reference)
    deliver(client, fake, "CHECKOUT.ORDER.APPROVED", deposit.gateway_reference)
    assert status(deposit) == "succeeded"
    return db.session.get(Deposit, deposit.id)


def test_finance_refunds_from_the_console(app, client, paypal_config, investor, token_for, login, finance):
    fake = paypal_config
    deposit = paid_deposit(client, fake, investor, token_for)
    console = app.test_client()
    assert login(finance, http=console).status_code == 302
    page = console.get(f"/admin/deposits/details/?id={deposit.id}").get_data(as_text=True)
    response = console.post(f"/admin/deposits/{deposit.id}/refund", follow_redirects=True,
                            data={"csrf_token": csrf_from(page), "amount": "30.00", "reason": "Investor asked."})
    assert response.status_code == 200 and "Refunded." in response.get_data(as_text=True)
    [refund] = fake.refunds.values()
    assert refund["capture_id"] == deposit.charge_reference and refund["amount"]["value"] == "30.00"
    [post] = fake.requests_to("POST", f"/v2/payments/captures/{deposit.charge_reference}/refund")
    assert post.headers["paypal-request-id"] == f"freehold-refund-{deposit.id}-3000"
    deliver(client, fake, "PAYMENT.CAPTURE.REFUNDED", refund["id"])  # PayPal's event after it: nothing more
    db.session.expire_all()
    deposit = db.session.get(Deposit, deposit.id)
    assert (deposit.status, deposit.refunded_amount) == ("succeeded", 3_000) and wallet(investor) == 7_000

    page = console.get(f"/admin/deposits/details/?id={deposit.id}").get_data(as_text=True)
    console.post(f"/admin/deposits/{deposit.id}/refund", data={"csrf_token": csrf_from(page), "amount": "",
                                                               "reason": "The rest too."})
    assert status(deposit) == "refunded" and wallet(investor) == 0
    assert len(fake.refunds) == 2


def test_a_reversal_of_money_already_spent_becomes_a_receivable(client, paypal_config, investor, token_for):
    fake = paypal_config
    deposit = paid_deposit(client, fake, investor, token_for)
    ledger.post([(ledger.user_account(investor.id, USER_WALLET), -7_000), (ledger.platform_account(FEE_REVENUE),
                                                                          7_000)], key="spent", kind="test")
    db.session.commit()
    reversal = fake.reverse(deposit.charge_reference)
    for _ in range(2):
        assert deliver(client, fake, "PAYMENT.CAPTURE.REVERSED", resource=reversal).status_code == 200
    db.session.expire_all()
    deposit = db.session.get(Deposit, deposit.id)
    assert (deposit.status, deposit.refunded_amount) == ("refunded", 10_000)
    assert wallet(investor) == 0
    [receivable] = db.session.scalars(select(Receivable)).all()
    assert receivable.amount == 7_000 and deposit.attention_reason


# reconciliation and disputes ---------------------------------------------------------------------------------------
def test_reconciliation_finds_a_capture_never_credited(client, paypal_config, investor, token_for, monkeypatch):
    from app.payments.gateways import paypal

    fake = paypal_config
    credited = paid_deposit(client, fake, investor, token_for)
    lost = begin(client, investor, token_for, "40.00")
    fake.approve(lost.gateway_reference)
    fake.capture(lost.gateway_reference)  # paid at PayPal; its events never arrived
    monkeypatch.setattr(paypal, "MAX_REPORT_DAYS", 2)  # several windows for the three days
    with unit_of_work():
        assert payments.reconcile() == 1
    [item] = db.session.scalars(select(ReconciliationItem)).all()
    assert (item.provider, item.kind, item.reference, item.deposit_id) == ("paypal", "paid_not_credited",
                                                                          lost.gateway_reference, lost.id)
    assert item.gateway_amount == 4_000
    with unit_of_work():
        assert payments.reconcile() == 0  # recorded once
    assert credited.status == "succeeded"


def test_reconciliation_finds_a_credit_paypal_does_not_list(client, paypal_config, investor, token_for):
    fake = paypal_config
    deposit = paid_deposit(client, fake, investor, token_for)
    fake.captures.clear()  # PayPal's report no longer lists it
    with unit_of_work():
        assert payments.reconcile() == 1
    item = db.session.scalar(select(ReconciliationItem))
    assert (item.kind, item.deposit_id) == ("credited_not_paid", deposit.id)


def test_an_old_capture_is_outside_the_window(client, paypal_config, investor, token_for):
    fake = paypal_config
    deposit = begin(client, investor, token_for)
    fake.approve(deposit.gateway_reference)
    capture = fake.capture(deposit.gateway_reference)
    capture["create_time"] = (utcnow() - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with unit_of_work():
        assert payments.reconcile() == 0
