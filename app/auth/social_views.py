"""Social sign-in's pages: "Sign in with Google / GitHub", and the account's connected identities (link, unlink).
The rules are in app/auth/social.py; the conversation with the providers in app/auth/social_oauth.py. A provider
that is off answers 404 everywhere."""
from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import abort, current_app, flash, make_response, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired, Length

from app.auth import services, social, social_oauth
from app.auth.forms import SimpleForm
from app.auth.views import PENDING, bp, establish_session, home_for
from app.core.db import unit_of_work
from app.core.headers import policy
from app.extensions import limiter


class UnlinkForm(FlaskForm):
    password = PasswordField(_l("Your password, to confirm"), validators=[DataRequired(), Length(max=128)])


def _enabled_or_404(provider: str) -> str:
    if not social.is_enabled(provider, current_app.config):
        abort(404)
    return social.PROVIDER_NAMES[provider]


def result_message_locked() -> str:
    """The password sign-in's own words for a locked account."""
    return services.SignIn(None, False, "locked").message


def _callback_url(endpoint: str, provider: str) -> str:
    """The address the provider sends the browser back to: the public BASE_URL, as registered with it."""
    return current_app.config["BASE_URL"].rstrip("/") + url_for(endpoint, provider=provider)


def _failure_message(exc: social_oauth.SocialFailed, name: str) -> str:
    if exc.code == "cancelled":
        return _("Signing in with %(provider)s was cancelled.", provider=name)
    if exc.code == "unreachable":
        return _("%(provider)s cannot be reached just now. Please try again later.", provider=name)
    return _("%(provider)s's answer could not be accepted (it was expired, already used or not genuine). "
             "Please try again.", provider=name)


@bp.app_context_processor
def _social_providers():
    """The providers that are on, for the sign-in page's buttons."""
    return {"social_providers": lambda: [(provider, social.PROVIDER_NAMES[provider])
                                         for provider in social.enabled_providers(current_app.config)]}


@bp.get("/login/<provider>")
@limiter.limit("30/minute")
def social_login(provider: str):
    _enabled_or_404(provider)
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    try:
        return social_oauth.begin(provider, _callback_url("auth.social_callback", provider))
    except social_oauth.SocialFailed as exc:
        flash(_failure_message(exc, social.PROVIDER_NAMES[provider]), "danger")
        return redirect(url_for("auth.login"))


@bp.get("/login/<provider>/callback")
@limiter.limit("30/minute")
def social_callback(provider: str):
    name = _enabled_or_404(provider)
    try:
        seen = social_oauth.finish(provider)
    except social_oauth.SocialFailed as exc:
        flash(_failure_message(exc, name), "danger")
        return render_template("auth/social_problem.html", provider=name), 400
    with unit_of_work():  # a refused attempt is recorded as surely as a successful one
        result = social.sign_in(seen)
        if result.ok and result.user is not None:
            establish_session(result.user, remember=False, mfa_verified=False, method=provider)
    if result.reason == "needs_2fa" and result.user is not None:
        session.clear()
        session[PENDING] = {"uid": result.user.id, "at": int(time.time()), "remember": False, "next": None}
        return redirect(url_for("auth.login_code"))
    if result.reason == "unknown":
        flash(_("No account is linked to this %(provider)s account. Sign in with your password and link it from "
                "your account page.", provider=name), "warning")
        return redirect(url_for("auth.login"))
    if result.reason == "locked":
        flash(result_message_locked(), "danger")
        return redirect(url_for("auth.login"))
    if result.reason == "staff":
        flash(_("Staff accounts sign in with their password and code."), "danger")
        return redirect(url_for("auth.login"))
    if not result.ok or result.user is None:
        flash(_("Signing in with %(provider)s is not possible for this account.", provider=name), "danger")
        return redirect(url_for("auth.login"))
    return redirect(home_for(result.user))


