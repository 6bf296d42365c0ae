"""StripeGateway against the Stripe API fake over HTTP on 127.0.0.1: Checkout parameters and idempotency, status
mapping, refunds, webhook signatures, reconciliation listing and error mapping."""
from __future__ import annotations

import json
import secrets
import socket
import time
import traceback
import types
from datetime import UTC, datetime, timedelta

import pytest

from app.payments.gateways import stripe as stripe_gateway
from app.payments.gateways.base import (
    EXPIRED,
    FAILED,
    PAID,
    REFUNDED,
    UNPAID,
    GatewayError,
    Payment,
    WebhookRejected,
)
from app.payments.gateways.stripe import StripeGateway
from tests.fakes.stripe_api import CHECKOUT_HOST

SUCCESS_URL = "https://freehold.test/portal/deposits/return?session_id={CHECKOUT_SESSION_ID}"
CANCEL_URL = "https://freehold.test/portal/deposits/42/cancelled"


def open_checkout(deposit_id=42, amount=10_150, currency="USD", key=None, email="investor@example.com"):
    return StripeGateway().create_payment(
        deposit_id=deposit_id, amount=amount, currency=currency, customer_email=email, success_url=SUCCESS_URL,
        cancel_url=CANCEL_URL, idempotency_key=key or f"deposit-{deposit_id}-{secrets.token_hex(4)}")


def full_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(error)) + repr(error) + str(error.args)


# configuration ---------------------------------------------------------------------------------------------------
def test_identity_and_enabled_only_with_both_secrets(app, monkeypatch):
    gateway = StripeGateway()
    assert (gateway.name, gateway.label, gateway.automatic) == ("stripe", "Card (Stripe)", True)
    for key, secret, expected in [(None, None, False), ("sk_test_x", None, False), (None, "whsec_x", False),
                                  ("", "", False), ("sk_test_x", "whsec_x", True)]:
        monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", key)
        monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", secret)
        assert gateway.enabled() is expected


def test_calls_without_secret_key_fail_without_contacting_anyone(app, monkeypatch):
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", None)
    with pytest.raises(GatewayError) as caught:
        StripeGateway().fetch_payment("cs_test_123")
    assert caught.value.retryable is False


# create_payment --------------------------------------------------------------------------------------------------
def test_create_payment_opens_a_redirect_checkout_session(stripe_config):
    fake = stripe_config
    before = int(time.time())
    checkout = open_checkout(deposit_id=42, amount=10_150, currency="USD", key="deposit-42-checkout")
    after = int(time.time())

    assert checkout.reference.startswith("cs_")
    assert checkout.redirect_url == f"{CHECKOUT_HOST}/pay/{checkout.reference}"
    [call] = fake.calls("POST", "/v1/checkout/sessions")
    assert call.headers["idempotency-key"] == "deposit-42-checkout"
    assert call.headers["authorization"] == "Bearer sk_test_fake"
    assert call.headers["content-type"].startswith("application/x-www-form-urlencoded")
    params = dict(call.params)
    expires_at = int(params.pop("expires_at"))
    assert params == {
        "mode": "payment",
        "line_items": [{"price_data": {"currency": "usd", "unit_amount": "10150",
                                       "product_data": {"name": "Wallet deposit"}},
                        "quantity": "1"}],
        "success_url": SUCCESS_URL,
        "cancel_url": CANCEL_URL,
        "customer_email": "investor@example.com",
        "client_reference_id": "42",
        "metadata": {"deposit_id": "42"},
        "payment_intent_data": {"metadata": {"deposit_id": "42"}},
    }
    # about 23 hours: inside Stripe's 24-hour maximum, rounded down to a 10-minute step
    assert before + 23 * 3600 - 600 < expires_at <= after + 23 * 3600
    assert expires_at % 600 == 0
    session = fake.session(checkout.reference)
    assert (session["amount_total"], session["currency"], session["status"]) == (10_150, "usd", "open")
    assert session["expires_at"] == expires_at


