"""RazorpayGateway against a fake Razorpay API on 127.0.0.1."""
from __future__ import annotations

import base64
import json
import socket
import time
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.datastructures import Headers

from app.payments.gateways.base import (
    FAILED,
    PAID,
    REFUNDED,
    UNPAID,
    GatewayError,
    Payment,
    WebhookRejected,
)
from app.payments.gateways.razorpay import RazorpayGateway
from tests.fakes.razorpay_api import error_body, sign

RAZORPAY_KEYS = ("RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET", "RAZORPAY_WEBHOOK_SECRET")


def create(deposit_id=7, amount=125_050, currency="USD", key=None):
    return RazorpayGateway().create_payment(
        deposit_id=deposit_id, amount=amount, currency=currency, customer_email="investor@example.com",
        success_url="https://freehold.test/deposits/ok", cancel_url="https://freehold.test/deposits/cancel",
        idempotency_key=key or f"deposit-{deposit_id}-create")


def gateway_error(call, *args, **kwargs) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        call(*args, **kwargs)
    return caught.value


def closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


# enabled --------------------------------------------------------------------------------------------------------
def test_identity():
    assert (RazorpayGateway.name, RazorpayGateway.label, RazorpayGateway.automatic) == ("razorpay", "Razorpay", True)


def test_defaults(app):
    from app.config import Config

    assert Config.RAZORPAY_API_BASE == "https://api.razorpay.com"
    assert Config.RAZORPAY_TIMEOUT_SECONDS == 10


def test_enabled_with_the_three_secrets(razorpay_config):
    assert RazorpayGateway().enabled() is True


@pytest.mark.parametrize("missing", RAZORPAY_KEYS)
def test_disabled_when_a_secret_is_missing(app, monkeypatch, razorpay_config, missing):
    monkeypatch.setitem(app.config, missing, None)
    assert RazorpayGateway().enabled() is False
    error = gateway_error(create)
    assert error.retryable is False
    assert razorpay_config.requests == []


# create ---------------------------------------------------------------------------------------------------------
def test_create_opens_an_order_for_the_widget(razorpay_config):
    fake = razorpay_config
    checkout = create(deposit_id=42, amount=125_050, currency="usd", key="idem-42")

    order = fake.orders[checkout.reference]
    assert checkout.reference.startswith("order_")
    assert checkout.redirect_url is None
    assert checkout.data == {"key_id": fake.key_id, "order_id": checkout.reference, "amount": 125_050,
                             "currency": "USD"}
    assert order["amount"] == 125_050 and order["currency"] == "USD"
    assert order["receipt"] == "deposit-42"
    assert order["notes"] == {"deposit_id": "42"}

    [post] = fake.requests_to("POST", "/v1/orders")
    assert post.json() == {"amount": 125_050, "currency": "USD", "receipt": "deposit-42",
                           "notes": {"deposit_id": "42"}}
    assert post.headers["x-razorpay-idempotency-key"] == "idem-42"
    expected_auth = base64.b64encode(f"{fake.key_id}:{fake.key_secret}".encode()).decode()
    assert post.headers["authorization"] == f"Basic {expected_auth}"
    [lookup] = fake.requests_to("GET", "/v1/orders")
    assert lookup.query["receipt"] == "deposit-42"


def test_create_is_idempotent_per_deposit(razorpay_config):
    """The same deposit twice (even under other idempotency keys) is the same order, opened once."""
    fake = razorpay_config
    first = create(deposit_id=9, key="first-try")
    second = create(deposit_id=9, key="second-try")
    assert second.reference == first.reference
    assert second.data == first.data
    assert len(fake.requests_to("POST", "/v1/orders")) == 1
    assert len(fake.orders) == 1


def test_create_reuses_only_an_exact_receipt(razorpay_config):
    """Razorpay's receipt filter matches on 'contains': deposit-12's order is not deposit 1's."""
    fake = razorpay_config
    other = fake.create_order(500, "USD", receipt="deposit-12", notes={"deposit_id": "12"})
    checkout = create(deposit_id=1, amount=500)
    assert checkout.reference != other["id"]
    assert fake.orders[checkout.reference]["receipt"] == "deposit-1"


