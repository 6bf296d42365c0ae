"""Bearer-token authentication, staff tokens' limits, and per-user / per-IP rate limits for the API.

A staff token (app.auth.tokens) reads like any token, but changes nothing through the investor routes: every
POST/PUT/PATCH/DELETE answers 403 unless the view is a staff operation (`staff_only`) or named in STAFF_WRITABLE
(signing out, notifications). Deposits, payouts, bank accounts, investing, the market, statements, exports and
closing the account are thus refused to staff tokens, and so is any such route added later."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, current_app, g, request
from flask_limiter.util import get_remote_address

from app.auth import services as auth
from app.core.errors import Forbidden
from app.core.logs import user_id_var
from app.core.security import has_permission

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# the investor routes that change something and a staff token may still use: none of them moves money
STAFF_WRITABLE = frozenset({
    "api_auth.revoke_token",
    "api_notifications.read_notification", "api_notifications.read_all",
    "api_notifications.register_device", "api_notifications.forget_device",
})
STAFF_REFUSED = "Staff tokens cannot move money or act as an investor: use these routes with an investor account."


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


def staff_may_call(view: Callable[..., Any] | None, endpoint: str | None, method: str) -> bool:
    """Whether a staff token may call this operation (reads, staff operations, STAFF_WRITABLE)."""
    return (method in SAFE_METHODS or endpoint in STAFF_WRITABLE
            or (view is not None and getattr(view, "_staff_api", False)))


def require_token():
    """before_request of every API blueprint: 401 unless the view is public or a valid token is presented; 403
    for a staff token on a route that changes an investor's things (see the module's doc)."""
    view = current_app.view_functions.get(request.endpoint)
    if view is None or getattr(view, "_api_public", False) or request.method == "OPTIONS":
        return None
    token = resolve_token()
    if token is None:
        abort(401, description="A valid bearer token is required.")
    if token.staff and not staff_may_call(view, request.endpoint, request.method):
        abort(403, description=STAFF_REFUSED)
    return None


def staff_only(permission: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A staff operation: the token must be a staff token whose user has `permission` through their current
    roles; anyone else gets 403 (an investor's token included)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            token = resolve_token()
            if token is None or not token.staff:
                raise Forbidden("this needs a staff token")
            if not has_permission(token.user, permission):
                raise Forbidden(f"this needs the {permission} permission")
            return view(*args, **kwargs)

        wrapped._staff_api = True  # type: ignore[attr-defined]  # require_token lets staff tokens through
        wrapped._staff_permission = permission  # type: ignore[attr-defined]
        return wrapped

    return decorate


def rate_limit_key() -> str:
    token = resolve_token()
    return f"api:user:{token.user_id}" if token is not None else f"api:ip:{get_remote_address()}"


def rate_limit_value() -> str:
    cfg = current_app.config
    return cfg["API_RATE_LIMIT_USER"] if resolve_token() is not None else cfg["API_RATE_LIMIT_ANONYMOUS"]


