"""Fixtures for the SMS and push channels: fake Twilio and Google servers on 127.0.0.1 and app configuration that
points at them."""
from __future__ import annotations

import pytest

from tests.notifications.fakes import FakeGoogle, FakeTwilio, new_rsa_key


@pytest.fixture
def fake_twilio():
    server = FakeTwilio().start()
    yield server
    server.stop()


@pytest.fixture
def sms_config(app, monkeypatch, fake_twilio):
    """SMS switched on against the fake Twilio; returns the fake."""
    for key, value in {
        "SMS_PROVIDER": "twilio",
        "TWILIO_ACCOUNT_SID": fake_twilio.account_sid,
        "TWILIO_AUTH_TOKEN": fake_twilio.auth_token,
        "TWILIO_FROM": "+15005550006",
        "TWILIO_API_BASE": fake_twilio.url,
        "SMS_TIMEOUT_SECONDS": 5,
    }.items():
        monkeypatch.setitem(app.config, key, value)
    return fake_twilio


@pytest.fixture(scope="session")
def rsa_private_key():
    return new_rsa_key()


@pytest.fixture
def fake_google(rsa_private_key, tmp_path):
    """Fake OAuth token and FCM endpoints; `credentials_file` is a service-account JSON in tmp_path whose
    token_uri points at the fake."""
    server = FakeGoogle(rsa_private_key).start()
    server.credentials_file = server.write_service_account(tmp_path / "service-account.json")
    yield server
    server.stop()


@pytest.fixture
def push_config(app, monkeypatch, fake_google):
    """Push switched on against the fake FCM; returns the fake."""
    from app.notifications.channels import push

    for key, value in {
        "PUSH_PROVIDER": "fcm",
        "FCM_CREDENTIALS_FILE": fake_google.credentials_file,
        "FCM_PROJECT_ID": None,
        "FCM_API_BASE": fake_google.url,
        "PUSH_TIMEOUT_SECONDS": 5,
    }.items():
        monkeypatch.setitem(app.config, key, value)
    push.clear_credentials_cache()
    yield fake_google
    push.clear_credentials_cache()
