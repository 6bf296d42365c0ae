"""Browser hardening on every response (portal, console, API, errors, static files, probes).

A Content-Security-Policy whose scripts come from this site or carry the request's nonce (never inline handlers,
never `eval`), `frame-ancestors 'none'`, nosniff, a referrer policy, a permissions policy, X-Frame-Options as the
fallback of older browsers, and HSTS under the production configuration.

Templates put `nonce="{{ csp_nonce() }}"` on each `<script>` and `<style>` element they write; data for scripts
travels in `data-*` attributes or a `<script type="application/json">` block, never inside JavaScript.

A page that needs another policy gets it narrowly: `@csp(frame_ancestors="'self'")` on its view (above or below
`@expose`/`@route`, the attribute survives functools.wraps), or `csp_for(app, endpoint, ...)` for a view defined
elsewhere. Each keyword replaces one directive (underscores become dashes); `None` drops it.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request

F = TypeVar("F", bound=Callable[..., Any])

HSTS = "max-age=63072000; includeSubDomains"
PERMISSIONS_POLICY = ", ".join(f"{feature}=()" for feature in (
    "accelerometer", "camera", "display-capture", "geolocation", "gyroscope", "magnetometer", "microphone",
    "midi", "payment", "usb", "interest-cohort"))

# The one policy. Styles: stylesheets from this site, `<style>` elements with the nonce (style-src-elem), and no
# style attribute in markup (style-src-attr 'none': a bar's width is set by script through the element's style
# property, static/js/widths.js, which CSP does not govern). The console keeps style attributes (CONSOLE_STYLES):
# Flask-Admin's widgets (Select2, the date-range picker) write them into the markup they build.
BASE_POLICY: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self' 'nonce-{nonce}'",
    "style-src": "'self'",
    "style-src-elem": "'self' 'nonce-{nonce}'",
    "style-src-attr": "'none'",
    "img-src": "'self' data: {media}",
    "frame-src": "'self' {media}",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}

CONSOLE_PREFIX = "/admin"
CONSOLE_STYLES: dict[str, str | None] = {"style-src-attr": "'unsafe-inline'"}

_ATTRIBUTE = "_csp_directives"
_EXTENSION = "csp_by_endpoint"


def csp(**directives: str | None) -> Callable[[F], F]:
    """Give one view its own directives (`script_src="'self' https://x"`, `frame_ancestors="'self'"`, ...)."""
    def decorate(view: F) -> F:
        setattr(view, _ATTRIBUTE, _dashed(directives))
        return view
    return decorate


def csp_for(app: Flask, endpoint: str, **directives: str | None) -> None:
    """The same as @csp, for a view registered by endpoint name (a Flask-Admin or another blueprint's view)."""
    app.extensions.setdefault(_EXTENSION, {})[endpoint] = _dashed(directives)


def _dashed(directives: dict[str, str | None]) -> dict[str, str | None]:
    return {name.replace("_", "-"): value for name, value in directives.items()}


def csp_nonce() -> str:
    """This request's nonce (made on first use); a fresh one on every request."""
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(18)
    return str(nonce)


def media_origins(config: Any) -> str:
    """Where photos and documents may be redirected to: the S3 endpoint when files live in a bucket."""
    if str(config.get("STORAGE_BACKEND") or "local").strip().lower() != "s3":
        return ""
    endpoint = config.get("S3_ENDPOINT_URL")
    if endpoint:
        parts = urlsplit(str(endpoint))
        return f"{parts.scheme}://{parts.netloc}"
    region = config.get("S3_REGION")
    return f"https://s3.{region}.amazonaws.com" if region else "https://s3.amazonaws.com"


def _overrides() -> dict[str, str | None]:
    area = dict(CONSOLE_STYLES) if request.path == CONSOLE_PREFIX or request.path.startswith(CONSOLE_PREFIX + "/") \
        else {}
    endpoint = request.endpoint
    if not endpoint:
        return area
    by_endpoint = current_app.extensions.get(_EXTENSION, {})
    if endpoint in by_endpoint:
        return {**area, **by_endpoint[endpoint]}
    view = current_app.view_functions.get(endpoint)
    return {**area, **(getattr(view, _ATTRIBUTE, None) or {})}


def policy() -> str:
    directives: dict[str, str | None] = {**BASE_POLICY, **_overrides()}
    values = {"nonce": csp_nonce(), "media": media_origins(current_app.config)}
    parts = []
    for name, value in directives.items():
        if value is None:
            continue
        text = " ".join(value.format(**values).split())
        parts.append(f"{name} {text}" if text else name)
    return "; ".join(parts)


def set_security_headers(response: Response) -> Response:
    """A header the view set itself (a served document's sandboxing policy, its no-referrer) is kept."""
    headers = response.headers
    own_policy = headers.get("Content-Security-Policy")
    if own_policy is None:
        headers["Content-Security-Policy"] = policy()
        ancestors = _overrides().get("frame-ancestors", BASE_POLICY["frame-ancestors"])
    else:
        ancestors = _directive(own_policy, "frame-ancestors") or "'none'"
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer" if _carries_token() else "strict-origin-when-cross-origin")
    headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    frame_options = {"'none'": "DENY", "'self'": "SAMEORIGIN"}.get(str(ancestors))
    if frame_options:
        headers.setdefault("X-Frame-Options", frame_options)
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if current_app.config.get("CONFIG_NAME") == "production":
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def _carries_token() -> bool:
    """A page whose address holds a secret (a password-reset or verification link) sends no referrer at all."""
    return bool(request.view_args and "token" in request.view_args)


def _directive(text: str, name: str) -> str | None:
    for part in text.split(";"):
        words = part.split()
        if words and words[0].lower() == name:
            return " ".join(words[1:])
    return None


def init_security_headers(app: Flask) -> None:
    app.after_request(set_security_headers)
    app.add_template_global(csp_nonce)
