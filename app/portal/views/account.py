"""The investor's (and staff member's) own security settings: password, two-factor, sessions, recent sign-ins."""
from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth import mfa, services
from app.auth import sessions as user_sessions
from app.auth.forms import AppCodeForm, ChangePasswordForm, CodeForm, DisableTwoFactorForm, SimpleForm
from app.auth.login import current_session
from app.auth.models import UserSession
from app.auth.views import _form_errors
from app.core.db import unit_of_work
from app.core.errors import DomainError
from app.extensions import db, limiter
from app.portal import bp


def _current_session_id():
    record = current_session()
    return record.id if record is not None else None


def _security_page(**forms):
    user = current_user
    context = {
        "password_form": forms.get("password_form") or ChangePasswordForm(),
        "disable_form": forms.get("disable_form") or DisableTwoFactorForm(),
        "codes_form": forms.get("codes_form") or CodeForm(),
        "button": SimpleForm(),
        "sessions": user_sessions.live_for(user.id),
        "current_session_id": _current_session_id(),
        "sign_ins": services.recent_sign_ins(user.id),
        "recovery_left": mfa.remaining_recovery_codes(user) if user.totp_enabled else 0,
    }
    return render_template("portal/account/security.html", **context)


@bp.get("/account/security")
def security():
    return _security_page()


@bp.post("/account/password")
@limiter.limit("10/hour")
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                services.change_password(current_user, form.current_password.data, form.password.data,
                                         keep_session_id=_current_session_id())
        except DomainError as exc:
            _form_errors(form, exc)
            return _security_page(password_form=form), 422
        flash(_("Your password is changed. Every other session and API token was signed out."), "success")
        return redirect(url_for("portal.security"))
    return _security_page(password_form=form), 422


@bp.route("/account/2fa/setup", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def two_factor_setup():
    if current_user.totp_enabled:
        return redirect(url_for("portal.security"))
    with unit_of_work():  # the new secret is kept even when the code below is refused
        secret = mfa.begin_enrolment(current_user)
    form = AppCodeForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                codes = mfa.confirm_enrolment(current_user, form.code.data, keep_session_id=_current_session_id())
                record = current_session()
                if record is not None:
                    record.mfa_verified = True
        except DomainError as exc:
            _form_errors(form, exc)
        else:
            return render_template("portal/account/recovery_codes.html", codes=codes, first_time=True)
    required = current_user.is_staff
    return render_template("portal/account/two_factor_setup.html", form=form, secret=secret,
                           qr=mfa.qr_data_uri(current_user), required=required), (422 if form.errors else 200)


@bp.post("/account/2fa/disable")
@limiter.limit("10/hour")
def two_factor_disable():
    form = DisableTwoFactorForm()
    if form.validate_on_submit():
        refused = None
        with unit_of_work():  # committed even when refused: a spent code's time step stays spent
            try:
                mfa.disable(current_user, form.password.data, form.code.data,
                            keep_session_id=_current_session_id())
            except DomainError as exc:  # raised before anything but the code check was written
                refused = exc
        if refused is not None:
            _form_errors(form, refused)
            return _security_page(disable_form=form), 422
        flash(_("Two-factor authentication is off. Staff must turn it on again to use the console.")
              if current_user.is_staff else _("Two-factor authentication is off."), "warning")
        return redirect(url_for("portal.security"))
    return _security_page(disable_form=form), 422


@bp.post("/account/2fa/recovery-codes")
@limiter.limit("10/hour")
def recovery_codes():
    form = CodeForm()
    if form.validate_on_submit():
        refused = None
        with unit_of_work():  # committed even when refused: a spent code's time step stays spent
            try:
                codes = mfa.regenerate_recovery_codes(current_user, form.code.data)
            except DomainError as exc:  # raised before anything but the code check was written
                refused = exc
        if refused is not None:
            _form_errors(form, refused)
            return _security_page(codes_form=form), 422
        return render_template("portal/account/recovery_codes.html", codes=codes, first_time=False)
    return _security_page(codes_form=form), 422


@bp.post("/account/sessions/<int:session_id>/revoke")
def revoke_session(session_id: int):
    if not SimpleForm().validate_on_submit():
        abort(400)
    record = db.session.get(UserSession, session_id)
    if record is None or record.user_id != current_user.id:
        abort(404)  # someone else's session is not there for you
    with unit_of_work():
        user_sessions.revoke(record, "signed out from another session")
    flash(_("That session is signed out."), "success")
    if record.id == _current_session_id():
        return redirect(url_for("auth.login"))
    return redirect(url_for("portal.security"))


@bp.post("/account/sessions/revoke-others")
def revoke_other_sessions():
    if not SimpleForm().validate_on_submit():
        abort(400)
    with unit_of_work():
        ended = user_sessions.revoke_all(current_user.id, "signed out everywhere else",
                                         keep_id=_current_session_id())
        services.revoke_all_tokens(current_user.id)
    flash(_("Signed out of %(count)s other session(s); API tokens were revoked.", count=ended), "success")
    return redirect(url_for("portal.security"))


