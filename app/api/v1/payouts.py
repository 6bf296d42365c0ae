"""POST /payouts, GET /payouts, GET /payouts/{id}, POST /payouts/{id}/cancel, GET /payouts/quote; the schemas of
payouts and payout methods."""
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.auth import current_api_user
from app.api.envelope import PageArgsSchema, envelope, ok, page_meta
from app.api.examples import payments as ex
from app.api.fields import AmountField, MoneyField
from app.api.idempotency import idempotent
from app.api.v1.wallet import LaterSchema, later_rows
from app.core.db import unit_of_work, utcnow
from app.core.money import Money
from app.extensions import limiter
from app.ledger.services import balance_of
from app.payments import card_funds
from app.payouts import services as payouts
from app.payouts.models import PAYOUT_PAID, PAYOUT_STATUSES, mask

URL = "/payouts"
blp = Blueprint("api_payouts", __name__, description="Withdrawals from the wallet to a bank account")


MASKED = {"type": "string", "nullable": True, "description": "masked: only the last four characters show"}


class MethodSummarySchema(Schema):
    id = fields.Integer()
    bank_name = fields.String()
    account_number = fields.Function(lambda m: mask(m.account_number), metadata=MASKED)
    country = fields.String()


class PayoutMethodSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    holder_name = fields.String()
    bank_name = fields.String()
    account_number = fields.Function(lambda m: mask(m.account_number), metadata=MASKED)
    routing_number = fields.Function(lambda m: mask(m.routing_number), metadata=MASKED)
    iban = fields.Function(lambda m: mask(m.iban), metadata=MASKED)
    bic = fields.String(allow_none=True)
    country = fields.String()
    usable_from = fields.DateTime(allow_none=True, metadata={
        "description": "new or changed accounts receive payouts only after a cooling-off period"})
    usable = fields.Function(lambda m: m.usable_at(utcnow()), metadata={
        "type": "boolean", "description": "past its cooling-off period: it may receive payouts"})
    name_matches_kyc = fields.Boolean(allow_none=True)
    created_at = fields.DateTime()


class PayoutMethodRequestSchema(Schema):
    holder_name = fields.String(required=True, validate=validate.Length(max=300))
    bank_name = fields.String(required=True, validate=validate.Length(max=300))
    account_number = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=60))
    routing_number = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=60))
    iban = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=60))
    bic = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=60))
    country = fields.String(required=True, validate=validate.Length(max=10))


class PayoutSchema(Schema):
    id = fields.Integer()
    amount = MoneyField(currency="currency")
    fee = MoneyField(currency="currency")
    total = MoneyField(value=lambda p: Money(p.amount + p.fee, p.currency),
                       metadata={"description": "amount + fee, held from the wallet"})
    status = fields.String(metadata={"enum": list(PAYOUT_STATUSES)})
    payout_method_id = fields.Integer()
    payout_method = fields.Nested(MethodSummarySchema, attribute="method")
    awaiting_second_approval = fields.Function(
        lambda p: p.status == "requested" and p.first_approver_id is not None, metadata={"type": "boolean"})
    requested_at = fields.DateTime()
    approved_at = fields.DateTime(allow_none=True)
    paid_at = fields.Function(lambda p: p.decided_at.isoformat() if p.status == PAYOUT_PAID and p.decided_at
                              else None, metadata={"type": "string", "format": "date-time", "nullable": True})
    decided_at = fields.DateTime(allow_none=True)
    bank_reference = fields.String(allow_none=True)
    reason = fields.String(allow_none=True, metadata={"description": "why it was rejected or failed"})


class PayoutRequestSchema(Schema):
    amount = AmountField(required=True)
    payout_method_id = fields.Integer(required=True, strict=True)


class PayoutListArgsSchema(PageArgsSchema):
    status = fields.String(load_default=None, validate=validate.OneOf(PAYOUT_STATUSES))


class QuoteArgsSchema(Schema):
    amount = AmountField(required=True)


class QuoteSchema(Schema):
    amount = MoneyField()
    fee = MoneyField()
    total = MoneyField()
    available = MoneyField()
    withdrawable = MoneyField(metadata={"description": "what can leave the wallet now (card money inside its "
                                                      "hold cannot)"})
    withdrawable_later = fields.List(fields.Nested(LaterSchema), metadata={
        "description": "what more becomes withdrawable, and from which UTC day"})
    daily_remaining = MoneyField()
    monthly_remaining = MoneyField()


@blp.post("")
@idempotent
@limiter.limit("30/hour", override_defaults=False)
@blp.arguments(PayoutRequestSchema, example=ex.PAYOUT_REQUEST)
@blp.response(201, envelope(PayoutSchema), example=ex.PAYOUT_REQUESTED)
@blp.alt_response(403, description="e-mail not verified or identity verification not approved")
@blp.doc(security=[{"bearerAuth": []}], parameters=[{"in": "header", "name": "Idempotency-Key", "required": False,
                                                      "schema": {"type": "string"}}])
def create(body):
    """Request a payout: the amount and the fee are held from the wallet until finance pays or refuses it.
    422 above the available balance, outside the limits, or to an account still in its cooling-off period."""
    user = current_api_user()
    with unit_of_work():
        payout = payouts.request_payout(user, payouts.parse_amount(body["amount"]), body["payout_method_id"])
    return ok(payout)


@blp.get("")
@blp.arguments(PayoutListArgsSchema, location="query")
@blp.response(200, envelope(PayoutSchema, many=True, paginated=True), example=ex.PAYOUTS)
@blp.doc(security=[{"bearerAuth": []}])
def index(args):
    """The caller's payouts, newest first; filter by `status`."""
    rows, total = payouts.payouts_of(current_api_user().id, page=args["page"], per_page=args["per_page"],
                                     status=args["status"])
    return ok(rows, meta=page_meta(args["page"], args["per_page"], total))


@blp.get("/quote")
@blp.arguments(QuoteArgsSchema, location="query")
@blp.response(200, envelope(QuoteSchema), example=ex.QUOTE)
@blp.doc(security=[{"bearerAuth": []}])
def get_quote(args):
    """The fee on an amount, with what is available and what the limits still allow."""
    user = current_api_user()
    q = payouts.quote(payouts.parse_amount(args["amount"]))
    left = payouts.allowance(user.id)
    room = card_funds.withdrawable(user.id)
    return ok({"amount": q.amount, "fee": q.fee, "total": q.total, "available": balance_of(user.id).available,
               "withdrawable": room.now, "withdrawable_later": later_rows(room),
               "daily_remaining": left.today, "monthly_remaining": left.this_month})


@blp.get("/<int:payout_id>")
@blp.response(200, envelope(PayoutSchema), example=ex.PAYOUT_ONE)
@blp.doc(security=[{"bearerAuth": []}])
def get(payout_id: int):
    """One of the caller's payouts (404 for anyone else's)."""
    return ok(payouts.payout_for_owner(payout_id, current_api_user()))


@blp.post("/<int:payout_id>/cancel")
@limiter.limit("60/hour", override_defaults=False)
@blp.response(200, envelope(PayoutSchema), example=ex.PAYOUT_CANCELLED)
@blp.alt_response(409, description="the payout is no longer `requested`")
@blp.doc(security=[{"bearerAuth": []}])
def cancel(payout_id: int):
    """Cancel a payout that is still `requested`: the held amount and fee return to the wallet. 409 otherwise."""
    user = current_api_user()
    with unit_of_work():
        payout = payouts.cancel(payouts.payout_for_owner(payout_id, user), user=user)
    return ok(payout)