def _provider_origins() -> str:
    """Where the "Connect" forms' answers redirect to: the providers' sign-in pages (Google's by its discovery
    document's host, GitHub's by GITHUB_OAUTH_BASE)."""
    cfg = current_app.config
    urls = {"google": cfg.get("GOOGLE_METADATA_URL"), "github": cfg.get("GITHUB_OAUTH_BASE")}
    origins = []
    for provider in social.enabled_providers(cfg):
        parts = urlsplit(str(urls[provider] or ""))
        if parts.scheme in ("http", "https") and parts.netloc:
            origins.append(f"{parts.scheme}://{parts.netloc}")
    return " ".join(dict.fromkeys(origins))


def _connections_page(unlink_form: UnlinkForm | None = None, status: int = 200):
    linked = {identity.provider: identity for identity in social.identities_for(current_user.id)}
    providers = [(provider, social.PROVIDER_NAMES[provider])
                 for provider in social.enabled_providers(current_app.config)]
    response = make_response(render_template("auth/connections.html", linked=linked, providers=providers,
                                             names=social.PROVIDER_NAMES, button=SimpleForm(),
                                             unlink_form=unlink_form or UnlinkForm()), status)
    # the page's own policy: its "Connect" forms are answered by a redirect to the provider, which form-action
    # must allow (the app's one policy otherwise)
    response.headers["Content-Security-Policy"] = policy().replace(
        "form-action 'self'", f"form-action 'self' {_provider_origins()}".rstrip())
    return response


@bp.get("/account/connections")
@login_required
def connections():
    return _connections_page()


@bp.post("/account/connections/<provider>/link")
@login_required
@limiter.limit("10/minute")
def social_link(provider: str):
    name = _enabled_or_404(provider)
    if not SimpleForm().validate_on_submit():
        abort(400)
    if current_user.is_staff:
        flash(_("Staff accounts cannot be connected to %(provider)s.", provider=name), "danger")
        return _connections_page(status=403)
    try:
        return social_oauth.begin(provider, _callback_url("auth.social_link_callback", provider))
    except social_oauth.SocialFailed as exc:
        flash(_failure_message(exc, name), "danger")
        return redirect(url_for("auth.connections"))


@bp.get("/account/connections/<provider>/callback")
@login_required
@limiter.limit("10/minute")
def social_link_callback(provider: str):
    name = _enabled_or_404(provider)
    try:
        seen = social_oauth.finish(provider)
    except social_oauth.SocialFailed as exc:
        flash(_failure_message(exc, name), "danger")
        return redirect(url_for("auth.connections"))
    try:
        with unit_of_work():
            social.link(current_user, seen)
    except social.SocialRefusal as exc:
        with unit_of_work():  # the refusal's audit record stays
            if exc.code == "linked_elsewhere":
                social.record_link_refusal(current_user, provider)
        messages = {
            "staff": _("Staff accounts cannot be connected to %(provider)s.", provider=name),
            "linked_elsewhere": _("That %(provider)s account is already connected to another account here.",
                                  provider=name),
            "one_per_provider": _("Another %(provider)s account is connected already: disconnect it first.",
                                  provider=name),
        }
        flash(messages.get(exc.code, _("That connection did not work. Please try again.")), "danger")
        return redirect(url_for("auth.connections"))
    flash(_("Your %(provider)s account is connected: you can sign in with it.", provider=name), "success")
    return redirect(url_for("auth.connections"))


@bp.post("/account/connections/<provider>/unlink")
@login_required
@limiter.limit("10/hour")
def social_unlink(provider: str):
    name = _enabled_or_404(provider)
    form = UnlinkForm()
    if not form.validate_on_submit():
        return _connections_page(form, 422)
    try:
        with unit_of_work():
            social.unlink(current_user, provider, form.password.data)
    except social.SocialRefusal as exc:
        if exc.code == "bad_password":
            with unit_of_work():  # the refusal's audit record stays
                social.record_unlink_refusal(current_user, provider)
            form.password.errors = [*form.password.errors, _("The password you entered is not your current password.")]
            return _connections_page(form, 422)
        if exc.code == "not_linked":
            abort(404)
        flash(_("Set a password for your account before you disconnect %(provider)s.", provider=name), "danger")
        return _connections_page(form, 409)
    flash(_("%(provider)s is disconnected: it no longer signs you in.", provider=name), "success")
    return redirect(url_for("auth.connections"))