def test_same_idempotency_key_returns_the_same_session(stripe_config):
    fake = stripe_config
    first = open_checkout(key="deposit-42-checkout")
    again = open_checkout(key="deposit-42-checkout")
    assert again == first
    assert len(fake.sessions) == 1
    assert [c.headers["idempotency-key"] for c in fake.calls("POST", "/v1/checkout/sessions")] == [
        "deposit-42-checkout", "deposit-42-checkout"]

    other = open_checkout(key="deposit-42-checkout-2")
    assert other.reference != first.reference and len(fake.sessions) == 2


def test_same_idempotency_key_with_other_parameters_is_refused(stripe_config):
    open_checkout(amount=10_150, key="deposit-42-checkout")
    with pytest.raises(GatewayError) as caught:
        open_checkout(amount=99_999, key="deposit-42-checkout")
    assert caught.value.retryable is False
    assert "IdempotencyError" in str(caught.value)
    assert len(stripe_config.sessions) == 1


@pytest.mark.parametrize("later", [2, 599, 3000])
def test_retry_in_a_later_expiry_step_still_returns_the_same_session(stripe_config, monkeypatch, later):
    now = int(time.time())
    boundary = now - now % 600
    monkeypatch.setattr(stripe_gateway, "time", types.SimpleNamespace(time=lambda: boundary - 1))
    first = open_checkout(key="deposit-42-checkout")
    monkeypatch.setattr(stripe_gateway, "time", types.SimpleNamespace(time=lambda: boundary - 1 + later))
    again = open_checkout(key="deposit-42-checkout")
    assert again.reference == first.reference
    assert len(stripe_config.sessions) == 1


def test_retry_with_the_same_key_much_later_is_refused_not_duplicated(stripe_config, monkeypatch):
    now = int(time.time())
    monkeypatch.setattr(stripe_gateway, "time", types.SimpleNamespace(time=lambda: now - 7200))
    open_checkout(key="deposit-42-checkout")
    monkeypatch.setattr(stripe_gateway, "time", types.SimpleNamespace(time=lambda: now))
    with pytest.raises(GatewayError) as caught:
        open_checkout(key="deposit-42-checkout")
    assert caught.value.retryable is False
    assert len(stripe_config.sessions) == 1


# fetch_payment ---------------------------------------------------------------------------------------------------
def test_fetch_open_session_is_unpaid_with_deposit_amount_and_currency(stripe_config):
    checkout = open_checkout(deposit_id=7, amount=2_500, currency="eur")
    payment = StripeGateway().fetch_payment(checkout.reference)
    assert isinstance(payment, Payment)
    assert (payment.reference, payment.status, payment.amount, payment.currency, payment.deposit_id) == (
        checkout.reference, UNPAID, 2_500, "EUR", 7)
    assert payment.charge_reference is None and payment.refunded_amount == 0
    assert payment.created_at is not None and payment.created_at.tzinfo is not None
    [call] = stripe_config.calls("GET", f"/v1/checkout/sessions/{checkout.reference}")
    assert call.params["expand"] == ["payment_intent.latest_charge"]


def test_fetch_paid_session(stripe_config):
    checkout = open_checkout(deposit_id=8, amount=5_000)
    stripe_config.complete_session(checkout.reference)
    payment = StripeGateway().fetch_payment(checkout.reference)
    intent_id = stripe_config.session(checkout.reference)["payment_intent"]
    assert (payment.status, payment.amount, payment.currency, payment.deposit_id) == (PAID, 5_000, "USD", 8)
    assert payment.charge_reference == intent_id and intent_id.startswith("pi_")
    assert payment.refunded_amount == 0
    assert payment.raw["id"] == checkout.reference