def test_create_reuses_the_oldest_when_several_orders_exist(razorpay_config):
    fake = razorpay_config
    oldest = fake.create_order(500, "USD", receipt="deposit-5", notes={"deposit_id": "5"},
                               created_at=int(time.time()) - 60)
    fake.create_order(500, "USD", receipt="deposit-5", notes={"deposit_id": "5"})
    assert create(deposit_id=5, amount=500).reference == oldest["id"]


def test_create_refuses_an_existing_order_for_another_amount(razorpay_config):
    fake = razorpay_config
    fake.create_order(999, "USD", receipt="deposit-3", notes={"deposit_id": "3"})
    error = gateway_error(create, deposit_id=3, amount=1000)
    assert error.retryable is False
    assert fake.requests_to("POST", "/v1/orders") == []


@pytest.mark.parametrize("amount", [0, -100, 10.5, True])
def test_create_refuses_a_bad_amount(razorpay_config, amount):
    assert gateway_error(create, amount=amount).retryable is False
    assert razorpay_config.requests == []


def test_create_reports_razorpay_validation_errors(razorpay_config):
    """The fake, like Razorpay, refuses an amount under 1.00: a 4xx is not retryable."""
    error = gateway_error(create, amount=50)
    assert error.retryable is False
    assert "HTTP 400" in str(error) and "amount" in str(error)


# fetch ----------------------------------------------------------------------------------------------------------
def test_fetch_unpaid_order(razorpay_config):
    checkout = create(deposit_id=11, amount=20_000)
    payment = RazorpayGateway().fetch_payment(checkout.reference)
    assert payment.status == UNPAID
    assert (payment.reference, payment.amount, payment.currency) == (checkout.reference, 20_000, "USD")
    assert payment.deposit_id == 11
    assert payment.charge_reference is None and payment.refunded_amount == 0
    assert isinstance(payment.created_at, datetime) and payment.created_at.tzinfo is not None


def test_fetch_authorised_but_not_captured_is_unpaid(razorpay_config):
    checkout = create()
    razorpay_config.authorize(checkout.reference)
    assert RazorpayGateway().fetch_payment(checkout.reference).status == UNPAID


def test_fetch_paid_order(razorpay_config):
    fake = razorpay_config
    checkout = create(deposit_id=12, amount=30_000)
    captured = fake.capture(checkout.reference)
    payment = RazorpayGateway().fetch_payment(checkout.reference)
    assert payment.status == PAID
    assert payment.charge_reference == captured["id"]
    assert (payment.amount, payment.currency, payment.deposit_id) == (30_000, "USD", 12)
    assert payment.refunded_amount == 0
    assert payment.created_at == datetime.fromtimestamp(captured["created_at"], UTC)
    assert payment.raw["order"]["id"] == checkout.reference


def test_fetch_failed_when_every_attempt_failed(razorpay_config):
    fake = razorpay_config
    checkout = create()
    fake.fail(checkout.reference)
    fake.fail(checkout.reference)
    assert RazorpayGateway().fetch_payment(checkout.reference).status == FAILED


def test_fetch_paid_after_a_failed_attempt(razorpay_config):
    fake = razorpay_config
    checkout = create()
    fake.fail(checkout.reference, created_at=int(time.time()) - 30)
    captured = fake.capture(checkout.reference)
    payment = RazorpayGateway().fetch_payment(checkout.reference)
    assert (payment.status, payment.charge_reference) == (PAID, captured["id"])


def test_fetch_partly_and_fully_refunded(razorpay_config):
    fake = razorpay_config
    checkout = create(amount=10_000)
    captured = fake.capture(checkout.reference)
    fake.refund(captured["id"], 2_500)
    partly = RazorpayGateway().fetch_payment(checkout.reference)
    assert (partly.status, partly.refunded_amount, partly.amount) == (PAID, 2_500, 10_000)
    fake.refund(captured["id"])
    fully = RazorpayGateway().fetch_payment(checkout.reference)
    assert (fully.status, fully.refunded_amount, fully.charge_reference) == (REFUNDED, 10_000, captured["id"])


