"""The console's refusal: 403, audited in a unit of work of its own."""
from __future__ import annotations

from flask import abort, request
from flask_login import current_user

from app.core.audit import record
from app.core.db import in_unit_of_work, unit_of_work

FORBIDDEN = "console.forbidden"


def refuse(permission: str | None):
    """403 for a signed-in user who lacks what the console page or action needs, audited (who, what, which
    permission) in a unit of work of its own: a staff member trying pages beyond their role shows in the trail."""
    if not in_unit_of_work():  # inside one, the refusal would roll back with it: the caller's error is enough
        with unit_of_work():
            record(FORBIDDEN, actor=current_user._get_current_object(), after={
                "endpoint": request.endpoint, "method": request.method, "path": request.path[:300],
                "permission": permission})
    abort(403)