def test_fetch_async_payment_pending_then_succeeded(stripe_config):
    checkout = open_checkout()
    stripe_config.complete_session(checkout.reference, paid=False)
    pending = StripeGateway().fetch_payment(checkout.reference)
    assert pending.status == UNPAID and pending.charge_reference
    stripe_config.complete_session(checkout.reference, paid=True)
    assert StripeGateway().fetch_payment(checkout.reference).status == PAID


def test_fetch_async_payment_failed(stripe_config):
    checkout = open_checkout()
    stripe_config.complete_session(checkout.reference, paid=False)
    stripe_config.fail_async(checkout.reference)
    payment = StripeGateway().fetch_payment(checkout.reference)
    assert payment.status == FAILED
    assert payment.amount == 10_150 and payment.deposit_id == 42


def test_fetch_expired_session(stripe_config):
    checkout = open_checkout()
    stripe_config.expire_session(checkout.reference)
    assert StripeGateway().fetch_payment(checkout.reference).status == EXPIRED


def test_fetch_partially_then_fully_refunded(stripe_config):
    checkout = open_checkout(amount=10_000)
    stripe_config.complete_session(checkout.reference)
    stripe_config.refund_charge(checkout.reference, 2_500)
    partial = StripeGateway().fetch_payment(checkout.reference)
    assert (partial.status, partial.refunded_amount) == (PAID, 2_500)
    stripe_config.refund_charge(checkout.reference)  # the rest
    full = StripeGateway().fetch_payment(checkout.reference)
    assert (full.status, full.refunded_amount, full.amount) == (REFUNDED, 10_000, 10_000)


def test_fetch_reports_what_stripe_says_not_what_was_asked(stripe_config):
    checkout = open_checkout(amount=10_000, currency="USD")
    stripe_config.complete_session(checkout.reference)
    stripe_config.set_amount(checkout.reference, 100, "gbp")
    payment = StripeGateway().fetch_payment(checkout.reference)
    assert (payment.status, payment.amount, payment.currency) == (PAID, 100, "GBP")


def test_fetch_without_usable_deposit_metadata(stripe_config):
    checkout = open_checkout()
    for metadata in ({}, {"deposit_id": "abc"}, {"deposit_id": "-3"}):
        stripe_config.sessions[checkout.reference]["metadata"] = metadata
        assert StripeGateway().fetch_payment(checkout.reference).deposit_id is None


def test_fetch_unknown_session_is_not_retryable(stripe_config):
    with pytest.raises(GatewayError) as caught:
        StripeGateway().fetch_payment("cs_test_missing")
    assert caught.value.retryable is False
    assert caught.value.http_status == 404


# refund ----------------------------------------------------------------------------------------------------------
def test_refund_is_idempotent(stripe_config):
    fake = stripe_config
    checkout = open_checkout(amount=10_000)
    fake.complete_session(checkout.reference)
    gateway = StripeGateway()
    payment = gateway.fetch_payment(checkout.reference)

    refund_id = gateway.refund(payment, 4_000, idempotency_key="refund-42-1")
    assert refund_id.startswith("re_")
    assert gateway.refund(payment, 4_000, idempotency_key="refund-42-1") == refund_id
    calls = fake.calls("POST", "/v1/refunds")
    assert [c.params for c in calls] == [{"payment_intent": payment.charge_reference, "amount": "4000"}] * 2
    assert [c.headers["idempotency-key"] for c in calls] == ["refund-42-1"] * 2
    assert len(fake.refunds) == 1
    assert gateway.fetch_payment(checkout.reference).refunded_amount == 4_000

    second = gateway.refund(payment, 6_000, idempotency_key="refund-42-2")
    assert second != refund_id
    assert gateway.fetch_payment(checkout.reference).status == REFUNDED