def test_fetch_order_without_notes_has_no_deposit(razorpay_config):
    order = razorpay_config.create_order(700, "USD", receipt="elsewhere")
    assert RazorpayGateway().fetch_payment(order["id"]).deposit_id is None


@pytest.mark.parametrize("reference", ["", "pay_abc", "order_../../v1/payments", "order_x?skip=1", None])
def test_fetch_refuses_a_reference_that_is_not_an_order_id(razorpay_config, reference):
    assert gateway_error(RazorpayGateway().fetch_payment, reference).retryable is False
    assert razorpay_config.requests == []


def test_fetch_unknown_order(razorpay_config):
    error = gateway_error(RazorpayGateway().fetch_payment, "order_Unknown0000000")
    assert error.retryable is False
    assert "does not exist" in str(error)


# refund ---------------------------------------------------------------------------------------------------------
def paid_payment(fake, amount=10_000, deposit_id=21) -> Payment:
    checkout = create(deposit_id=deposit_id, amount=amount)
    fake.capture(checkout.reference)
    return RazorpayGateway().fetch_payment(checkout.reference)


def test_refund(razorpay_config):
    fake = razorpay_config
    payment = paid_payment(fake)
    refund_id = RazorpayGateway().refund(payment, 4_000, idempotency_key="refund-21-1")
    assert refund_id.startswith("rfnd_")
    assert fake.refunds[refund_id]["amount"] == 4_000
    [post] = fake.requests_to("POST", f"/v1/payments/{payment.charge_reference}/refund")
    assert post.json()["amount"] == 4_000
    assert post.headers["x-razorpay-idempotency-key"] == "refund-21-1"
    after = RazorpayGateway().fetch_payment(payment.reference)
    assert (after.status, after.refunded_amount) == (PAID, 4_000)


def test_refund_twice_with_one_key_refunds_once(razorpay_config):
    fake = razorpay_config
    payment = paid_payment(fake)
    first = RazorpayGateway().refund(payment, 10_000, idempotency_key="refund-21-full")
    second = RazorpayGateway().refund(payment, 10_000, idempotency_key="refund-21-full")
    assert first == second
    assert len(fake.refunds) == 1
    assert RazorpayGateway().fetch_payment(payment.reference).status == REFUNDED


def test_refund_with_a_long_key_fits_the_receipt(razorpay_config):
    fake = razorpay_config
    payment = paid_payment(fake)
    key = "refund:" + "x" * 80
    first = RazorpayGateway().refund(payment, 1_000, idempotency_key=key)
    assert len(fake.refunds[first]["receipt"]) <= 40
    assert RazorpayGateway().refund(payment, 1_000, idempotency_key=key) == first


def test_refund_without_a_payment_id(razorpay_config):
    unpaid = RazorpayGateway().fetch_payment(create().reference)
    assert gateway_error(RazorpayGateway().refund, unpaid, 100, idempotency_key="k").retryable is False


def test_refund_more_than_paid_is_refused(razorpay_config):
    payment = paid_payment(razorpay_config)
    error = gateway_error(RazorpayGateway().refund, payment, 10_001, idempotency_key="too-much")
    assert error.retryable is False
    assert "greater than amount captured" in str(error)


# webhooks -------------------------------------------------------------------------------------------------------
def test_webhook_payment_captured(razorpay_config):
    fake = razorpay_config
    checkout = create()
    captured = fake.capture(checkout.reference)
    body, headers = fake.webhook("payment.captured", payment_id=captured["id"], event_id="EvtCaptured0001")
    event = RazorpayGateway().parse_webhook(body, headers)
    # kept once by what is signed (account, event, entity), not by the unsigned header
    assert event.event_id == f"{fake_account_id(body)}:payment.captured:payment={captured['id']}"
    assert event.type == "payment.captured"
    assert event.reference == checkout.reference
    assert event.payload["payload"]["payment"]["entity"]["id"] == captured["id"]


