"""Adding money: choose an amount and a method, see the fee, pay; a status page that updates itself."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth.forms import SimpleForm
from app.core.db import unit_of_work
from app.core.errors import DomainError
from app.core.headers import csp
from app.core.money import Money, MoneyError
from app.core.uploads import UploadRejected
from app.extensions import db, limiter
from app.kyc.services import read_upload
from app.ledger.services import platform_currency
from app.payments import services as payments
from app.payments.gateways.base import GatewayError
from app.payments.gateways.registry import get_gateway
from app.payments.models import Deposit
from app.portal import bp


def _available() -> list[dict]:
    out = []
    for name in payments.GATEWAYS:
        setting = payments.settings_for(name)
        if setting.enabled and get_gateway(name).enabled():
            out.append({"name": name, "label": payments.GATEWAY_LABELS[name], "setting": setting})
    return out


@bp.route("/deposits/new", methods=["GET", "POST"])
@limiter.limit("30/hour", methods=["POST"])
# the form's answer redirects to Stripe's hosted checkout or to PayPal's approval page
@csp(form_action="'self' https://checkout.stripe.com https://www.paypal.com https://www.sandbox.paypal.com")
def deposit_new():
    form = SimpleForm()
    gateways = _available()
    errors, quote = {}, None
    values = {"amount": request.form.get("amount", ""), "gateway": request.form.get("gateway", "")}
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            amount = Money.parse(values["amount"], platform_currency())
        except MoneyError as exc:
            errors["amount"] = [str(exc)]
        if not errors:
            if request.form.get("confirm") != "yes":
                try:
                    quote = payments.quote(values["gateway"], amount) if values["gateway"] in payments.GATEWAYS \
                        else None
                except DomainError as exc:
                    errors = exc.errors or {"gateway": [exc.message]}
                if quote is None and not errors:
                    errors["gateway"] = [_("Choose how to pay.")]
            else:
                try:
                    with unit_of_work():
                        deposit = payments.begin_deposit(current_user, amount, values["gateway"])
                except DomainError as exc:
                    errors = exc.errors or {"amount": [exc.message]}
                else:
                    if deposit.checkout_url:
                        return redirect(deposit.checkout_url)
                    return redirect(url_for("portal.deposit_status", deposit_id=deposit.id))
    return render_template("portal/deposits/new.html", form=form, gateways=gateways, errors=errors, quote=quote,
                           values=values), (422 if errors else 200)


def _own(deposit_id: int) -> Deposit:
    deposit = db.session.get(Deposit, deposit_id)
    if deposit is None or deposit.user_id != current_user.id:
        abort(404)
    return deposit


@bp.get("/deposits/<int:deposit_id>")
def deposit_status(deposit_id: int):
    deposit = _own(deposit_id)
    return render_template("portal/deposits/status.html", d=deposit, form=SimpleForm(),
                           money=lambda v: Money(v, deposit.currency).local())


@bp.get("/deposits/<int:deposit_id>/return")
def deposit_return(deposit_id: int):
    """Back from checkout: ask the gateway about this deposit's own payment (never trust the URL)."""
    deposit = _own(deposit_id)
    try:
        with unit_of_work():
            # Stripe names its checkout session; PayPal adds ?token=<order id> to the return address
            payments.confirm_redirect(deposit, current_user,
                                      request.args.get("session_id") or request.args.get("token"))
    except (DomainError, GatewayError):
        pass  # rolled back: the status page shows the deposit as it is (its webhook or a later return completes it)
    return redirect(url_for("portal.deposit_status", deposit_id=deposit.id))


@bp.post("/deposits/<int:deposit_id>/proof")
def deposit_proof(deposit_id: int):
    if not SimpleForm().validate_on_submit():
        abort(400)
    deposit = _own(deposit_id)
    upload = request.files.get("proof")
    try:
        if upload is None or not upload.filename:
            raise DomainError("choose a file")
        with unit_of_work():
            payments.attach_proof(deposit, current_user, read_upload(upload, 10 * 1024 * 1024).data)
        flash(_("Thank you: finance will confirm the transfer as soon as it arrives."), "success")
    except DomainError as exc:
        flash(" ".join(m for msgs in (exc.errors or {"proof": [exc.message]}).values() for m in msgs), "danger")
    except UploadRejected as exc:  # an upload refused before the service
        flash(exc.message, "danger")
    return redirect(url_for("portal.deposit_status", deposit_id=deposit.id))