def test_refund_beyond_what_was_paid_is_refused(stripe_config):
    checkout = open_checkout(amount=1_000)
    stripe_config.complete_session(checkout.reference)
    gateway = StripeGateway()
    payment = gateway.fetch_payment(checkout.reference)
    with pytest.raises(GatewayError) as caught:
        gateway.refund(payment, 1_001, idempotency_key="refund-too-much")
    assert caught.value.retryable is False
    assert not stripe_config.refunds


def test_refund_of_unpaid_payment_is_refused(stripe_config):
    checkout = open_checkout()
    gateway = StripeGateway()
    with pytest.raises(GatewayError) as caught:
        gateway.refund(gateway.fetch_payment(checkout.reference), 100, idempotency_key="refund-nothing")
    assert caught.value.retryable is False
    assert not stripe_config.calls("POST", "/v1/refunds")


# parse_webhook ---------------------------------------------------------------------------------------------------
def test_parse_webhook_accepts_a_signed_checkout_event(stripe_config):
    fake = stripe_config
    checkout = open_checkout()
    fake.complete_session(checkout.reference)
    body = fake.event("checkout.session.completed", checkout.reference)
    event = StripeGateway().parse_webhook(body, {"Stripe-Signature": fake.sign(body)})
    assert event.event_id.startswith("evt_")
    assert event.type == "checkout.session.completed"
    assert event.reference == checkout.reference
    assert event.payload == json.loads(body)
    assert type(event.payload) is dict and type(event.payload["data"]["object"]) is dict


def test_parse_webhook_charge_refunded_refers_to_the_payment_intent(stripe_config):
    fake = stripe_config
    checkout = open_checkout()
    fake.complete_session(checkout.reference)
    fake.refund_charge(checkout.reference)
    intent = fake.payment_intent(fake.session(checkout.reference)["payment_intent"])
    body = fake.event("charge.refunded", intent["latest_charge"])
    event = StripeGateway().parse_webhook(body, {"Stripe-Signature": fake.sign(body)})
    assert event.type == "charge.refunded"
    assert event.reference == intent["id"]
    assert event.payload["data"]["object"]["amount_refunded"] == 10_150


def test_parse_webhook_events_get_distinct_ids_and_accept_skew_inside_tolerance(stripe_config):
    fake = stripe_config
    checkout = open_checkout()
    gateway = StripeGateway()
    seen = set()
    for skew in (-290, 0, 290):
        body = fake.event("checkout.session.expired", checkout.reference)
        event = gateway.parse_webhook(body, {"Stripe-Signature": fake.sign(body, timestamp=int(time.time()) + skew)})
        seen.add(event.event_id)
    assert len(seen) == 3


def test_parse_webhook_reads_werkzeug_headers(app, stripe_config):
    fake = stripe_config
    body = fake.event("checkout.session.completed", {"id": "cs_test_abc", "object": "checkout.session"})
    with app.test_request_context("/webhooks/stripe", method="POST", data=body,
                                  headers={"stripe-signature": fake.sign(body)}):
        from flask import request

        event = StripeGateway().parse_webhook(request.get_data(), request.headers)
    assert event.reference == "cs_test_abc"


