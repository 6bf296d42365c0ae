"""Sign-in (password, then a code when 2FA is on), sign-out, registration, e-mail verification, password reset."""
from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user

from app.auth import links, mfa, services
from app.auth import sessions as user_sessions
from app.auth.forms import (
    CodeForm,
    ForgotPasswordForm,
    LoginForm,
    LogoutForm,
    RegisterForm,
    ResetPasswordForm,
    SimpleForm,
)
from app.auth.login import SESSION_KEY, current_session
from app.auth.models import User
from app.core.db import unit_of_work
from app.core.errors import DomainError
from app.extensions import db, limiter

bp = Blueprint("auth", __name__)
PENDING = "mfa_pending"
REGISTERED = "registered_email"  # the address the last registration in this browser named, for the next page


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths: no scheme, no host, no protocol-relative or backslash tricks."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def _email_key() -> str:
    return "email:" + services.normalize_email(request.form.get("email", ""))[:254]


def _pending_key() -> str:
    pending = session.get(PENDING) or {}
    return f"pending:{pending.get('uid', get_remote_address())}"


def _user_key() -> str:
    return f"user:{current_user.get_id() if current_user.is_authenticated else get_remote_address()}"


def home_for(user) -> str:
    if user.is_staff:
        return url_for("admin.index") if user.totp_enabled else url_for("portal.two_factor_setup")
    return url_for("portal.dashboard")


def establish_session(user: User, *, remember: bool, mfa_verified: bool, method: str) -> None:
    """Both factors passed: a fresh session id, a server-side record, the Flask-Login cookie."""
    remember = bool(remember) and not user.is_staff  # staff sessions always end with the browser
    session.clear()
    raw = user_sessions.start(user, remember=remember, mfa_verified=mfa_verified, ip=request.remote_addr,
                              user_agent=request.user_agent.string)
    services.complete_sign_in(user, channel="portal", method=method)
    session[SESSION_KEY] = raw
    session.permanent = remember
    login_user(user, remember=False, fresh=True)


def _form_errors(form, exc: DomainError) -> None:
    for field, messages in (exc.errors or {}).items():
        target = getattr(form, field, None)
        if target is not None:
            target.errors = list(target.errors) + list(messages)
        else:
            for message in messages:
                flash(message, "danger")
    if not exc.errors:
        flash(exc.message[:1].upper() + exc.message[1:] + ".", "danger")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("30/minute", methods=["POST"])
@limiter.limit("10/minute", methods=["POST"], key_func=_email_key)
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        with unit_of_work():  # a failed attempt is recorded (and counted) as surely as a successful one
            result = services.check_password(form.email.data, form.password.data, channel="portal")
            if result.ok:
                establish_session(result.user, remember=form.remember.data, mfa_verified=False, method="password")
        next_url = _safe_next(request.args.get("next"))
        if result.reason == "needs_2fa":
            session.clear()
            session[PENDING] = {"uid": result.user.id, "at": int(time.time()), "remember": bool(form.remember.data),
                                "next": next_url}
            return redirect(url_for("auth.login_code"))
        if not result.ok:
            flash(result.message, "danger")
            return render_template("auth/login.html", form=form), 401
        return redirect(next_url or home_for(result.user))
    return render_template("auth/login.html", form=form)


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit("30/minute", methods=["POST"])
@limiter.limit("10/minute", methods=["POST"], key_func=_pending_key)
def login_code():
    pending = session.get(PENDING)
    max_age = current_app.config["MFA_PENDING_SECONDS"]
    if not pending or time.time() - pending.get("at", 0) > max_age:
        session.pop(PENDING, None)
        flash(_("Please sign in again."), "info")
        return redirect(url_for("auth.login"))
    user = db.session.get(User, pending["uid"])
    if user is None or not user.is_active or not user.totp_enabled:
        session.pop(PENDING, None)
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if form.validate_on_submit():
        if services.is_locked(user):
            flash(services.SignIn(user, False, "locked").message, "danger")
            session.pop(PENDING, None)
            return redirect(url_for("auth.login"))
        with unit_of_work():  # a wrong code counts toward the lockout as a wrong password does
            method = mfa.verify_code(user, form.code.data)
            if method is None:
                services.register_failure(user, email=user.email, reason="bad_2fa_code", channel="portal")
            else:
                establish_session(user, remember=pending.get("remember", False), mfa_verified=True, method=method)
        if method is None:
            flash(_("That code is not correct, or it was already used."), "danger")
            return render_template("auth/login_code.html", form=form), 401
        if method == "recovery":
            flash(_("You signed in with a recovery code; %(count)s remain. Make new ones on your security page if you "
                    "are running low.", count=mfa.remaining_recovery_codes(user)), "warning")
        return redirect(_safe_next(pending.get("next")) or home_for(user))
    return render_template("auth/login_code.html", form=form)


