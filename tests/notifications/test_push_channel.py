"""FcmPush against fake Google OAuth and FCM v1 endpoints on 127.0.0.1, with a service-account key made here."""
from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from app.notifications.channels.base import ChannelError, OutgoingMessage
from app.notifications.channels.push import DeviceGone, FcmPush
from tests.notifications.fakes import FCM_SCOPE, JWT_BEARER, FakeGoogle

DEVICE = "fcm-device-token-" + "x" * 140


def closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


def message(**overrides) -> OutgoingMessage:
    fields = {"to": DEVICE, "body": "Your March return of $12.40 was paid.", "subject": "Return paid",
              "data": {"event": "return_paid", "investment_id": "42"}}
    fields.update(overrides)
    return OutgoingMessage(**fields)


def send_error(msg=None) -> ChannelError:
    with pytest.raises(ChannelError) as caught:
        FcmPush().send(msg or message())
    return caught.value


def key_material(fake: FakeGoogle) -> list[str]:
    """The PEM and a few lines of its body: none of them may show up in an error."""
    pem = fake.service_account_info()["private_key"]
    lines = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    return [pem, lines[1], lines[len(lines) // 2], lines[-2]]


def assert_no_secrets(error: Exception, fake: FakeGoogle) -> None:
    text = str(error) + repr(error.args)
    for secret in key_material(fake) + fake.issued:
        assert secret not in text


# enabled --------------------------------------------------------------------------------------------------------
def test_off_by_default(app):
    assert app.config["PUSH_PROVIDER"] is None
    assert FcmPush().enabled() is False
    assert FcmPush.name == "push"


def test_off_without_credentials_file(app, monkeypatch, push_config):
    assert FcmPush().enabled() is True
    monkeypatch.setitem(app.config, "FCM_CREDENTIALS_FILE", None)
    assert FcmPush().enabled() is False


@pytest.mark.parametrize("provider", [None, "", "apns", "none"])
def test_off_unless_provider_is_fcm(app, monkeypatch, push_config, provider):
    monkeypatch.setitem(app.config, "PUSH_PROVIDER", provider)
    assert FcmPush().enabled() is False


def test_send_refused_when_off(app, fake_google):
    error = send_error()
    assert error.retryable is False
    assert fake_google.requests == []


# success --------------------------------------------------------------------------------------------------------
def test_send_gets_token_then_posts_message(push_config):
    fake = push_config
    name = FcmPush().send(message())

    token_request, send_request = fake.requests
    assert token_request.path == "/token"
    assert token_request.form()["grant_type"] == JWT_BEARER
    assert fake.assertions[0]["iss"] == fake.client_email
    assert fake.assertions[0]["scope"] == FCM_SCOPE

    assert send_request.method == "POST"
    assert send_request.path == f"/v1/projects/{fake.project_id}/messages:send"
    assert send_request.headers["content-type"] == "application/json"
    assert send_request.bearer() == fake.issued[0]
    assert send_request.json() == {"message": {
        "token": DEVICE,
        "notification": {"title": "Return paid", "body": "Your March return of $12.40 was paid."},
        "data": {"event": "return_paid", "investment_id": "42"},
    }}
    assert name.startswith(f"projects/{fake.project_id}/messages/")


def test_data_values_become_strings_and_title_is_optional(push_config):
    FcmPush().send(message(subject=None, data={"amount_minor": 1240, "urgent": True, "note": None}))
    sent = push_config.send_requests[0].json()["message"]
    assert sent["notification"] == {"body": "Your March return of $12.40 was paid."}
    assert sent["data"] == {"amount_minor": "1240", "urgent": "True", "note": ""}


def test_no_data_key_without_data(push_config):
    FcmPush().send(message(data={}))
    assert "data" not in push_config.send_requests[0].json()["message"]


def test_token_fetched_once_and_reused(push_config):
    first = FcmPush().send(message())
    second = FcmPush().send(message(body="Another one"))  # a new channel object shares the process cache

    assert first != second
    assert len(push_config.token_requests) == 1
    assert [r.bearer() for r in push_config.send_requests] == [push_config.issued[0]] * 2


def test_token_close_to_expiry_is_refreshed(push_config):
    push_config.expires_in = 60  # inside google-auth's refresh margin: never considered valid
    FcmPush().send(message())
    FcmPush().send(message())
    assert len(push_config.token_requests) == 2
    assert [r.bearer() for r in push_config.send_requests] == push_config.issued


def test_project_id_from_config_wins(app, monkeypatch, push_config):
    monkeypatch.setitem(app.config, "FCM_PROJECT_ID", "another-project")
    error = send_error()
    assert push_config.send_requests[0].path == "/v1/projects/another-project/messages:send"
    # the fake denies other projects: a configuration problem, not retried
    assert error.retryable is False
    assert "HTTP 403" in str(error) and "configuration" in str(error)


# failures of the send ---------------------------------------------------------------------------------------------
def test_timeout_is_retryable(app, monkeypatch, push_config):
    monkeypatch.setitem(app.config, "PUSH_TIMEOUT_SECONDS", 0.3)
    push_config.respond_send(200, {"name": "late"}, delay=3)
    started = time.monotonic()
    error = send_error()
    assert time.monotonic() - started < 2
    assert error.retryable is True
    assert not isinstance(error, DeviceGone)


def test_fcm_unreachable_is_retryable(app, monkeypatch, push_config):
    FcmPush().send(message())  # token cached
    monkeypatch.setitem(app.config, "FCM_API_BASE", closed_port_url())
    error = send_error()
    assert error.retryable is True
    assert_no_secrets(error, push_config)


@pytest.mark.parametrize("status, rpc, code", [
    (500, "INTERNAL", "INTERNAL"),
    (503, "UNAVAILABLE", "UNAVAILABLE"),
    (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
])
def test_server_errors_and_quota_are_retryable(push_config, status, rpc, code):
    push_config.respond_send(status, FakeGoogle.fcm_error(status, rpc, "try later", code),
                             headers={"Retry-After": "12"})
    error = send_error()
    assert error.retryable is True
    assert not isinstance(error, DeviceGone)
    assert f"HTTP {status}" in str(error) and code in str(error) and "retry after 12" in str(error)


def test_500_without_json_is_retryable(push_config):
    push_config.respond_send(502, "<html>Bad Gateway</html>")
    assert send_error().retryable is True


def test_unregistered_device_is_gone(push_config):
    push_config.respond_send(404, FakeGoogle.fcm_error(404, "NOT_FOUND", "Requested entity was not found.",
                                                       "UNREGISTERED"))
    error = send_error()
    assert isinstance(error, DeviceGone) and isinstance(error, ChannelError)
    assert error.retryable is False
    assert "UNREGISTERED" in str(error) and "no longer registered" in str(error)
    assert DEVICE not in str(error)


def test_not_found_status_alone_is_gone(push_config):
    push_config.respond_send(404, FakeGoogle.fcm_error(404, "NOT_FOUND", "Requested entity was not found."))
    assert isinstance(send_error(), DeviceGone)


def test_invalid_argument_is_permanent_but_not_gone(push_config):
    push_config.respond_send(400, FakeGoogle.fcm_error(
        400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token",
        "INVALID_ARGUMENT"))
    error = send_error()
    assert error.retryable is False
    assert not isinstance(error, DeviceGone)
    assert "INVALID_ARGUMENT" in str(error) and "not a valid FCM registration token" in str(error)


def test_404_without_fcm_error_is_permanent_but_not_gone(push_config):
    push_config.respond_send(404, "<html>Not Found</html>")
    error = send_error()
    assert error.retryable is False
    assert not isinstance(error, DeviceGone)
    assert "FCM_API_BASE" in str(error)


def test_401_is_a_configuration_problem_and_drops_the_token(push_config):
    push_config.respond_send(401, FakeGoogle.fcm_error(401, "UNAUTHENTICATED",
                                                       "Request had invalid authentication credentials."))
    error = send_error()
    assert error.retryable is False
    assert not isinstance(error, DeviceGone)
    assert "HTTP 401" in str(error) and "configuration problem" in str(error)
    assert_no_secrets(error, push_config)

    FcmPush().send(message())  # a fresh token, not the refused one
    assert len(push_config.token_requests) == 2
    assert push_config.send_requests[1].bearer() == push_config.issued[1]


def test_403_sender_mismatch_is_a_configuration_problem(push_config):
    push_config.respond_send(403, FakeGoogle.fcm_error(403, "PERMISSION_DENIED", "SenderId mismatch",
                                                       "SENDER_ID_MISMATCH"))
    error = send_error()
    assert error.retryable is False
    assert not isinstance(error, DeviceGone)
    assert "configuration problem" in str(error)


def test_provider_echo_of_token_is_redacted(push_config):
    FcmPush().send(message())
    token = push_config.issued[0]
    push_config.respond_send(400, FakeGoogle.fcm_error(400, "INVALID_ARGUMENT", f"bad header Bearer {token}"))
    error = send_error()
    assert token not in str(error) and "[redacted]" in str(error)


def test_empty_device_token_refused_without_request(push_config):
    error = send_error(message(to=" "))
    assert error.retryable is False
    assert push_config.requests == []


# failures to get a token ------------------------------------------------------------------------------------------
def test_token_endpoint_refusal_is_retryable_and_nothing_is_sent(push_config):
    push_config.respond_token(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
    error = send_error()
    assert error.retryable is True
    assert "access token" in str(error) and "invalid_grant" in str(error)
    assert push_config.send_requests == []
    assert_no_secrets(error, push_config)

    FcmPush().send(message())  # works once the token endpoint does
    assert len(push_config.token_requests) == 2


def test_token_endpoint_unreachable_is_retryable(app, monkeypatch, push_config, tmp_path):
    info = push_config.service_account_info() | {"token_uri": closed_port_url() + "/token"}
    path = tmp_path / "unreachable.json"
    path.write_text(json.dumps(info))
    monkeypatch.setitem(app.config, "FCM_CREDENTIALS_FILE", str(path))
    error = send_error()
    assert error.retryable is True
    assert "access token" in str(error)
    assert push_config.requests == []
    assert_no_secrets(error, push_config)


def test_token_endpoint_timeout_is_retryable(app, monkeypatch, push_config):
    monkeypatch.setitem(app.config, "PUSH_TIMEOUT_SECONDS", 0.3)
    push_config.respond_token(200, {"access_token": "late", "expires_in": 3600}, delay=3)
    started = time.monotonic()
    error = send_error()
    assert time.monotonic() - started < 2
    assert error.retryable is True
    assert push_config.send_requests == []


def test_missing_credentials_file_is_permanent(app, monkeypatch, push_config, tmp_path):
    monkeypatch.setitem(app.config, "FCM_CREDENTIALS_FILE", str(tmp_path / "nowhere.json"))
    error = send_error()
    assert error.retryable is False
    assert "nowhere.json" in str(error)
    assert push_config.requests == []


def test_broken_key_file_is_permanent_and_does_not_show_the_key(app, monkeypatch, push_config, tmp_path):
    info = push_config.service_account_info()
    pem_lines = info["private_key"].splitlines()
    info["private_key"] = "\n".join([*pem_lines[:5], "!!not base64!!", *pem_lines[6:]])
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(info))
    monkeypatch.setitem(app.config, "FCM_CREDENTIALS_FILE", str(path))
    error = send_error()
    assert error.retryable is False
    assert "broken.json" in str(error)
    assert push_config.requests == []
    assert_no_secrets(error, push_config)


def test_project_id_required(app, monkeypatch, push_config, tmp_path):
    info = push_config.service_account_info()
    del info["project_id"]
    path = tmp_path / "no-project.json"
    path.write_text(json.dumps(info))
    monkeypatch.setitem(app.config, "FCM_CREDENTIALS_FILE", str(path))
    error = send_error()
    assert error.retryable is False
    assert "FCM_PROJECT_ID" in str(error)
    assert push_config.requests == []


def test_rewritten_key_file_is_reloaded(push_config):
    FcmPush().send(message())
    path = Path(push_config.credentials_file)
    info = json.loads(path.read_text()) | {"client_email": "rotated@freehold-test.iam.gserviceaccount.com"}
    path.write_text(json.dumps(info))
    push_config.client_email = info["client_email"]
    FcmPush().send(message())
    assert [a["iss"] for a in push_config.assertions] == ["push@freehold-test.iam.gserviceaccount.com",
                                                          "rotated@freehold-test.iam.gserviceaccount.com"]
