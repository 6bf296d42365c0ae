"""PayPalGateway against a fake PayPal API on 127.0.0.1: the token, orders, the server's one capture, refunds,
webhook verification by PayPal, the transactions report, errors and the configuration check."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from app.config_problems import paypal_problems
from app.payments.gateways.base import FAILED, PAID, REFUNDED, UNPAID, GatewayError, Payment, WebhookRejected
from app.payments.gateways.paypal import PayPalGateway, capture_request_id, webhook_reference

PAYPAL_KEYS = ("PAYPAL_CLIENT_ID", "PAYPAL_CLIENT_SECRET", "PAYPAL_WEBHOOK_ID")


def create(deposit_id=7, amount=125_050, currency="USD", key=None):
    return PayPalGateway().create_payment(
        deposit_id=deposit_id, amount=amount, currency=currency, customer_email="investor@example.com",
        success_url=f"https://freehold.test/deposits/{deposit_id}/return?session_id={{CHECKOUT_SESSION_ID}}",
        cancel_url=f"https://freehold.test/deposits/{deposit_id}", idempotency_key=key or f"freehold-deposit-{deposit_id}")


def gateway_error(call, *args, **kwargs) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        call(*args, **kwargs)
    return caught.value


def paid(fake, deposit_id=21, amount=10_000) -> Payment:
    checkout = create(deposit_id=deposit_id, amount=amount)
    fake.approve(checkout.reference)
    return PayPalGateway().fetch_payment(checkout.reference)


# configuration ----------------------------------------------------------------------------------------------------
def test_identity_and_defaults(app):
    from app.config import Config

    assert (PayPalGateway.name, PayPalGateway.label, PayPalGateway.automatic) == ("paypal", "PayPal", True)
    assert Config.PAYPAL_API_BASE == "https://api-m.paypal.com" and Config.PAYPAL_TIMEOUT_SECONDS == 10


@pytest.mark.parametrize("missing", PAYPAL_KEYS)
def test_off_unless_the_three_values_are_set(app, monkeypatch, paypal_config, missing):
    assert PayPalGateway().enabled() is True
    monkeypatch.setitem(app.config, missing, None)
    assert PayPalGateway().enabled() is False
    assert gateway_error(create).retryable is False
    assert paypal_config.requests == []


def test_a_partial_configuration_is_a_production_problem():
    assert paypal_problems({}) == []
    full = {"PAYPAL_CLIENT_ID": "id", "PAYPAL_CLIENT_SECRET": "secret", "PAYPAL_WEBHOOK_ID": "WH1",
            "PAYPAL_API_BASE": "https://api-m.paypal.com"}
    assert paypal_problems(full) == []
    problems = paypal_problems({**full, "PAYPAL_WEBHOOK_ID": None})
    assert [(p.variable, p.error) for p in problems] == [("PAYPAL_WEBHOOK_ID", True)]
    problems = paypal_problems({**full, "PAYPAL_API_BASE": "http://api-m.paypal.com"})
    assert [(p.variable, p.error) for p in problems] == [("PAYPAL_API_BASE", True)]
    problems = paypal_problems({**full, "PAYPAL_API_BASE": "https://api-m.sandbox.paypal.com"})
    assert [(p.variable, p.error) for p in problems] == [("PAYPAL_API_BASE", False)]


# the token ----------------------------------------------------------------------------------------------------------
def test_the_token_is_asked_once_with_basic_auth_and_reused(paypal_config):
    fake = paypal_config
    create(deposit_id=1)
    create(deposit_id=2)
    [token] = fake.requests_to("POST", "/v1/oauth2/token")
    assert token.headers["authorization"].startswith("Basic ")
    assert token.body == b"grant_type=client_credentials"
    orders = fake.requests_to("POST", "/v2/checkout/orders")
    assert len(orders) == 2 and all(r.headers["authorization"].startswith("Bearer A21AA") for r in orders)


def test_a_401_renews_the_token_once(paypal_config):
    fake = paypal_config
    create(deposit_id=1)
    fake.expire_tokens()  # PayPal no longer accepts the cached token
    checkout = create(deposit_id=2)
    assert checkout.reference in fake.orders
    assert len(fake.requests_to("POST", "/v1/oauth2/token")) == 2
    assert len(fake.requests_to("POST", "/v2/checkout/orders")) == 3  # refused once, then made


def test_a_token_about_to_expire_is_renewed(paypal_config):
    fake = paypal_config
    fake.token_lifetime = 60  # inside the renewal margin: never reused
    create(deposit_id=1)
    create(deposit_id=2)
    assert len(fake.requests_to("POST", "/v1/oauth2/token")) == 2


def test_wrong_credentials_are_not_retryable_and_never_leak(app, monkeypatch, paypal_config):
    monkeypatch.setitem(app.config, "PAYPAL_CLIENT_SECRET", "wrong-secret-value-123")
    error = gateway_error(create)
    assert error.retryable is False and error.http_status == 401
    assert "wrong-secret-value-123" not in str(error)


# orders ---------------------------------------------------------------------------------------------------------
def test_create_opens_an_order_and_answers_its_approval_link(paypal_config):
    fake = paypal_config
    checkout = create(deposit_id=42, amount=125_050, currency="usd", key="freehold-deposit-42-20261203")
    assert checkout.redirect_url == f"https://www.sandbox.paypal.com/checkoutnow?token={checkout.reference}"
    [post] = fake.requests_to("POST", "/v2/checkout/orders")
    assert post.headers["paypal-request-id"] == "freehold-deposit-42-20261203"
    body = post.json()
    assert body["intent"] == "CAPTURE"
    [unit] = body["purchase_units"]
    assert unit["amount"] == {"currency_code": "USD", "value": "1250.50"}
    assert (unit["custom_id"], unit["invoice_id"]) == ("42", "freehold-deposit-42-20261203")
    context = body["payment_source"]["paypal"]["experience_context"]
    # PayPal adds ?token=<order id> to the return address itself: no checkout-session placeholder is sent
    assert context["return_url"] == "https://freehold.test/deposits/42/return"
    assert context["cancel_url"] == "https://freehold.test/deposits/42"


def test_create_twice_with_one_key_is_one_order(paypal_config):
    first, second = create(deposit_id=9, key="k-9"), create(deposit_id=9, key="k-9")
    assert first.reference == second.reference and len(paypal_config.orders) == 1


@pytest.mark.parametrize("amount", [0, -100, 10.5, True])
def test_create_refuses_a_bad_amount(paypal_config, amount):
    assert gateway_error(create, amount=amount).retryable is False
    assert paypal_config.requests == []


def test_an_order_not_approved_is_unpaid_and_not_captured(paypal_config):
    checkout = create(deposit_id=3, amount=5_000)
    payment = PayPalGateway().fetch_payment(checkout.reference)
    assert (payment.status, payment.amount, payment.currency, payment.deposit_id) == (UNPAID, 5_000, "USD", 3)
    assert paypal_config.requests_to("POST", f"/v2/checkout/orders/{checkout.reference}/capture") == []


def test_an_approved_order_is_captured_once_with_the_deposits_request_id(paypal_config):
    fake = paypal_config
    payment = paid(fake, deposit_id=21)
    [capture] = fake.captures.values()
    assert (payment.status, payment.amount, payment.charge_reference) == (PAID, 10_000, capture["id"])
    assert payment.deposit_id == 21 and payment.refunded_amount == 0
    [post] = fake.requests_to("POST", f"/v2/checkout/orders/{payment.reference}/capture")
    assert post.headers["paypal-request-id"] == capture_request_id(21) == "freehold-capture-21"
    again = PayPalGateway().fetch_payment(payment.reference)
    assert again.status == PAID and len(fake.requests_to("POST", f"/v2/checkout/orders/{payment.reference}"
                                                               "/capture")) == 1


def test_a_refused_capture_leaves_the_order_unpaid(paypal_config):
    fake = paypal_config
    checkout = create(deposit_id=4)
    fake.approve(checkout.reference)
    fake.fail_next(422, {"name": "UNPROCESSABLE_ENTITY", "details": [{"issue": "INSTRUMENT_DECLINED"}]},
                   path=f"/v2/checkout/orders/{checkout.reference}/capture")
    assert PayPalGateway().fetch_payment(checkout.reference).status == UNPAID


def test_a_pending_capture_is_unpaid_then_denied_is_failed(paypal_config):
    fake = paypal_config
    checkout = create(deposit_id=5)
    fake.approve(checkout.reference, capture_status="PENDING")
    assert PayPalGateway().fetch_payment(checkout.reference).status == UNPAID
    fake.deny(next(iter(fake.captures)))
    assert PayPalGateway().fetch_payment(checkout.reference).status == FAILED


@pytest.mark.parametrize("reference", ["", "abc", "ORDER/../x", "A" * 65, None])
def test_fetch_refuses_what_is_not_an_order_id(paypal_config, reference):
    assert gateway_error(PayPalGateway().fetch_payment, reference).retryable is False


def test_refunds_partly_then_fully_once_per_key(paypal_config):
    fake = paypal_config
    payment = paid(fake)
    gateway = PayPalGateway()
    first = gateway.refund(payment, 4_000, idempotency_key="freehold-refund-21-4000")
    assert gateway.refund(payment, 4_000, idempotency_key="freehold-refund-21-4000") == first
    [post, _] = fake.requests_to("POST", f"/v2/payments/captures/{payment.charge_reference}/refund")
    assert post.headers["paypal-request-id"] == "freehold-refund-21-4000"
    assert post.json()["amount"] == {"currency_code": "USD", "value": "40.00"}
    state = gateway.fetch_payment(payment.reference)
    assert (state.status, state.refunded_amount) == (PAID, 4_000)
    gateway.refund(payment, 6_000, idempotency_key="freehold-refund-21-10000")
    state = gateway.fetch_payment(payment.reference)
    assert (state.status, state.refunded_amount) == (REFUNDED, 10_000)
    assert gateway_error(gateway.refund, payment, 1, idempotency_key="again").retryable is False


def test_a_reversal_takes_back_the_whole_capture(paypal_config):
    fake = paypal_config
    payment = paid(fake)
    fake.reverse(payment.charge_reference)
    state = PayPalGateway().fetch_payment(payment.reference)
    assert (state.status, state.refunded_amount) == (REFUNDED, 10_000)


# webhooks -------------------------------------------------------------------------------------------------------
def test_a_webhook_is_verified_by_paypal_with_the_body_as_sent(paypal_config):
    fake = paypal_config
    checkout = create(deposit_id=8)
    body, headers = fake.webhook("CHECKOUT.ORDER.APPROVED", checkout.reference)
    event = PayPalGateway().parse_webhook(body, headers)
    sent = json.loads(body)
    assert (event.event_id, event.type, event.reference) == (sent["id"], "CHECKOUT.ORDER.APPROVED",
                                                             checkout.reference)
    assert event.body == body.decode()
    [verify] = fake.requests_to("POST", "/v1/notifications/verify-webhook-signature")
    asked = verify.json()
    assert asked["webhook_id"] == fake.webhook_id and asked["webhook_event"] == sent
    assert asked["transmission_id"] == headers["PAYPAL-TRANSMISSION-ID"]
    assert asked["auth_algo"] == "SHA256withRSA" and asked["cert_url"].startswith("https://")
    assert verify.body.endswith(b'"webhook_event":' + body + b"}")


@pytest.mark.parametrize("tamper", ["signature", "body", "transmission", "other_webhook"])
def test_a_forged_webhook_is_rejected(app, monkeypatch, paypal_config, tamper):
    fake = paypal_config
    checkout = create(deposit_id=8)
    body, headers = fake.webhook("CHECKOUT.ORDER.APPROVED", checkout.reference)
    if tamper == "signature":
        headers["PAYPAL-TRANSMISSION-SIG"] = "Zm9yZ2Vk"
    elif tamper == "body":
        body = body.replace(b"CHECKOUT.ORDER.APPROVED", b"CHECKOUT.ORDER.COMPLETED", 1)
    elif tamper == "transmission":
        headers["PAYPAL-TRANSMISSION-ID"] = "made-up-transmission"
    else:
        monkeypatch.setitem(app.config, "PAYPAL_WEBHOOK_ID", "ANOTHERWEBHOOK")
    with pytest.raises(WebhookRejected):
        PayPalGateway().parse_webhook(body, headers)


@pytest.mark.parametrize("header", ["PAYPAL-TRANSMISSION-ID", "PAYPAL-TRANSMISSION-TIME", "PAYPAL-TRANSMISSION-SIG",
                                    "PAYPAL-CERT-URL", "PAYPAL-AUTH-ALGO"])
def test_a_webhook_without_a_header_is_rejected_without_asking(paypal_config, header):
    fake = paypal_config
    body, headers = fake.webhook("CHECKOUT.ORDER.APPROVED", create().reference)
    del headers[header]
    with pytest.raises(WebhookRejected):
        PayPalGateway().parse_webhook(body, headers)
    assert fake.requests_to("POST", "/v1/notifications/verify-webhook-signature") == []


@pytest.mark.parametrize("body", [b"", b"not json", b"[1]", b'{"id": "WH-1", "event_type": "X"}',
                                  b'{"event_type": "X", "resource": {}}'])
def test_an_unusable_body_is_rejected(paypal_config, body):
    _, headers = paypal_config.webhook("CHECKOUT.ORDER.APPROVED", create().reference)
    with pytest.raises(WebhookRejected):
        PayPalGateway().parse_webhook(body, headers)


def test_verification_unavailable_is_a_rejection(paypal_config):
    fake = paypal_config
    body, headers = fake.webhook("CHECKOUT.ORDER.APPROVED", create().reference)
    fake.fail_next(503, path="/v1/notifications/verify-webhook-signature")
    with pytest.raises(WebhookRejected):  # 400: PayPal delivers again later
        PayPalGateway().parse_webhook(body, headers)


def test_what_each_event_is_about(paypal_config):
    fake = paypal_config
    payment = paid(fake)
    capture_id, order_id = payment.charge_reference, payment.reference
    refund = fake.refund(capture_id, 1_000)
    reversal = fake.reverse(capture_id)
    dispute = fake.open_dispute(capture_id)
    cases = {
        "CHECKOUT.ORDER.APPROVED": (fake.orders[order_id], order_id),
        "PAYMENT.CAPTURE.COMPLETED": (fake.captures[capture_id], order_id),
        "PAYMENT.CAPTURE.DENIED": (fake.captures[capture_id], order_id),
        "PAYMENT.CAPTURE.REFUNDED": (refund, capture_id),
        "PAYMENT.CAPTURE.REVERSED": (reversal, capture_id),
        "CUSTOMER.DISPUTE.CREATED": (dispute, dispute["dispute_id"]),
    }
    for event_type, (resource, expected) in cases.items():
        assert webhook_reference(event_type, json.loads(json.dumps(resource))) == expected, event_type
    assert webhook_reference("PAYMENT.CAPTURE.REFUNDED", {"links": [{"rel": "up", "href": "https://x/evil"}]}) is None


def test_a_dispute_as_paypal_reports_it(paypal_config):
    fake = paypal_config
    payment = paid(fake)
    opened = fake.open_dispute(payment.charge_reference, 4_000, reason="MERCHANDISE_OR_SERVICE_NOT_RECEIVED")
    found = PayPalGateway().fetch_dispute(opened["dispute_id"])
    assert (found.external_id, found.status, found.amount, found.currency, found.charge_reference) == (
        opened["dispute_id"], "OPEN", 4_000, "USD", payment.charge_reference)
    assert found.reason == "MERCHANDISE_OR_SERVICE_NOT_RECEIVED" and found.evidence_due_at is not None
    fake.resolve_dispute(opened["dispute_id"], "RESOLVED_SELLER_FAVOUR")
    assert PayPalGateway().fetch_dispute(opened["dispute_id"]).status == "RESOLVED_SELLER_FAVOUR"
    assert gateway_error(PayPalGateway().fetch_dispute, "../evil").retryable is False


def test_a_chargebacks_reversal_is_not_a_refund(paypal_config):
    fake = paypal_config
    payment = paid(fake)
    fake.open_dispute(payment.charge_reference)
    fake.reverse(payment.charge_reference)
    state = PayPalGateway().fetch_payment(payment.reference)
    assert (state.status, state.refunded_amount) == (PAID, 0)  # the dispute holds and settles it


# reconciliation ---------------------------------------------------------------------------------------------------
def test_list_paid_reads_the_transactions_report_page_by_page(paypal_config, monkeypatch):
    from app.payments.gateways import paypal

    fake = paypal_config
    monkeypatch.setattr(paypal, "PAGE_SIZE", 2)
    payments = [paid(fake, deposit_id=n, amount=1_000 * n) for n in (1, 2, 3)]
    foreign = fake.captures[payments[0].charge_reference] | {"id": "FOREIGN1", "custom_id": None}
    fake.captures["FOREIGN1"] = foreign  # a payment this platform did not open
    listed = PayPalGateway().list_paid(datetime.now(UTC) - timedelta(days=40))
    assert sorted((p.reference, p.amount, p.status) for p in listed) == sorted(
        (p.reference, p.amount, PAID) for p in payments)
    pages = [r.query["page"] for r in fake.requests_to("GET", "/v1/reporting/transactions")]
    assert pages == ["1", "1", "2"]  # two windows of at most 31 days; the second one has two pages
    assert PayPalGateway().list_paid(datetime.now(UTC).replace(tzinfo=None) - timedelta(days=1))


@pytest.mark.parametrize("status, retryable", [(500, True), (503, True), (429, True), (400, False), (404, False)])
def test_http_errors(paypal_config, status, retryable):
    paypal_config.fail_next(status, path="/v2/checkout/orders")
    assert gateway_error(create).retryable is retryable


def test_timeout_is_retryable(app, monkeypatch, paypal_config):
    monkeypatch.setitem(app.config, "PAYPAL_TIMEOUT_SECONDS", 0.2)
    create()  # the token first
    paypal_config.fail_next(200, {}, delay=1.0, path="/v2/checkout/orders")
    assert gateway_error(create, deposit_id=2).retryable is True