@bp.route("/logout", methods=["GET", "POST"])
@login_required
def logout():
    form = LogoutForm()
    if request.method == "POST" and form.validate_on_submit():
        record = current_session()
        if record is not None:
            with unit_of_work():
                user_sessions.revoke(record, "signed out")
        logout_user()
        session.clear()
        flash(_("You have been signed out."), "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/logout.html", form=form)


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit("10/hour", methods=["POST"])
def register():
    """The same answer whether or not the address has an account (its owner is mailed instead); nobody is
    signed in here: the e-mailed link verifies the address and signs its owner in."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                email = services.register(form.email.data, form.password.data, first_name=form.first_name.data,
                                          last_name=form.last_name.data, terms_accepted=form.accept_terms.data)
        except DomainError as exc:
            _form_errors(form, exc)
            return render_template("auth/register.html", form=form), exc.status
        session[REGISTERED] = email
        return redirect(url_for("auth.check_email"))
    return render_template("auth/register.html", form=form), (422 if form.errors else 200)


@bp.get("/register/check-email")
def check_email():
    return render_template("auth/check_email.html", email=session.get(REGISTERED))


@bp.get("/verify-email/<token>")
def verify_email(token: str):
    """Verifies the address; the first opening of the link, in the browser that registered, also signs its owner in
    (through the code step when 2FA is on). Opened again, or in another browser, it signs in nobody: whoever signed
    up with someone else's address (and so knows the password) cannot have its owner signed into that account
    by a click; the owner signs in with the password, or resets it, which locks the other person out."""
    try:
        with unit_of_work():
            verified = services.verify_email(token)
            user = verified.user
            registered_here = session.get(REGISTERED) == user.email
            sign_in = (verified.first_use and registered_here and user.is_active
                       and not current_user.is_authenticated)
            if sign_in and not user.totp_enabled:
                establish_session(user, remember=False, mfa_verified=False, method="email_link")
    except links.LinkError as exc:
        return render_template("auth/link_problem.html", message=str(exc), expired=exc.expired,
                               form=SimpleForm()), 400
    flash(_("Thank you: %(email)s is verified.", email=user.email), "success")
    if sign_in and user.totp_enabled:
        session.clear()
        session[PENDING] = {"uid": user.id, "at": int(time.time()), "remember": False, "next": None}
        return redirect(url_for("auth.login_code"))
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return redirect(url_for("auth.login"))


@bp.post("/verify-email/resend")
@login_required
@limiter.limit("3/hour", key_func=_user_key)
def resend_verification():
    form = SimpleForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                services.send_verification(current_user)
            flash(_("We sent a new link to %(email)s.", email=current_user.email), "success")
        except DomainError as exc:
            flash(exc.message[:1].upper() + exc.message[1:] + ".", "info")
    return redirect(url_for("portal.dashboard"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
@limiter.limit("3/hour", methods=["POST"], key_func=_email_key)
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        with unit_of_work():
            services.request_password_reset(form.email.data)
        flash(_("If an account uses that address, a link to choose a new password is on its way. "
                "It works for one hour."), "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot_password.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def reset_password(token: str):
    try:
        user = services.user_for_reset(token)
    except links.LinkError as exc:
        return render_template("auth/link_problem.html", message=str(exc), expired=exc.expired, form=None), 400
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                services.reset_password(token, form.password.data)
        except DomainError as exc:
            _form_errors(form, exc)
            return render_template("auth/reset_password.html", form=form, user=user), 422
        if current_user.is_authenticated:
            logout_user()
        session.clear()
        flash(_("Your password is changed and every session was signed out. Sign in with the new password."),
              "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset_password.html", form=form, user=user)
