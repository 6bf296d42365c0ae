"""Error tracking with Sentry (any server that speaks its protocol), on when SENTRY_DSN is set.

Errors of the web processes (Flask) and of tasks (Celery) are reported with the release (the package's version),
the environment (SENTRY_ENVIRONMENT, else the configuration's name) and the request they happened in, stripped of
what could carry a secret before anything leaves the process (`scrub`): no request body, no cookies, no
Authorization or Cookie header, no token in a query string or in an access link's path, no local variables of the
stack frames, no command line, and log messages and breadcrumbs pass the log's own redaction. Performance tracing is off unless
SENTRY_TRACES_SAMPLE_RATE is above 0."""
from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sentry_sdk
from flask import Flask, has_request_context, request
from sentry_sdk.integrations.argv import ArgvIntegration
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.flask import FlaskIntegration

from app.core.logs import redact

FILTERED = "[Filtered]"
SECRET_HEADERS = {"authorization", "cookie", "set-cookie", "proxy-authorization", "x-api-key", "x-csrftoken",
                  "x-csrf-token", "idempotency-key"}
SECRET_KEY = re.compile(r"(?i)pass|secret|token|otp|code|key|sig|auth|session|iban|account")
_configured: list[tuple[Any, ...]] = []  # the options the process's client was made with


def release() -> str | None:
    try:
        return importlib.metadata.version("freehold")
    except importlib.metadata.PackageNotFoundError:
        return None


def init_app(app: Flask) -> None:
    """Start the client when SENTRY_DSN is set (once per process: another app with the same settings, as tests
    and `flask` commands build, reuses it)."""
    dsn = app.config.get("SENTRY_DSN")
    if not dsn:
        return
    environment = app.config.get("SENTRY_ENVIRONMENT") or app.config.get("CONFIG_NAME")
    rate = float(app.config.get("SENTRY_TRACES_SAMPLE_RATE") or 0)
    options = (dsn, environment, rate)
    if _configured and _configured[-1] == options and sentry_sdk.get_client().is_active():
        return
    sentry_sdk.init(
        dsn=dsn,
        release=release(),
        environment=environment,
        traces_sample_rate=rate,
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,
        before_send=cast(Any, scrub),
        before_breadcrumb=cast(Any, _scrub_breadcrumb),
        integrations=[FlaskIntegration(transaction_style="url"), CeleryIntegration()],
        # the command line may carry a secret (`flask users create --password ...`)
        disabled_integrations=[ArgvIntegration()],
    )
    _configured[:] = [options]


def shutdown() -> None:
    """Send what is queued and stop reporting (the process's client becomes a non-recording one)."""
    client = sentry_sdk.get_client()
    if client.is_active():
        client.close(timeout=2)
    sentry_sdk.get_global_scope().set_client(None)
    sentry_sdk.get_isolation_scope().set_client(None)
    sentry_sdk.get_current_scope().set_client(None)
    _configured.clear()


def scrub(event: dict[str, Any], hint: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """before_send: the event as it may leave the process."""
    request = event.get("request")
    if isinstance(request, dict):
        for key in ("data", "cookies", "env"):
            request.pop(key, None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {name: FILTERED if name.lower() in SECRET_HEADERS else value
                                  for name, value in headers.items()}
        if request.get("query_string"):
            request["query_string"] = scrub_query(request["query_string"])
        if isinstance(request.get("url"), str):
            request["url"] = _url_without_path_values(request["url"])
    extra = event.get("extra")
    if isinstance(extra, dict):
        extra.pop("sys.argv", None)
    for entry in (event.get("exception") or {}).get("values") or []:
        if isinstance(entry.get("value"), str):
            entry["value"] = redact(entry["value"])
        for frame in (entry.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    logentry = event.get("logentry")
    if isinstance(logentry, dict):
        for key in ("message", "formatted"):
            if isinstance(logentry.get(key), str):
                logentry[key] = redact(logentry[key])
        logentry.pop("params", None)
    if isinstance(event.get("message"), str):
        event["message"] = redact(event["message"])
    crumbs = event.get("breadcrumbs")
    values = crumbs.get("values") if isinstance(crumbs, dict) else crumbs
    for crumb in values or []:
        _scrub_breadcrumb(crumb)
    if isinstance(event.get("transaction"), str):
        event["transaction"] = redact(event["transaction"])
    return event


def _url_without_path_values(url: str) -> str:
    """The address with the route pattern for a path (`/password/reset/<token>`), as the request log has it; no
    query (it is reported apart, scrubbed)."""
    parts = urlsplit(url)
    if has_request_context():  # before_send runs where the error was captured
        rule = request.url_rule.rule if request.url_rule is not None else "<no route>"
        return urlunsplit((parts.scheme, parts.netloc, rule, "", ""))
    return redact(urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")))


def scrub_query(query: str | Mapping[str, Any]) -> str:
    """A query string with the value of every parameter whose name could mean a secret filtered."""
    pairs = parse_qsl(query, keep_blank_values=True) if isinstance(query, str) else list(query.items())
    return urlencode([(name, FILTERED if SECRET_KEY.search(name) else value) for name, value in pairs])


def _scrub_breadcrumb(crumb: dict[str, Any], hint: Mapping[str, Any] | None = None) -> dict[str, Any]:
    if isinstance(crumb.get("message"), str):
        crumb["message"] = redact(crumb["message"])
    data = crumb.get("data")
    if isinstance(data, dict):
        if isinstance(data.get("url"), str):
            data["url"] = redact(data["url"].split("?", 1)[0])
        if data.get("http.query"):
            data["http.query"] = scrub_query(str(data["http.query"]))
        data.pop("params", None)
    return crumb
