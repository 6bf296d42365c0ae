"""POST /deposits, GET /deposits/{id}."""
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.auth import current_api_user
from app.api.envelope import envelope, ok
from app.api.examples import payments as ex
from app.api.fields import AmountField, MoneyField
from app.api.idempotency import idempotent
from app.core.db import unit_of_work
from app.core.errors import NotFound
from app.core.money import Money
from app.extensions import db, limiter
from app.ledger.services import platform_currency
from app.payments import services as payments
from app.payments.models import DEPOSIT_TRANSITIONS, Deposit

URL = "/deposits"
blp = Blueprint("api_deposits", __name__, description="Deposits into the wallet")


class DepositRequestSchema(Schema):
    amount = AmountField(required=True)
    gateway = fields.String(required=True, validate=validate.OneOf(payments.GATEWAYS))


class DepositSchema(Schema):
    id = fields.Integer()
    gateway = fields.String()
    amount = MoneyField(currency="currency")
    fee = MoneyField(currency="currency")
    total = MoneyField(value=lambda d: Money(d.amount + d.fee, d.currency), metadata={"description": "amount + fee"})
    status = fields.String(metadata={"enum": list(DEPOSIT_TRANSITIONS)})
    checkout_url = fields.String(allow_none=True)
    instructions = fields.String(allow_none=True)
    checkout_data = fields.Dict(allow_none=True, metadata={
        "description": "for client-side checkouts (Razorpay: key_id, order_id, amount, currency)"})
    reference = fields.Function(lambda d: d.gateway_reference if d.gateway == "bank_transfer" else None,
                                metadata={"type": "string", "nullable": True,
                                          "description": "the reference a bank transfer must carry"})
    failure_reason = fields.String(allow_none=True)
    created_at = fields.DateTime()
    completed_at = fields.DateTime(allow_none=True)




@blp.post("")
@idempotent
@limiter.limit("30/hour", override_defaults=False)
@blp.arguments(DepositRequestSchema, example=ex.DEPOSIT_REQUEST)
@blp.response(201, envelope(DepositSchema), example=ex.DEPOSIT_STARTED)
@blp.alt_response(403, description="the e-mail address is not verified")
@blp.doc(security=[{"bearerAuth": []}], parameters=[{"in": "header", "name": "Idempotency-Key", "required": False,
                                                      "schema": {"type": "string"}}])
def create(body):
    """Start a deposit: Stripe answers with a checkout_url, a bank transfer with instructions and a reference."""
    user = current_api_user()
    amount = Money.parse(body["amount"], platform_currency())
    with unit_of_work():  # the deposit and its checkout commit together (with the Idempotency-Key's answer)
        deposit = payments.begin_deposit(user, amount, body["gateway"])
    return ok(deposit)


@blp.get("/<int:deposit_id>")
@blp.response(200, envelope(DepositSchema), example=ex.DEPOSIT_SUCCEEDED)
@blp.doc(security=[{"bearerAuth": []}])
def get(deposit_id: int):
    """One of the caller's deposits (404 for anyone else's)."""
    deposit = db.session.get(Deposit, deposit_id)
    if deposit is None or deposit.user_id != current_api_user().id:
        raise NotFound("no such deposit")
    return ok(deposit)
