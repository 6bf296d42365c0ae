"""Withdrawing: bank accounts (added, changed, removed; numbers masked), a payout request with the fee shown before
confirming, the list of payouts and one payout's progress, with cancel while it is still requested."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth.forms import SimpleForm
from app.core.db import unit_of_work, utcnow
from app.core.errors import DomainError
from app.core.money import Money
from app.extensions import limiter
from app.kyc import services as kyc
from app.ledger import services as ledger
from app.payments import card_funds
from app.payouts import services as payouts
from app.payouts.models import PAYOUT_STATUSES, PayoutEvent
from app.portal import bp, format_skeleton

PER_PAGE = 20
METHOD_FIELDS = ("holder_name", "bank_name", "account_number", "iban", "routing_number", "bic", "country")
STATUS_BADGE = {"requested": "info", "approved": "primary", "paid": "success", "rejected": "danger",
                "cancelled": "secondary", "failed": "danger"}


def _errors(exc: DomainError, default_field: str) -> dict:
    return exc.errors or {default_field: [exc.message[:1].upper() + exc.message[1:] + "."]}


def _csrf() -> None:
    if not SimpleForm().validate_on_submit():
        abort(400)


@bp.get("/payouts")
def payouts_index():
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    status = request.args.get("status") if request.args.get("status") in PAYOUT_STATUSES else None
    rows, total = payouts.payouts_of(current_user.id, page=page, per_page=PER_PAGE, status=status)
    return render_template("portal/payouts/index.html", payouts=rows, total=total, page=page, status=status,
                           pages=max((total + PER_PAGE - 1) // PER_PAGE, 1), balance=ledger.balance_of(current_user.id),
                           methods=payouts.methods_of(current_user.id), badge=STATUS_BADGE, now=utcnow(),
                           statuses=PAYOUT_STATUSES, room=card_funds.withdrawable(current_user.id))


@bp.route("/payouts/new", methods=["GET", "POST"])
@limiter.limit("30/hour", methods=["POST"])
def payout_new():
    form = SimpleForm()
    now = utcnow()
    methods = payouts.methods_of(current_user.id)
    usable = [m for m in methods if m.usable_at(now)]
    missing = kyc.missing_for(current_user.id, kyc.WITHDRAW)
    cfg = payouts.settings()
    errors, quote = {}, None
    values = {"amount": request.form.get("amount", ""), "payout_method_id": request.form.get("payout_method_id", "")}
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        method_id = int(values["payout_method_id"]) if values["payout_method_id"].isdigit() else None
        try:
            amount = payouts.parse_amount(values["amount"])
            if method_id is None:
                raise DomainError("choose a bank account", {"payout_method_id": ["Choose a bank account."]})
            if request.form.get("confirm") != "yes":
                quote = payouts.quote(amount)
            else:
                with unit_of_work():
                    payout = payouts.request_payout(current_user, amount, method_id)
                flash(_("Payout #%(id)s requested: %(amount)s is held until our finance team sends it.",
                        id=payout.id, amount=Money(payout.amount, payout.currency).local()), "success")
                return redirect(url_for("portal.payout_detail", payout_id=payout.id))
        except DomainError as exc:
            errors, quote = _errors(exc, "amount"), None
    balance = ledger.balance_of(current_user.id)
    return render_template("portal/payouts/new.html", form=form, methods=methods, usable=usable, missing=missing,
                           errors=errors, quote=quote, values=values, balance=balance, cfg=cfg, now=now,
                           next_usable=min((m.usable_from for m in methods if m.usable_from), default=now),
                           allowance=payouts.allowance(current_user.id),
                           room=card_funds.withdrawable(current_user.id)), (422 if errors else 200)


@bp.get("/payouts/<int:payout_id>")
def payout_detail(payout_id: int):
    try:
        payout = payouts.payout_for_owner(payout_id, current_user)
    except DomainError:
        abort(404)
    events = [e for e in payout.events if e.kind != "batched"]
    return render_template("portal/payouts/detail.html", p=payout, form=SimpleForm(), badge=STATUS_BADGE,
                           events=events, money=lambda v: Money(v, payout.currency).local())


@bp.post("/payouts/<int:payout_id>/cancel")
@limiter.limit("60/hour")
def payout_cancel(payout_id: int):
    _csrf()
    try:
        payout = payouts.payout_for_owner(payout_id, current_user)
    except DomainError:
        abort(404)
    try:
        with unit_of_work():
            payouts.cancel(payout, user=current_user)
        flash(_("Payout cancelled: the held amount and fee are back in your wallet."), "success")
    except DomainError as exc:
        flash(f"{exc.message[:1].upper()}{exc.message[1:]}.", "danger")
    return redirect(url_for("portal.payout_detail", payout_id=payout_id))


# bank accounts ----------------------------------------------------------------------------------------------------
@bp.get("/payout-methods")
def payout_methods():
    methods = payouts.methods_of(current_user.id)
    in_use = payouts.methods_in_use(current_user.id) if methods else set()
    return render_template("portal/payouts/methods.html", methods=methods, in_use=in_use, now=utcnow(),
                           form=SimpleForm(), kyc_name=payouts.kyc_name(current_user.id),
                           cooling=payouts.settings().cooling_hours)


def _method_form(method=None):
    form = SimpleForm()
    errors = {}
    if method is not None:
        values = {f: getattr(method, f) or "" for f in METHOD_FIELDS}
    else:
        values = {f: "" for f in METHOD_FIELDS}
        values["holder_name"] = payouts.kyc_name(current_user.id) or current_user.full_name
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        values = {f: request.form.get(f, "").strip()[:300] for f in METHOD_FIELDS}
        try:
            with unit_of_work():
                if method is None:
                    saved = payouts.add_bank_method(current_user.id, **values)
                    message = _("Bank account added")
                else:
                    saved = payouts.update_bank_method(method, current_user, values)
                    message = _("Bank account changed")
            flash(_("%(message)s. We e-mailed you about it; it can receive payouts from %(when)s UTC.", message=message,
                    when=format_skeleton("yMMMdHm", saved.usable_from)), "success")
            return redirect(url_for("portal.payout_methods"))
        except DomainError as exc:
            errors = _errors(exc, "account_number")
    return render_template("portal/payouts/method_form.html", form=form, values=values, errors=errors, method=method,
                           cooling=payouts.settings().cooling_hours), (422 if errors else 200)


@bp.route("/payout-methods/new", methods=["GET", "POST"])
@limiter.limit("20/hour", methods=["POST"])
def payout_method_new():
    return _method_form()


def _own_method(method_id: int):
    try:
        return payouts.method_for_owner(method_id, current_user)
    except DomainError:
        abort(404)


@bp.route("/payout-methods/<int:method_id>/edit", methods=["GET", "POST"])
@limiter.limit("20/hour", methods=["POST"])
def payout_method_edit(method_id: int):
    method = _own_method(method_id)
    if payouts.method_in_use(method):
        flash(_("Payouts were made to this account, so its details stay as they are: add a new account instead."),
              "warning")
        return redirect(url_for("portal.payout_methods"))
    return _method_form(method)


@bp.post("/payout-methods/<int:method_id>/delete")
def payout_method_delete(method_id: int):
    _csrf()
    method = _own_method(method_id)
    try:
        with unit_of_work():
            payouts.remove_method(method, current_user)
        flash(_("Bank account removed."), "success")
    except DomainError as exc:
        flash(f"{exc.message[:1].upper()}{exc.message[1:]}.", "danger")
    return redirect(url_for("portal.payout_methods"))


def _timeline_label(event: PayoutEvent) -> str:
    return {"requested": _("Requested; amount and fee held"), "first_approval": _("First approval"),
            "approved": _("Approved"), "paid": _("Sent to your bank"), "rejected": _("Not approved"),
            "cancelled": _("Cancelled by you"), "failed": _("Transfer failed")}.get(event.kind, event.kind)


@bp.app_template_filter("payout_event")
def payout_event_filter(event: PayoutEvent) -> str:
    return _timeline_label(event)