def test_webhook_references(razorpay_config):
    fake = razorpay_config
    checkout = create()
    failed = fake.fail(checkout.reference)
    captured = fake.capture(checkout.reference)
    refund = fake.refund(captured["id"])
    gateway = RazorpayGateway()
    for kwargs in ({"event_type": "payment.failed", "payment_id": failed["id"]},
                   {"event_type": "order.paid", "payment_id": captured["id"], "order_id": checkout.reference},
                   {"event_type": "order.paid", "order_id": checkout.reference},
                   {"event_type": "refund.processed", "refund_id": refund["id"]}):
        body, headers = fake.webhook(**kwargs)
        event = gateway.parse_webhook(body, headers)
        assert (event.type, event.reference) == (kwargs["event_type"], checkout.reference)


def test_webhook_headers_in_any_case(razorpay_config):
    fake = razorpay_config
    checkout = create()
    body, headers = fake.webhook("order.paid", order_id=checkout.reference, event_id="EvtCase")
    lower = {k.lower(): v for k, v in headers.items()}
    expected = RazorpayGateway().parse_webhook(body, headers).event_id
    assert RazorpayGateway().parse_webhook(body, lower).event_id == expected
    assert RazorpayGateway().parse_webhook(body, Headers(headers)).event_id == expected


def fake_account_id(body: bytes) -> str:
    return json.loads(body)["account_id"]


def webhook_rejected(body, headers) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as caught:
        RazorpayGateway().parse_webhook(body, headers)
    return caught.value


def test_webhook_forged(razorpay_config):
    fake = razorpay_config
    body, headers = fake.webhook("order.paid", order_id=create().reference, secret="not-the-secret")
    webhook_rejected(body, headers)


def test_webhook_tampered_body(razorpay_config):
    fake = razorpay_config
    body, headers = fake.webhook("order.paid", order_id=create().reference)
    webhook_rejected(body.replace(b"order.paid", b"order.paad"), headers)


def test_webhook_re_serialised_body(razorpay_config):
    """The signature is over the raw bytes: the same JSON written differently does not verify."""
    fake = razorpay_config
    body, headers = fake.webhook("order.paid", order_id=create().reference)
    webhook_rejected(json.dumps(json.loads(body), indent=2).encode(), headers)


@pytest.mark.parametrize("header", ["X-Razorpay-Signature", "X-Razorpay-Event-Id"])
def test_webhook_missing_header(razorpay_config, header):
    fake = razorpay_config
    body, headers = fake.webhook("order.paid", order_id=create().reference)
    del headers[header]
    webhook_rejected(body, headers)


def test_webhook_blank_event_id(razorpay_config):
    body, headers = razorpay_config.webhook("order.paid", order_id=create().reference, event_id="  ")
    webhook_rejected(body, headers)


@pytest.mark.parametrize("offset, accepted", [
    (6 * 60, False),  # more than 5 minutes in the future
    (4 * 60, True),
    (-(2 * 86400 + 23 * 3600), True),
    (-(3 * 86400 + 60), False),  # more than 3 days old
])
def test_webhook_time_window(razorpay_config, offset, accepted):
    fake = razorpay_config
    body, headers = fake.webhook("order.paid", order_id=create().reference, created_at=int(time.time()) + offset)
    if accepted:
        assert RazorpayGateway().parse_webhook(body, headers).type == "order.paid"
    else:
        webhook_rejected(body, headers)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"event": "order.paid", "payload": {}}',
                                  b'{"event": "order.paid", "created_at": "soon", "payload": {}}',
                                  b'{"created_at": 1, "payload": {}}'])
def test_webhook_signed_but_unusable(razorpay_config, body):
    headers = {"X-Razorpay-Signature": sign(body, razorpay_config.webhook_secret), "X-Razorpay-Event-Id": "E1"}
    webhook_rejected(body, headers)


