"""TwilioSms against a fake Twilio Messages API on 127.0.0.1."""
from __future__ import annotations

import base64
import socket
import time

import pytest

from app.notifications.channels.base import ChannelError, OutgoingMessage
from app.notifications.channels.sms import MAX_BODY_CHARS, TwilioSms

TO = "+447700900123"


def closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


def send_error(message=None) -> ChannelError:
    with pytest.raises(ChannelError) as caught:
        TwilioSms().send(message or OutgoingMessage(to=TO, body="Your payout was approved."))
    return caught.value


# enabled --------------------------------------------------------------------------------------------------------
def test_off_by_default(app):
    assert app.config["SMS_PROVIDER"] is None
    assert TwilioSms().enabled() is False
    assert TwilioSms.name == "sms"


@pytest.mark.parametrize("missing", ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM"])
def test_off_when_partly_configured(app, monkeypatch, sms_config, missing):
    assert TwilioSms().enabled() is True
    monkeypatch.setitem(app.config, missing, None)
    assert TwilioSms().enabled() is False


@pytest.mark.parametrize("provider", [None, "", "none", "vonage"])
def test_off_unless_provider_is_twilio(app, monkeypatch, sms_config, provider):
    monkeypatch.setitem(app.config, "SMS_PROVIDER", provider)
    assert TwilioSms().enabled() is False


def test_send_refused_when_off(app, fake_twilio):
    error = send_error()
    assert error.retryable is False
    assert fake_twilio.requests == []


# success --------------------------------------------------------------------------------------------------------
def test_send_posts_form_with_basic_auth_and_returns_sid(sms_config):
    fake = sms_config
    sid = TwilioSms().send(OutgoingMessage(to=TO, body="Your payout of $120.00 was approved."))

    assert len(fake.requests) == 1
    request = fake.requests[0]
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.basic_auth() == (fake.account_sid, fake.auth_token)
    assert request.form() == {"To": TO, "From": "+15005550006", "Body": "Your payout of $120.00 was approved."}
    assert sid == fake.sent[0]["sid"] and sid.startswith("SM")


def test_base_url_with_trailing_slash(app, monkeypatch, sms_config):
    monkeypatch.setitem(app.config, "TWILIO_API_BASE", sms_config.url + "/")
    assert TwilioSms().send(OutgoingMessage(to=TO, body="hi"))
    assert sms_config.requests[0].path.startswith("/2010-04-01/")


def test_long_body_is_truncated(sms_config):
    TwilioSms().send(OutgoingMessage(to=TO, body="é" * (MAX_BODY_CHARS + 500)))
    assert sms_config.requests[0].form()["Body"] == "é" * 1600


def test_accepted_without_json_returns_none(sms_config):
    sms_config.respond(201, "queued")
    assert TwilioSms().send(OutgoingMessage(to=TO, body="hi")) is None


@pytest.mark.parametrize("number", ["+12345678", "+123456789012345"])
def test_e164_length_bounds_accepted(sms_config, number):
    assert TwilioSms().send(OutgoingMessage(to=number, body="hi"))


# refused before any request ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("number", [
    "07700900123",  # national format
    "447700900123",  # no plus
    "+44 7700 900123",  # spaces
    "+44-7700-900123",
    "+1234567",  # 7 digits
    "+1234567890123456",  # 16 digits
    "+0447700900123",  # leading zero
    "+٤٤٧٧٠٠٩٠٠١٢٣",  # non-ASCII digits
    "+447700900123\n",
    "",
])
def test_bad_number_refused_without_request(sms_config, number):
    error = send_error(OutgoingMessage(to=number, body="hi"))
    assert error.retryable is False
    assert "E.164" in str(error)
    assert sms_config.requests == []


def test_empty_body_refused_without_request(sms_config):
    error = send_error(OutgoingMessage(to=TO, body="  "))
    assert error.retryable is False
    assert sms_config.requests == []


# failures -------------------------------------------------------------------------------------------------------
def test_timeout_is_retryable(app, monkeypatch, sms_config):
    monkeypatch.setitem(app.config, "SMS_TIMEOUT_SECONDS", 0.3)
    sms_config.respond(201, {"sid": "SMlate"}, delay=3)
    started = time.monotonic()
    error = send_error()
    assert time.monotonic() - started < 2
    assert error.retryable is True
    assert "in time" in str(error)


def test_connection_refused_is_retryable(app, monkeypatch, sms_config):
    monkeypatch.setitem(app.config, "TWILIO_API_BASE", closed_port_url())
    error = send_error()
    assert error.retryable is True
    assert sms_config.auth_token not in str(error)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retryable(sms_config, status):
    sms_config.respond(status, "upstream trouble")
    error = send_error()
    assert error.retryable is True
    assert f"HTTP {status}" in str(error)


def test_429_is_retryable_and_says_when(sms_config):
    sms_config.respond(429, {"code": 20429, "message": "Too Many Requests", "status": 429},
                       headers={"Retry-After": "30"})
    error = send_error()
    assert error.retryable is True
    assert "HTTP 429" in str(error) and "20429" in str(error) and "retry after 30" in str(error)


def test_400_carries_twilio_code_and_message(sms_config):
    sms_config.respond(400, {"code": 21211, "message": "The 'To' number +447700900123 is not a valid phone number.",
                             "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400})
    error = send_error()
    assert error.retryable is False
    assert "HTTP 400" in str(error)
    assert "21211" in str(error)
    assert "is not a valid phone number" in str(error)


def test_400_without_json_body(sms_config):
    sms_config.respond(400, "<html>Bad Request</html>")
    error = send_error()
    assert error.retryable is False
    assert "HTTP 400" in str(error)


def test_wrong_credentials_not_retryable_and_token_not_shown(app, monkeypatch, sms_config):
    wrong = "wrong-" + sms_config.auth_token[:10]
    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", wrong)
    error = send_error()
    assert sms_config.requests[0].basic_auth() == (sms_config.account_sid, wrong)
    assert error.retryable is False
    assert "HTTP 401" in str(error) and "TWILIO_AUTH_TOKEN" in str(error)
    assert wrong not in str(error)
    assert wrong not in repr(error.args)


def test_auth_token_never_in_error_text(sms_config):
    token = sms_config.auth_token
    basic = base64.b64encode(f"{sms_config.account_sid}:{token}".encode()).decode()
    # a provider that echoes what it got must not leak it through us
    sms_config.respond(400, {"code": 20001, "message": f"bad request from {token} ({basic})"})
    sms_config.respond(503, {"code": 20503, "message": f"unavailable for {token}"})
    for expected_retryable in (False, True):
        error = send_error()
        assert error.retryable is expected_retryable
        assert token not in str(error) and basic not in str(error)
        assert "[redacted]" in str(error)
