"""Bearer-token authentication and per-user / per-IP rate limits for the API."""
from __future__ import annotations

from flask import abort, current_app, g, request
from flask_limiter.util import get_remote_address

from app.auth import services as auth
from app.core.logs import user_id_var


def public(view):
    """Mark an API view that needs no token."""
    view._api_public = True
    return view


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def resolve_token():
    """The valid ApiToken presented with this request, or None. Cached for the request."""
    if "api_token" not in g:
        raw = _bearer()
        g.api_token = auth.token_for(raw) if raw else None
        if g.api_token is not None:
            user_id_var.set(g.api_token.user_id)  # this request's log lines name the token's user
    return g.api_token


def current_api_user():
    token = resolve_token()
    return token.user if token is not None else None


def require_token():
    """before_request of every API blueprint: 401 unless the view is public or a valid token is presented."""
    view = current_app.view_functions.get(request.endpoint)
    if view is None or getattr(view, "_api_public", False) or request.method == "OPTIONS":
        return None
    if resolve_token() is None:
        abort(401, description="A valid bearer token is required.")
    return None


def rate_limit_key() -> str:
    token = resolve_token()
    return f"api:user:{token.user_id}" if token is not None else f"api:ip:{get_remote_address()}"


def rate_limit_value() -> str:
    cfg = current_app.config
    return cfg["API_RATE_LIMIT_USER"] if resolve_token() is not None else cfg["API_RATE_LIMIT_ANONYMOUS"]


