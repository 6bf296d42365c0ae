"""Error tracking: with SENTRY_DSN set, an unhandled error reaches the Sentry server (here a small HTTP server on
loopback that speaks the envelope protocol) with the release and the exception, and without the secrets the
request carried (cookie, Authorization header, form body, a token in the query string or the path)."""
from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sentry_sdk

from app.core import error_tracking
from tests.support import build_app

COOKIE_SECRET = "cookie-secret-5f1e2d"
BEARER_SECRET = "bearer-secret-9a8b7c6d"
FORM_SECRET = "form-password-3c4d5e"
QUERY_SECRET = "query-token-7e6f5a"
PATH_SECRET = "path-token-1a2b3c4d"


class SentryServer:
    """Accepts POST /api/<project>/envelope/ and keeps every item it receives."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.paths: list[str] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                received.paths.append(self.path)
                received.bodies.append(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def items(self) -> list[tuple[dict, bytes]]:
        """Every (item header, payload) of every envelope received."""
        found = []
        for body in self.bodies:
            rest = body.split(b"\n", 1)[1] if b"\n" in body else b""
            while rest.strip():
                header_line, _, rest = rest.partition(b"\n")
                header = json.loads(header_line)
                if "length" in header:
                    payload, rest = rest[:header["length"]], rest[header["length"]:].lstrip(b"\n")
                else:
                    payload, _, rest = rest.partition(b"\n")
                found.append((header, payload))
        return found

    def events(self) -> list[dict]:
        return [json.loads(payload) for header, payload in self.items() if header.get("type") == "event"]


@pytest.fixture
def sentry_server():
    server = SentryServer()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def tracked_app(app, sentry_server, monkeypatch):
    """An app with SENTRY_DSN pointing at the local server; afterwards the process reports nothing any more and the
    suite's app gets Celery's current app and the rate limiter back."""
    from celery import _state

    from app.extensions import limiter

    monkeypatch.setattr(_state._tls, "current_app", getattr(_state._tls, "current_app", None))
    monkeypatch.setattr(_state, "default_app", _state.default_app)
    for name, value in list(vars(limiter).items()):
        monkeypatch.setattr(limiter, name, value)
    try:
        yield build_app(app.config["SQLALCHEMY_DATABASE_URI"], WTF_CSRF_ENABLED=False,
                        SENTRY_DSN=f"http://key@127.0.0.1:{sentry_server.port}/1", SENTRY_ENVIRONMENT="test-env")
    finally:
        error_tracking.shutdown()
    assert not sentry_sdk.get_client().is_active()


def test_an_unhandled_error_reaches_sentry_without_the_requests_secrets(tracked_app, sentry_server):
    @tracked_app.post("/test-boom/<token>")
    def boom(token):
        raise RuntimeError("the view failed")

    http = tracked_app.test_client()
    http.set_cookie("session", COOKIE_SECRET)
    response = http.post(f"/test-boom/{PATH_SECRET}?token={QUERY_SECRET}&page=2",
                         data={"password": FORM_SECRET, "email": "x@example.com"},
                         headers={"Authorization": f"Bearer {BEARER_SECRET}", "X-Request-ID": "sentry-req-0001"})
    assert response.status_code == 500
    sentry_sdk.flush(timeout=5)
    deadline = time.monotonic() + 5
    while not sentry_server.events() and time.monotonic() < deadline:
        time.sleep(0.05)

    [event] = sentry_server.events()
    assert sentry_server.paths[0] == "/api/1/envelope/"
    assert event["release"] == error_tracking.release() and event["release"]
    assert event["environment"] == "test-env"
    [exception] = event["exception"]["values"]
    assert exception["type"] == "RuntimeError" and exception["value"] == "the view failed"
    assert event["request"]["method"] == "POST"
    assert event["request"]["headers"].get("Authorization") == error_tracking.FILTERED
    assert "page=2" in event["request"]["query_string"]
    assert event["request"]["url"] == "http://localhost/test-boom/<token>"
    assert "sys.argv" not in event.get("extra", {})  # a command line may carry a password
    everything = b"\n".join(sentry_server.bodies).decode()
    for secret in (COOKIE_SECRET, BEARER_SECRET, FORM_SECRET, QUERY_SECRET, PATH_SECRET):
        assert secret not in everything


def test_without_a_dsn_nothing_is_started(app):
    assert app.config.get("SENTRY_DSN") is None
    assert not sentry_sdk.get_client().is_active()


def test_the_scrubber_on_its_own():
    event = {"request": {"url": "https://x/password/reset/abc.def?token=t", "query_string": "token=t&q=flat",
                         "cookies": {"session": "s"}, "data": {"password": "p"}, "env": {"REMOTE_ADDR": "1.2.3.4"},
                         "headers": {"Cookie": "session=s", "Authorization": "Bearer t", "Accept": "text/html"}},
             "breadcrumbs": {"values": [{"message": "login password=p", "data": {"url": "https://x/verify-email/v?a=1"}}]},
             "exception": {"values": [{"type": "E", "value": "failed for /password/reset/abc",
                                       "stacktrace": {"frames": [{"function": "f", "vars": {"password": "p"}}]}}]}}
    scrubbed = error_tracking.scrub(event)
    request = scrubbed["request"]
    assert request["url"] == "https://x/password/reset/[redacted]"
    assert request["query_string"] == "token=%5BFiltered%5D&q=flat"
    assert not {"cookies", "data", "env"} & set(request)
    assert request["headers"] == {"Cookie": "[Filtered]", "Authorization": "[Filtered]", "Accept": "text/html"}
    crumb = scrubbed["breadcrumbs"]["values"][0]
    assert crumb["message"] == "login password=[redacted]" and crumb["data"]["url"] == "https://x/verify-email/[redacted]"
    value = scrubbed["exception"]["values"][0]
    assert value["value"] == "failed for /password/reset/[redacted]" and "vars" not in value["stacktrace"]["frames"][0]