def test_webhook_without_a_secret_is_rejected(app, monkeypatch, razorpay_config):
    body, headers = razorpay_config.webhook("order.paid", order_id=create().reference)
    monkeypatch.setitem(app.config, "RAZORPAY_WEBHOOK_SECRET", None)
    webhook_rejected(body, headers)


# list_paid ------------------------------------------------------------------------------------------------------
def test_list_paid_pages_through_captured_payments(razorpay_config):
    fake = razorpay_config
    now = int(time.time())
    since = datetime.fromtimestamp(now - 3600, UTC)
    captured = {}
    for index in range(1, 231):
        order = fake.create_order(1_000 + index, "USD", receipt=f"deposit-{index}",
                                  notes={"deposit_id": str(index)}, created_at=now - 1800)
        captured[fake.capture(order["id"], created_at=now - 1000 + index)["id"]] = (order["id"], index)
    noise = fake.create_order(5_000, "USD", receipt="deposit-999", notes={"deposit_id": "999"})
    fake.fail(noise["id"])
    fake.authorize(noise["id"])
    before = fake.create_order(5_000, "USD", receipt="deposit-998", notes={"deposit_id": "998"})
    fake.capture(before["id"], created_at=now - 7200)
    foreign = fake.create_order(5_000, "USD", receipt="invoice-1")
    fake.capture(foreign["id"])

    paid = RazorpayGateway().list_paid(since)

    assert sorted(p.charge_reference for p in paid) == sorted(captured)
    for payment in paid:
        order_id, index = captured[payment.charge_reference]
        assert (payment.reference, payment.deposit_id, payment.status) == (order_id, index, PAID)
        assert (payment.amount, payment.currency) == (1_000 + index, "USD")
    pages = fake.requests_to("GET", "/v1/payments")
    assert [r.query["skip"] for r in pages] == ["0", "100", "200"]
    assert {r.query["count"] for r in pages} == {"100"}
    assert {r.query["from"] for r in pages} == {str(now - 3600)}


def test_list_paid_reports_refunds(razorpay_config):
    fake = razorpay_config
    checkout = create(amount=10_000)
    payment = fake.capture(checkout.reference)
    fake.refund(payment["id"])
    [listed] = RazorpayGateway().list_paid(datetime.now(UTC) - timedelta(hours=1))
    assert (listed.status, listed.refunded_amount) == (REFUNDED, 10_000)


def test_list_paid_accepts_naive_utc(razorpay_config):
    fake = razorpay_config
    fake.capture(create().reference)
    naive = (datetime.now(UTC) - timedelta(minutes=5)).replace(tzinfo=None)
    assert len(RazorpayGateway().list_paid(naive)) == 1


# errors ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status, retryable", [(500, True), (502, True), (503, True), (429, True),
                                               (400, False), (404, False), (409, False)])
def test_http_errors(razorpay_config, status, retryable):
    razorpay_config.fail_next(status)
    error = gateway_error(RazorpayGateway().fetch_payment, "order_Abc123")
    assert error.retryable is retryable
    assert f"HTTP {status}" in str(error)


def test_wrong_credentials(app, monkeypatch, razorpay_config):
    monkeypatch.setitem(app.config, "RAZORPAY_KEY_SECRET", "wrong-secret-value-123")
    error = gateway_error(create)
    assert error.retryable is False
    assert "credentials" in str(error)
    assert "wrong-secret-value-123" not in str(error)


def test_timeout_is_retryable(app, monkeypatch, razorpay_config):
    monkeypatch.setitem(app.config, "RAZORPAY_TIMEOUT_SECONDS", 0.3)
    razorpay_config.fail_next(200, {"id": "order_Late"}, delay=2)
    error = gateway_error(create)
    assert error.retryable is True
    assert "in time" in str(error)


def test_connection_refused_is_retryable(app, monkeypatch, razorpay_config):
    monkeypatch.setitem(app.config, "RAZORPAY_API_BASE", closed_port_url())
    assert gateway_error(create).retryable is True


def test_unusable_api_base_is_not_retryable(app, monkeypatch, razorpay_config):
    monkeypatch.setitem(app.config, "RAZORPAY_API_BASE", "api.razorpay.com")
    assert gateway_error(create).retryable is False


