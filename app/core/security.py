"""Role checks shared by the portal, the console and the API."""
from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user

INVESTOR = "investor"
ADMIN = "admin"
COMPLIANCE = "compliance"
FINANCE = "finance"
PROPERTY_MANAGER = "property_manager"
SUPPORT = "support"

ROLES = (INVESTOR, ADMIN, COMPLIANCE, FINANCE, PROPERTY_MANAGER, SUPPORT)
STAFF_ROLES = frozenset({ADMIN, COMPLIANCE, FINANCE, PROPERTY_MANAGER, SUPPORT})


def role_required(*roles: str):
    """Allow the view only to a signed-in user holding one of `roles` (401 -> login, 403 otherwise)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                abort(401)
            if not current_user.has_any_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator
