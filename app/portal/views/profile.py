"""The investor's profile: name (after approved KYC, a request to compliance), language, e-mail address (a link
to the new one) and phone (an SMS code). The use cases are in app/account/profile.py."""
from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import pgettext
from flask_login import current_user

from app.account import profile
from app.auth import links
from app.auth.login import current_session
from app.core.db import unit_of_work
from app.core.errors import Conflict, DomainError
from app.extensions import limiter
from app.kyc import services as kyc
from app.notifications.phone import mask
from app.portal import bp
from app.portal.profile_forms import (
    LANGUAGE_NAMES,
    ConfirmForm,
    EmailChangeForm,
    LanguageForm,
    NameForm,
    PhoneCodeForm,
    PhoneForm,
)


def _form_errors(form, exc: DomainError) -> None:
    """The refusal's messages on the form's fields, in the reader's language."""
    for field, messages in (exc.errors or {}).items():
        target = getattr(form, field, None)
        for message in messages:
            if target is not None:
                target.errors = [*target.errors, pgettext("profile", message)]
            else:
                flash(pgettext("profile", message), "danger")
    if not exc.errors:
        sentence = exc.message[:1].upper() + exc.message[1:] + "."  # the catalogue has each service message so
        flash(pgettext("profile", sentence), "danger")


def _language_form(form: LanguageForm | None = None) -> LanguageForm:
    form = form or LanguageForm(locale=current_user.locale or "")
    form.locale.choices = [("", pgettext("profile", "As my browser asks"))] + [
        (code, LANGUAGE_NAMES.get(code, code)) for code in current_app.config["LANGUAGES"]]
    return form


def _page(status: int = 200, **forms):
    user = current_user
    context = {
        "name_form": forms.get("name_form") or NameForm(first_name=user.first_name, last_name=user.last_name),
        "language_form": _language_form(forms.get("language_form")),
        "email_form": forms.get("email_form") or EmailChangeForm(),
        "phone_form": forms.get("phone_form") or PhoneForm(),
        "code_form": forms.get("code_form") or PhoneCodeForm(),
        "cancel_form": ConfirmForm(),
        "pending_name": kyc.open_request(user.id),
        "name_reviewed": kyc.needs_review(user),
        "pending_email": profile.pending_email(user),
        "phone": mask(user.phone_number),
        "phone_verified": user.phone_number is not None and user.phone_verified_at is not None,
    }
    return render_template("portal/account/profile.html", **context), status


@bp.get("/account/profile")
def profile_page():
    return _page()


@bp.post("/account/profile/name")
@limiter.limit("20/hour")
def profile_name():
    form = NameForm()
    if not form.validate_on_submit():
        return _page(422, name_form=form)
    try:
        with unit_of_work():
            request = profile.update_profile(current_user, first_name=form.first_name.data,
                                             last_name=form.last_name.data)
    except DomainError as exc:
        _form_errors(form, exc)
        return _page(422, name_form=form)
    if request is not None:
        flash(pgettext("profile", "Your new name is waiting for compliance: payouts compare names with your "
                                  "verified identity. We will tell you when it is decided."), "info")
    else:
        flash(pgettext("profile", "Your name is saved."), "success")
    return redirect(url_for("portal.profile_page"))


@bp.post("/account/profile/language")
def profile_language():
    form = _language_form(LanguageForm())
    if not form.validate_on_submit():
        return _page(422, language_form=form)
    try:
        with unit_of_work():
            profile.set_locale(current_user, form.locale.data)
    except DomainError as exc:
        _form_errors(form, exc)
        return _page(422, language_form=form)
    flash(pgettext("profile", "Your language is saved."), "success")
    return redirect(url_for("portal.profile_page"))


@bp.post("/account/profile/email")
@limiter.limit("5/hour")
def profile_email():
    form = EmailChangeForm()
    if not form.validate_on_submit():
        return _page(422, email_form=form)
    try:
        with unit_of_work():
            profile.ask_email_change(current_user, form.email.data, password=form.password.data)
    except DomainError as exc:
        _form_errors(form, exc)
        return _page(422, email_form=form)
    flash(pgettext("profile", "Check your new address: if it can be used, we sent a link to it. Open it within "
                              "24 hours while signed in to finish the change."), "info")
    return redirect(url_for("portal.profile_page"))


@bp.post("/account/profile/email/cancel")
def profile_email_cancel():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with unit_of_work():
        profile.cancel_email_change(current_user)
    flash(pgettext("profile", "The change of address is cancelled."), "success")
    return redirect(url_for("portal.profile_page"))


@bp.route("/account/email/confirm/<token>", methods=["GET", "POST"])
@limiter.limit("20/hour", methods=["POST"])
def confirm_email_change(token: str):
    """The link mailed to the new address: it shows the change, and the button makes it (a GET changes nothing,
    so a mail scanner that follows links cannot)."""
    form = ConfirmForm()
    try:
        change = profile.change_for_token(token, current_user)
    except links.LinkError as exc:
        return render_template("portal/account/email_link_problem.html", message=_link_message(exc)), 400
    if not form.validate_on_submit():
        return render_template("portal/account/email_confirm.html", form=form, new_email=change.new_email)
    record = current_session()
    try:
        with unit_of_work():
            profile.confirm_email_change(token, current_user, keep_session_id=record.id if record else None)
    except links.LinkError as exc:
        return render_template("portal/account/email_link_problem.html", message=_link_message(exc)), 400
    except Conflict:
        return render_template("portal/account/email_link_problem.html", message=_taken_message()), 409
    flash(pgettext("profile", "Your e-mail address is now %(email)s. Every other session and API token was "
                              "signed out.", email=current_user.email), "success")
    return redirect(url_for("portal.profile_page"))


def _link_message(exc: links.LinkError) -> str:
    if exc.expired:
        return pgettext("profile", "This link has expired: ask for the change again from your profile.")
    return pgettext("profile", "This link is not valid: it was already used, replaced by a newer one, or belongs "
                               "to another account.")


def _taken_message() -> str:
    return pgettext("profile", "This address now belongs to another account: ask for the change again with "
                               "another address.")


@bp.post("/account/profile/phone")
@limiter.limit("10/hour")
def profile_phone():
    form = PhoneForm()
    if not form.validate_on_submit():
        return _page(422, phone_form=form)
    try:
        with unit_of_work():
            profile.send_phone_code(current_user, form.phone.data)
    except DomainError as exc:
        _form_errors(form, exc)
        return _page(exc.status if exc.status == 429 else 422, phone_form=form)
    flash(pgettext("profile", "We sent a code by SMS to your phone. It works for 10 minutes."), "info")
    return redirect(url_for("portal.profile_page"))


@bp.post("/account/profile/phone/verify")
@limiter.limit("20/hour")
def profile_phone_verify():
    form = PhoneCodeForm()
    if not form.validate_on_submit():
        return _page(422, code_form=form)
    refused = None
    with unit_of_work():  # committed even when refused: a wrong try counts
        try:
            profile.verify_phone_code(current_user, form.code.data)
        except DomainError as exc:
            refused = exc
    if refused is not None:
        _form_errors(form, refused)
        return _page(422, code_form=form)
    flash(pgettext("profile", "Your phone number is verified."), "success")
    return redirect(url_for("portal.profile_page"))