def test_unreadable_answer_is_retryable(razorpay_config):
    razorpay_config.fail_next(200, "<html>maintenance</html>")
    assert gateway_error(RazorpayGateway().fetch_payment, "order_Abc123").retryable is True


def test_secrets_never_in_error_messages(app, razorpay_config):
    fake = razorpay_config
    basic = base64.b64encode(f"{fake.key_id}:{fake.key_secret}".encode()).decode()
    for status in (400, 500):
        fake.fail_next(status, error_body(f"echo {fake.key_secret} {fake.webhook_secret} Basic {basic}"))
        error = gateway_error(RazorpayGateway().fetch_payment, "order_Abc123")
        message = str(error) + repr(error.args)
        assert fake.key_secret not in message
        assert fake.webhook_secret not in message
        assert basic not in message
        assert "[redacted]" in message


# through the deposit flow ---------------------------------------------------------------------------------------
def test_razorpay_deposit_is_credited_once_through_webhooks(client, razorpay_config, make_user, token_for):
    from app.extensions import db
    from app.ledger import services as ledger
    from app.ledger.checks import verify
    from app.ledger.models import USER_WALLET
    from app.payments.models import Deposit

    fake = razorpay_config
    investor = make_user()
    response = client.post("/api/v1/deposits", json={"amount": "100.00", "gateway": "razorpay"},
                           headers=token_for(investor))
    assert response.status_code == 201, response.get_data(as_text=True)
    deposit = db.session.get(Deposit, response.get_json()["data"]["id"])
    order = fake.orders[deposit.gateway_reference]
    assert order["notes"] == {"deposit_id": str(deposit.id)} and order["amount"] == deposit.amount + deposit.fee

    captured = fake.capture(order["id"])
    body, headers = fake.webhook("payment.captured", payment_id=captured["id"], event_id="EvtFlow0001")
    first = client.post("/webhooks/razorpay", data=body, headers=headers)
    assert first.status_code == 200 and first.get_json()["data"]["duplicate"] is False
    again = client.post("/webhooks/razorpay", data=body, headers=headers)
    assert again.get_json()["data"]["duplicate"] is True
    body, headers = fake.webhook("order.paid", payment_id=captured["id"], order_id=order["id"])
    assert client.post("/webhooks/razorpay", data=body, headers=headers).status_code == 200
    forged, forged_headers = fake.webhook("order.paid", order_id=order["id"], secret="guess")
    assert client.post("/webhooks/razorpay", data=forged, headers=forged_headers).status_code == 400

    db.session.expire_all()
    deposit = db.session.get(Deposit, deposit.id)
    assert deposit.status == "succeeded"
    assert deposit.charge_reference == captured["id"]
    assert ledger.user_account(investor.id, USER_WALLET).balance == 10_000
    report = verify()
    assert report.ok, report.violations


def test_razorpay_deposit_refunded_by_finance(client, razorpay_config, make_user, token_for):
    from app.extensions import db
    from app.payments import services as payments
    from app.payments.models import Deposit

    fake = razorpay_config
    response = client.post("/api/v1/deposits", json={"amount": "80.00", "gateway": "razorpay"},
                           headers=token_for(make_user()))
    deposit = db.session.get(Deposit, response.get_json()["data"]["id"])
    captured = fake.capture(deposit.gateway_reference)
    body, headers = fake.webhook("payment.captured", payment_id=captured["id"])
    assert client.post("/webhooks/razorpay", data=body, headers=headers).status_code == 200
    db.session.expire_all()
    deposit = db.session.get(Deposit, deposit.id)
    assert deposit.status == "succeeded"

    payments.refund(deposit, None, actor=make_user(role="finance"), reason="Investor asked.")
    db.session.commit()
    [refund] = fake.refunds.values()
    assert (refund["payment_id"], refund["amount"]) == (captured["id"], 8_000)
    assert fake.payments[captured["id"]]["status"] == "refunded"
    assert db.session.get(Deposit, deposit.id).status == "refunded"
