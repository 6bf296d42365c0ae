"""The edge of the application: which Host names it answers to and which proxies it believes.

- TRUSTED_HOSTS (Flask's own setting, checked by Flask and Werkzeug when a request's URL adapter is made): a request
  for any other Host is answered 400, before any view, sign-in or rate limit runs. The answer is built without a
  URL or a template (both would need the very Host that was refused): a JSON envelope under /api/ and /webhooks/,
  a short plain page elsewhere. The health probes are not exempt: a probe sends a trusted Host (see operations.md).
- TRUSTED_PROXIES: the number of proxies in front that append to X-Forwarded-For/-Proto/-Host/-Port. Only then is
  Werkzeug's ProxyFix installed, so `request.remote_addr` is the client (rate limits, lockouts, sign-in records and
  the audit all read it); with 0 those headers are ignored and `remote_addr` is the connecting peer.

Links that leave the site never come from the Host at all: they are built from BASE_URL (app.core.urls). As a
safety net for code that still asks Flask for an absolute URL (`url_for(..., _external=True)`, in ours or in a
library), each request's URL adapter builds those under BASE_URL's scheme and host too; relative links and routing
are untouched.
"""
from __future__ import annotations

import json
from urllib.parse import urlsplit

from flask import Flask, Response, request
from flask.globals import request_ctx
from werkzeug.exceptions import SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix

from app.core.urls import base_url

UNTRUSTED_HOST_MESSAGE = "This address is not served here."
_PAGE = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Bad request</title></head>"
         f"<body><h1>Bad request</h1><p>{UNTRUSTED_HOST_MESSAGE}</p></body></html>")


def init_perimeter(app: Flask) -> None:
    hosts = [str(h).strip().lower() for h in app.config.get("TRUSTED_HOSTS") or () if str(h).strip()]
    app.config["TRUSTED_HOSTS"] = hosts or None  # None: any host (development); Flask checks the list itself
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies < 0:
        raise RuntimeError("TRUSTED_PROXIES must be 0 or more")
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies,  # type: ignore[method-assign]
                                x_host=proxies, x_port=proxies)
    # first of all before-request functions: a refused Host stops the request before sessions, sign-in, CSRF or
    # rate limits look at it (each of them might read the Host, or write something)
    app.before_request_funcs.setdefault(None, []).insert(0, _perimeter)
    app.register_error_handler(SecurityError, untrusted_host)


def _perimeter() -> None:
    if isinstance(request.routing_exception, SecurityError):
        raise request.routing_exception
    adapter = request_ctx.url_adapter
    if adapter is not None:  # the request is routed already: only what absolute URLs are built with changes
        own = urlsplit(base_url())
        adapter.server_name, adapter.url_scheme = own.netloc.lower(), own.scheme


def untrusted_host(exc: SecurityError) -> Response:
    """400 without url_for or templates (there is no URL adapter for a refused Host)."""
    if request.path.startswith(("/api/", "/webhooks/")):
        body = json.dumps({"status": "error", "message": UNTRUSTED_HOST_MESSAGE, "errors": None})
        return Response(body, status=400, mimetype="application/json")
    return Response(_PAGE, status=400, mimetype="text/html")
