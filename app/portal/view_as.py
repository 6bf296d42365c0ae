"""The portal while a staff member views it as an investor (app.account.view_as): before every request of the
portal and sign-in blueprints, a viewing bound to this staff session makes `current_user` the investor for GET and
HEAD of the read-only pages (Flask-Login keeps the request's user in g._login_user), notes the page, and answers
anything else with a 403 page. Signing out (the console's button too) signs the staff member out and ends the
viewing; the investor's own sessions are never touched. The console and the API never see the viewing: staff stay
staff there."""
from __future__ import annotations

from flask import flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user

from app.account import view_as
from app.auth.login import current_session
from app.core.db import unit_of_work, utcnow
from app.portal import bp

FACES = ("portal", "auth")
SAFE = ("GET", "HEAD")
SIGN_OUT = "auth.logout"  # signs the staff member out, never the investor: allowed, and it ends the viewing


def _back_to_console(row, message: str):
    session.pop(view_as.SESSION_KEY, None)
    flash(message, "warning")
    return redirect(url_for("users.details_view", id=row.user_id))


@bp.before_app_request
def _viewing_as():
    if request.blueprint not in FACES or view_as.SESSION_KEY not in session:
        return None
    staff = current_user._get_current_object()  # the signed-in staff member, loaded before the swap below
    record = current_session()
    if not staff.is_authenticated or record is None:
        session.pop(view_as.SESSION_KEY, None)
        return None
    row = view_as.open_for(session.get(view_as.SESSION_KEY), actor=staff, staff_session_id=record.id)
    if row is None:
        session.pop(view_as.SESSION_KEY, None)
        return None
    if not row.is_open(utcnow()):
        with unit_of_work():
            view_as.stop(row, actor=staff, how="expired")
        return _back_to_console(row, f"Viewing {row.user.email}'s portal ended after {view_as.VIEW_MINUTES} "
                                     "minutes.")
    refusal = view_as.may_view(staff, row.user)
    if refusal is None and not (staff.totp_enabled and record.mfa_verified):
        refusal = "the console needs two-factor authentication"
    if refusal is not None:
        with unit_of_work():
            view_as.stop(row, actor=staff, how="refused")
        return _back_to_console(row, f"Viewing {row.user.email}'s portal ended: {refusal}.")
    if request.endpoint == SIGN_OUT:  # the staff member signs out (the console's button): the viewing ends first
        with unit_of_work():
            view_as.stop(row, actor=staff, how="signed_out")
        session.pop(view_as.SESSION_KEY, None)
        return None
    g.view_as = row
    g._login_user = row.user  # Flask-Login's current_user for the rest of this request
    if request.blueprint == "portal" and request.method in SAFE and request.endpoint in view_as.READ_ONLY_PAGES:
        with unit_of_work():  # the page seen, kept apart from the request (which writes nothing)
            view_as.note_page(row, endpoint=request.endpoint, path=request.full_path.rstrip("?"))
        return None
    with unit_of_work():
        view_as.record_refusal(row, actor=staff, endpoint=request.endpoint, method=request.method,
                               path=request.path)
    return render_template("portal/view_as_refused.html"), 403


@bp.app_context_processor
def _view_as_banner():
    """The banner's viewing (None unless this request renders the portal as an investor)."""
    return {"viewing_as": g.get("view_as")}
