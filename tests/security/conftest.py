"""Fixtures of the perimeter tests: the gateway fakes with the app configured against them, and a second app that
sits behind one trusted proxy (TRUSTED_PROXIES=1) on the same database."""
from __future__ import annotations

import pytest

from tests.fakes.razorpay_api import FakeRazorpay
from tests.fakes.stripe_api import FakeStripe
from tests.support import build_app


@pytest.fixture
def stripe_config(app, monkeypatch):
    """Stripe switched on against a FakeStripe; returns the fake."""
    with FakeStripe() as fake:
        monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", fake.secret_key)
        monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", fake.webhook_secret)
        monkeypatch.setitem(app.config, "STRIPE_API_BASE", fake.url)
        yield fake


@pytest.fixture
def razorpay_config(app, monkeypatch):
    """Razorpay switched on against a FakeRazorpay; returns the fake."""
    fake = FakeRazorpay().start()
    for key, value in {"RAZORPAY_KEY_ID": fake.key_id, "RAZORPAY_KEY_SECRET": fake.key_secret,
                       "RAZORPAY_WEBHOOK_SECRET": fake.webhook_secret, "RAZORPAY_API_BASE": fake.url,
                       "RAZORPAY_TIMEOUT_SECONDS": 5}.items():
        monkeypatch.setitem(app.config, key, value)
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def proxied_app(app, database_url):
    """The application as deployed behind one reverse proxy that appends the client to X-Forwarded-For. Building it
    makes its Celery app the default; the suite's own is made the default again, so tasks of later tests still run
    in the suite's app."""
    proxied = build_app(database_url, TRUSTED_PROXIES=1)
    app.extensions["celery"].set_default()
    return proxied