def _rejections(fake):
    body = fake.event("checkout.session.completed", {"id": "cs_test_abc", "object": "checkout.session"})
    now = int(time.time())
    good = fake.sign(body)
    forged = good.split(",v1=")[0] + ",v1=" + "0" * 64
    compact = json.dumps(json.loads(body), separators=(",", ":")).encode()
    assert compact != body and json.loads(compact) == json.loads(body)
    return {
        "forged signature": (body, {"Stripe-Signature": forged}),
        "wrong secret": (body, {"Stripe-Signature": fake.sign(body, secret="whsec_someone_else")}),
        "stale timestamp": (body, {"Stripe-Signature": fake.sign(body, timestamp=now - 301)}),
        "future timestamp": (body, {"Stripe-Signature": fake.sign(body, timestamp=now + 301)}),
        "far future timestamp": (body, {"Stripe-Signature": fake.sign(body, timestamp=now + 86_400 * 365)}),
        "re-serialised body": (compact, {"Stripe-Signature": good}),
        "tampered body": (body.replace(b"cs_test_abc", b"cs_test_xyz"), {"Stripe-Signature": good}),
        "missing header": (body, {}),
        "no headers": (body, None),
        "empty header": (body, {"Stripe-Signature": ""}),
        "garbage header": (body, {"Stripe-Signature": "t=abc,v1=zzz"}),
        "header without timestamp": (body, {"Stripe-Signature": good.split(",", 1)[1]}),
        "second timestamp": (body, {"Stripe-Signature": f"t={now + 3600}," + good}),
        "garbage signed body": (b"\xff\xfenot json", {"Stripe-Signature": fake.sign(b"not json")}),
        "signed non-json": (b"not json", {"Stripe-Signature": fake.sign(b"not json")}),
        "signed json without event": (b"[1, 2]", {"Stripe-Signature": fake.sign(b"[1, 2]")}),
    }


CASES = ["forged signature", "wrong secret", "stale timestamp", "future timestamp", "far future timestamp",
         "re-serialised body", "tampered body", "missing header", "no headers", "empty header", "garbage header",
         "header without timestamp", "second timestamp",
         "garbage signed body", "signed non-json", "signed json without event"]


@pytest.mark.parametrize("case", CASES)
def test_parse_webhook_rejects(stripe_config, case):
    body, headers = _rejections(stripe_config)[case]
    with pytest.raises(WebhookRejected) as caught:
        StripeGateway().parse_webhook(body, headers)
    assert "whsec_test" not in full_text(caught.value)
    assert "sk_test_fake" not in full_text(caught.value)


def test_parse_webhook_rejects_everything_without_a_webhook_secret(app, stripe_config, monkeypatch):
    body = stripe_config.event("checkout.session.completed", {"id": "cs_test_abc"})
    header = stripe_config.sign(body)
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", None)
    with pytest.raises(WebhookRejected):
        StripeGateway().parse_webhook(body, {"Stripe-Signature": header})


# list_paid -------------------------------------------------------------------------------------------------------
def test_list_paid_returns_completed_paid_sessions_since_a_date_across_pages(stripe_config):
    fake = stripe_config
    fake.page_limit = 2
    since = datetime.now(UTC) - timedelta(hours=1)

    paid = [open_checkout(deposit_id=i, amount=1_000 * i) for i in (1, 2, 3)]
    for checkout in paid:
        fake.complete_session(checkout.reference)
    pending = open_checkout(deposit_id=4)
    fake.complete_session(pending.reference, paid=False)
    open_checkout(deposit_id=5)  # still open
    expired = open_checkout(deposit_id=6)
    fake.expire_session(expired.reference)
    old = open_checkout(deposit_id=7)
    fake.complete_session(old.reference)
    fake.sessions[old.reference]["created"] = int(since.timestamp()) - 60

    payments = StripeGateway().list_paid(since)

    assert sorted(p.reference for p in payments) == sorted(c.reference for c in paid)
    assert {p.deposit_id: (p.status, p.amount, p.currency) for p in payments} == {
        1: (PAID, 1_000, "USD"), 2: (PAID, 2_000, "USD"), 3: (PAID, 3_000, "USD")}
    assert all(p.charge_reference and p.charge_reference.startswith("pi_") for p in payments)
    calls = fake.calls("GET", "/v1/checkout/sessions")
    assert len(calls) == 2
    for call in calls:
        assert call.params["created"] == {"gte": str(int(since.timestamp()))}
        assert call.params["status"] == "complete" and call.params["limit"] == "100"
    assert "starting_after" not in calls[0].params and calls[1].params["starting_after"].startswith("cs_")


