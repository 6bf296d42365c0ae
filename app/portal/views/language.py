"""The investor's language: the chooser in the page footer posts here; the choice is stored on the account
(User.locale), so every page, form and message that follows speaks it. Before a choice, the browser's
Accept-Language decides (app/core/i18n.py)."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import abort, redirect, request, url_for
from flask_login import current_user

from app.auth.forms import SimpleForm
from app.core.db import unit_of_work
from app.core.i18n import languages
from app.extensions import limiter
from app.portal import bp


def _back_to(target: str | None) -> str:
    """Only a same-site relative path (no scheme, host, protocol-relative or backslash tricks); else the
    dashboard."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("portal.dashboard")


@bp.post("/account/language")
@limiter.limit("30/minute")
def set_language():
    if not SimpleForm().validate_on_submit():
        abort(400)
    chosen = request.form.get("locale", "")
    if chosen not in languages():
        abort(400)
    with unit_of_work():
        current_user.locale = chosen
    return redirect(_back_to(request.form.get("next")), code=303)
