"""Sign-in and sign-out for investors and staff."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app.auth import services
from app.auth.forms import LoginForm, LogoutForm
from app.core.db import commit
from app.extensions import limiter

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths: no scheme, no host, no protocol-relative or backslash tricks."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def _home_for(user) -> str:
    return url_for("admin.index") if user.is_staff else url_for("portal.dashboard")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is None:
            commit()  # a password rehash or nothing
            flash("The e-mail address or password is not correct.", "danger")
            return render_template("auth/login.html", form=form), 401
        services.record_login(user)
        commit()
        session.clear()  # a fresh session on every sign-in
        login_user(user, remember=False)
        return redirect(_safe_next(request.args.get("next")) or _home_for(user))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["GET", "POST"])
@login_required
def logout():
    form = LogoutForm()
    if request.method == "POST" and form.validate_on_submit():
        logout_user()
        session.clear()
        flash("You have been signed out.", "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/logout.html", form=form)
