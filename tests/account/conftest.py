"""Fixtures of the profile tests: SMS switched on against a fake Twilio on 127.0.0.1, and a signed-in portal
client with its CSRF token; the market's fixtures (holdings that can be listed at once) serve the closing
tests too."""
from __future__ import annotations

import re

import pytest

from tests.market.conftest import make_tradable, tradable  # noqa: F401
from tests.notifications.fakes import FakeTwilio


@pytest.fixture
def sms(app, monkeypatch):
    """SMS on, sent to the fake Twilio; returns the fake (its `requests` are what was sent)."""
    server = FakeTwilio().start()
    for key, value in {"SMS_PROVIDER": "twilio", "TWILIO_ACCOUNT_SID": server.account_sid,
                       "TWILIO_AUTH_TOKEN": server.auth_token, "TWILIO_FROM": "+15005550006",
                       "TWILIO_API_BASE": server.url, "SMS_TIMEOUT_SECONDS": 5}.items():
        monkeypatch.setitem(app.config, key, value)
    yield server
    server.stop()


def sms_sent(server, to: str | None = None) -> list[str]:
    """The bodies of the SMS the fake received (to one number)."""
    return [r.form()["Body"] for r in server.requests if to is None or r.form().get("To") == to]


def code_in(body: str) -> str:
    match = re.search(r"\b(\d{6})\b", body)
    assert match, f"no code in {body!r}"
    return match.group(1)
