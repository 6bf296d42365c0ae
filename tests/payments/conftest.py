"""Fixtures of the deposit and gateway tests: the investor who deposits (no money yet, no KYC), and the Stripe,
Razorpay and PayPal API fakes on 127.0.0.1 with the app configured against them. The ledger verifies after every test that
moved money (tests/conftest.py)."""
from __future__ import annotations

import pytest

from tests.fakes.paypal_api import FakePayPal
from tests.fakes.razorpay_api import FakeRazorpay
from tests.fakes.stripe_api import FakeStripe


@pytest.fixture
def investor_options() -> dict:
    return {"balance": None, "kyc": False}


@pytest.fixture
def fake_stripe():
    """A started FakeStripe (stopped after the test)."""
    with FakeStripe() as fake:
        yield fake


@pytest.fixture
def stripe_config(app, monkeypatch, fake_stripe):
    """Stripe switched on against the fake (secret key, webhook secret, API base in app.config); returns the fake."""
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", fake_stripe.secret_key)
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", fake_stripe.webhook_secret)
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", fake_stripe.url)
    return fake_stripe


@pytest.fixture
def fake_razorpay():
    """A started FakeRazorpay (stopped after the test)."""
    server = FakeRazorpay().start()
    yield server
    server.stop()


@pytest.fixture
def razorpay_config(app, monkeypatch, fake_razorpay):
    """Razorpay switched on against the fake; returns the fake."""
    for key, value in {
        "RAZORPAY_KEY_ID": fake_razorpay.key_id,
        "RAZORPAY_KEY_SECRET": fake_razorpay.key_secret,
        "RAZORPAY_WEBHOOK_SECRET": fake_razorpay.webhook_secret,
        "RAZORPAY_API_BASE": fake_razorpay.url,
        "RAZORPAY_TIMEOUT_SECONDS": 5,
    }.items():
        monkeypatch.setitem(app.config, key, value)
    return fake_razorpay


@pytest.fixture
def fake_paypal():
    """A started FakePayPal (stopped after the test)."""
    server = FakePayPal().start()
    yield server
    server.stop()


@pytest.fixture
def paypal_config(app, monkeypatch, fake_paypal):
    """PayPal switched on against the fake (no access token cached from another test); returns the fake."""
    from app.payments.gateways.paypal import forget_tokens

    for key, value in {
        "PAYPAL_CLIENT_ID": fake_paypal.client_id,
        "PAYPAL_CLIENT_SECRET": fake_paypal.client_secret,
        "PAYPAL_WEBHOOK_ID": fake_paypal.webhook_id,
        "PAYPAL_API_BASE": fake_paypal.url,
        "PAYPAL_TIMEOUT_SECONDS": 5,
    }.items():
        monkeypatch.setitem(app.config, key, value)
    forget_tokens()
    yield fake_paypal
    forget_tokens()