def test_list_paid_shows_refunds(stripe_config):
    checkout = open_checkout(amount=1_000)
    stripe_config.complete_session(checkout.reference)
    stripe_config.refund_charge(checkout.reference)
    [payment] = StripeGateway().list_paid(datetime.now(UTC) - timedelta(minutes=5))
    assert (payment.status, payment.refunded_amount) == (REFUNDED, 1_000)


def test_list_paid_empty(stripe_config):
    assert StripeGateway().list_paid(datetime.now(UTC)) == []


# errors ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_and_rate_limits_are_retryable(stripe_config, status):
    checkout = open_checkout()
    stripe_config.fail_next(status, type="api_error" if status != 429 else "rate_limit_error")
    with pytest.raises(GatewayError) as caught:
        StripeGateway().fetch_payment(checkout.reference)
    assert caught.value.retryable is True
    assert caught.value.http_status == status
    # the client makes no retries of its own against a configured API base: one request, one answer
    assert len(stripe_config.calls("GET", f"/v1/checkout/sessions/{checkout.reference}")) == 1
    assert StripeGateway().fetch_payment(checkout.reference).status == UNPAID


def test_server_error_on_create_is_retryable_and_the_retry_succeeds(stripe_config):
    stripe_config.fail_next(500)
    with pytest.raises(GatewayError) as caught:
        open_checkout(key="deposit-42-checkout")
    assert caught.value.retryable is True
    checkout = open_checkout(key="deposit-42-checkout")
    assert checkout.reference in stripe_config.sessions


def test_wrong_secret_key_is_not_retryable_and_never_repeated(app, stripe_config, monkeypatch):
    wrong = "sk_test_" + secrets.token_hex(12)
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", wrong)
    for call in (lambda g: g.fetch_payment("cs_test_abc"), lambda g: open_checkout(),
                 lambda g: g.list_paid(datetime.now(UTC))):
        with pytest.raises(GatewayError) as caught:
            call(StripeGateway())
        assert caught.value.retryable is False
        assert caught.value.http_status == 401
        assert wrong not in full_text(caught.value)
    # the fake did get the key, and repeated it in its answer: the gateway removed it
    assert stripe_config.requests[-1].headers["authorization"] == f"Bearer {wrong}"
    assert stripe_config.requests[-1].status == 401


def test_error_messages_quoting_secrets_are_redacted(stripe_config):
    checkout = open_checkout()
    for status, kind in [(401, "invalid_request_error"), (400, "invalid_request_error"), (500, "api_error")]:
        stripe_config.fail_next(status, "Invalid API Key provided: sk_test_fake (webhook secret whsec_test)",
                                type=kind)
        with pytest.raises(GatewayError) as caught:
            StripeGateway().fetch_payment(checkout.reference)
        text = full_text(caught.value)
        assert "sk_test_fake" not in text and "whsec_test" not in text
        assert caught.value.retryable is (status == 500)
        assert "Invalid API Key provided" in str(caught.value)


def test_connection_errors_are_retryable(app, stripe_config, monkeypatch):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", f"http://127.0.0.1:{port}")
    with pytest.raises(GatewayError) as caught:
        StripeGateway().fetch_payment("cs_test_abc")
    assert caught.value.retryable is True
    assert "sk_test_fake" not in full_text(caught.value)


def test_the_api_client_takes_the_proxy_the_environment_names_once_per_thread(monkeypatch):
    import threading

    from app.payments.gateways import stripe as gateway

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    client = gateway._HTTPClient("https://api.stripe.com", timeout=5)
    session = client.session()
    assert session.proxies.get("https") == "http://proxy.internal:3128"
    assert session.trust_env is False and client.session() is session  # not looked up again per call
    local = gateway._HTTPClient("http://127.0.0.1:12111", timeout=5)  # a local API (the fake): no proxy
    assert not local.session().proxies
    other = []
    thread = threading.Thread(target=lambda: other.append(client.session()))
    thread.start()
    thread.join()
    assert other[0] is not session  # one session per thread, as the library's own client keeps
