"""POST /properties/{id}/invest, GET /investments, GET /investments/summary, GET /investments/{id},
POST /investments/{id}/installments/pay.

Acknowledging the offering documents: the body may carry `acknowledge` (default true) and `documents_version` (the
`documents_version` of GET /properties/{id}). A call with only `{amount}` is the caller's acknowledgement of the
documents and terms as they stand at that moment: the investment records that version, the time and the caller's
IP. `acknowledge: false` is refused with 422; a `documents_version` that is no longer current is refused with 409
(the documents or terms changed: read them again)."""
from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate, validates
from marshmallow import ValidationError as SchemaError

from app.api.auth import current_api_user
from app.api.envelope import PageArgsSchema, envelope, ok, page_meta
from app.api.examples import investing as ex
from app.api.fields import AmountField, MoneyField
from app.api.idempotency import idempotent
from app.core.db import unit_of_work
from app.core.money import Money
from app.investing import portfolio
from app.investing import services as investing
from app.investing.models import INVESTMENT_STATUSES
from app.ledger.services import platform_currency

URL = ""  # routes under both /properties and /investments
blp = Blueprint("api_investments", __name__, description="Investing from the wallet, and the caller's portfolio")

IDEMPOTENCY_HEADER = {"in": "header", "name": "Idempotency-Key", "required": False, "schema": {"type": "string"}}


class InvestRequestSchema(Schema):
    amount = AmountField(required=True, metadata={
        "description": 'the whole investment, a decimal string in major units, e.g. "1000.00"; with installments '
                       "the first one is paid from the wallet now"})
    acknowledge = fields.Raw(load_default=True, metadata={
        "description": "true (the default): I have read the offering documents and terms; false is refused",
        "type": "boolean"})
    documents_version = fields.String(load_default=None, validate=validate.Length(max=64), metadata={
        "description": "the documents_version I read (from GET /properties/{id}); 409 when it changed since"})

    @validates("acknowledge")
    def _acknowledge(self, value, **kwargs):
        if not isinstance(value, bool):
            raise SchemaError("must be true or false")
        if value is not True:
            raise SchemaError("Confirm you have read the offering documents and terms.")


class PayRequestSchema(Schema):
    all_remaining = fields.Boolean(load_default=False, metadata={
        "description": "pay every remaining installment (default: only the next one)"})


class InvestmentArgs(PageArgsSchema):
    status = fields.String(load_default=None, validate=validate.OneOf((*INVESTMENT_STATUSES, "live", "closed")),
                           metadata={"description": "one status, live (paying and active) or closed (the others)"})


def _date(value):
    return value.isoformat() if value else None


class InstallmentSchema(Schema):
    index = fields.Integer()
    due_on = fields.Date()
    amount = MoneyField()
    status = fields.String(metadata={"description": "due, paid or void"})
    late_fee = MoneyField(metadata={"description": "charged when it was paid late; for a due one, what paying it "
                                                   "today would add"})
    paid_at = fields.DateTime(allow_none=True)


class ReturnSchema(Schema):
    period = fields.Integer()
    due_on = fields.Date()
    amount = MoneyField()
    capital = MoneyField()
    status = fields.String(metadata={"description": "paid or upcoming"})
    paid_at = fields.DateTime(allow_none=True)


class NextInstallmentSchema(Schema):
    index = fields.Integer()
    due_on = fields.String(metadata={"format": "date"})
    amount = MoneyField(metadata={"description": "the installment with any late fee paying it today would add"})


class InvestmentSchema(Schema):
    id = fields.Integer()
    property_id = fields.Integer()
    property_title = fields.String()
    property_slug = fields.String()
    amount = MoneyField(metadata={"description": "committed, every installment included"})
    paid_amount = MoneyField()
    returns_earned = MoneyField()
    status = fields.String(metadata={"description": "paying, active, completed, cancelled, defaulted or sold "
                                                    "(every unit sold on the market)",
                                     "enum": list(INVESTMENT_STATUSES)})
    units = fields.Integer(metadata={"description": "whole units of the offering's unit price held: the paid amount "
                                                    "divided by the unit price, rounded down"})
    units_listed = fields.Integer(metadata={"description": "units reserved by an open market listing"})
    unit_price = MoneyField(metadata={"description": "the offering's unit price"})
    acquired_by = fields.String(metadata={"description": "offering (invested) or trade (bought on the market)",
                                          "enum": ["offering", "trade"]})
    cost_amount = MoneyField(allow_none=True, metadata={
        "description": "bought on the market: what was paid (price and fee); returns are on the nominal `amount`"})
    next_return_date = fields.String(allow_none=True, metadata={"format": "date"})
    next_return_amount = MoneyField(allow_none=True, metadata={"description": "return (and capital) due then"})
    next_installment = fields.Nested(NextInstallmentSchema, allow_none=True)
    installments = fields.List(fields.Nested(InstallmentSchema))
    invested_on = fields.String(metadata={"format": "date"})
    documents_version = fields.String()
    acknowledged_at = fields.DateTime()
    refunded_amount = MoneyField()
    fees_paid = MoneyField()
    closed_at = fields.DateTime(allow_none=True)
    close_reason = fields.String(allow_none=True)


class InvestmentDetailSchema(InvestmentSchema):
    schedule = fields.List(fields.Nested(ReturnSchema))


class MonthSchema(Schema):
    month = fields.String(metadata={"pattern": "^[0-9]{4}-[0-9]{2}$", "example": "2026-01"})
    amount = MoneyField()


class SummarySchema(Schema):
    invested = MoneyField()
    paid_in = MoneyField()
    returns_earned = MoneyField()
    holdings = fields.Integer()
    next_return_date = fields.String(allow_none=True, metadata={"format": "date"})
    next_return_amount = MoneyField(allow_none=True)
    returns_by_month = fields.List(fields.Nested(MonthSchema))


def present(h: portfolio.Holding, *, fees: dict | None = None, schedule: bool = False) -> dict:
    inv, fees = h.investment, fees or {}
    nxt = h.next_installment
    data = {
        "id": inv.id, "property_id": inv.property_id, "property_title": inv.property.title,
        "property_slug": inv.property.slug, "amount": h.money(inv.amount), "paid_amount": h.money(inv.paid_amount),
        "returns_earned": h.money(h.returns_earned), "status": inv.status, "units": inv.units,
        "units_listed": inv.units_listed, "unit_price": h.money(inv.property.unit_price),
        "acquired_by": inv.acquired_by, "cost_amount": h.money(inv.cost_amount),
        "next_return_date": _date(h.next_return_date), "next_return_amount": h.next_return_amount,
        "next_installment": ({"index": nxt.index, "due_on": nxt.due_on.isoformat(),
                              "amount": h.money(nxt.amount + fees.get(nxt.index, 0)).as_dict()} if nxt else None),
        "installments": [{"index": i.index, "due_on": i.due_on, "amount": h.money(i.amount), "status": i.status,
                          "late_fee": h.money(i.late_fee or fees.get(i.index, 0)), "paid_at": i.paid_at}
                         for i in inv.installments],
        "invested_on": inv.invested_on.isoformat(), "documents_version": inv.documents_version,
        "acknowledged_at": inv.acknowledged_at, "refunded_amount": h.money(inv.refunded_amount),
        "fees_paid": h.money(inv.fees_paid), "closed_at": inv.closed_at, "close_reason": inv.close_reason,
    }
    if schedule:
        data["schedule"] = [{"period": r.period_index, "due_on": r.due_on, "amount": h.money(r.amount),
                             "capital": h.money(r.capital), "status": "paid" if r.paid else "upcoming",
                             "paid_at": r.paid_at} for r in h.schedule]
    return data


def _detail(user, investment_id: int) -> dict:
    h = portfolio.holding(user.id, investment_id)
    return present(h, fees=portfolio.installment_fees(h), schedule=True)


@blp.post("/properties/<int:property_id>/invest")
@idempotent
@blp.arguments(InvestRequestSchema, example=ex.INVEST_REQUEST)
@blp.response(201, envelope(InvestmentDetailSchema), example=ex.INVESTED)
@blp.alt_response(403, description="e-mail not verified or KYC not approved")
@blp.alt_response(409, description="not enough funding left, funding closed, or the documents changed")
@blp.alt_response(422, description="outside the terms, not acknowledged, or more than the wallet holds")
@blp.doc(security=[{"bearerAuth": []}], parameters=[IDEMPOTENCY_HEADER])
def invest(body, property_id: int):
    """Invest `amount` from the wallet. The call acknowledges the offering documents and terms as they stand (or as
    of `documents_version`), recorded with the time and IP. With installments, the first is paid now."""
    user = current_api_user()
    with unit_of_work():
        inv = investing.invest(user, property_id, Money.parse(body["amount"], platform_currency()),
                               acknowledged=body["acknowledge"], documents_version=body["documents_version"],
                               ip=request.remote_addr)
    return ok(_detail(user, inv.id))


@blp.get("/investments")
@blp.arguments(InvestmentArgs, location="query")
@blp.response(200, envelope(InvestmentSchema, many=True, paginated=True), example=ex.INVESTMENTS)
@blp.doc(security=[{"bearerAuth": []}])
def investments(args):
    """The caller's investments, newest first, with returns earned and the next return."""
    rows, total = portfolio.holdings(current_api_user().id, page=args["page"], per_page=args["per_page"],
                                     status=args["status"])
    return ok([present(h) for h in rows], meta=page_meta(args["page"], args["per_page"], total))


@blp.get("/investments/summary")
@blp.response(200, envelope(SummarySchema), example=ex.SUMMARY)
@blp.doc(security=[{"bearerAuth": []}])
def summary():
    """Totals: invested (live commitments), paid in, returns earned, the next return date and amount, and returns
    received in each of the last twelve months."""
    user, currency = current_api_user(), platform_currency()
    s = portfolio.summary(user.id, currency)
    data = {"invested": s.invested, "paid_in": s.paid_in, "returns_earned": s.returns_earned, "holdings": s.holdings,
            "next_return_date": _date(s.next_return_date), "next_return_amount": s.next_return_amount}
    data["returns_by_month"] = [{"month": m.month.strftime("%Y-%m"), "amount": m.amount.as_dict()}
                                for m in portfolio.returns_by_month(user.id, currency)]
    return ok(data)


@blp.get("/investments/<int:investment_id>")
@blp.response(200, envelope(InvestmentDetailSchema), example=ex.INVESTMENT)
@blp.doc(security=[{"bearerAuth": []}])
def investment(investment_id: int):
    """One of the caller's investments (404 for anyone else's) with its installments and return calendar."""
    return ok(_detail(current_api_user(), investment_id))


@blp.post("/investments/<int:investment_id>/installments/pay")
@idempotent
@blp.arguments(PayRequestSchema, example=ex.PAY_REQUEST)
@blp.response(200, envelope(InvestmentDetailSchema), example=ex.PAID)
@blp.alt_response(403, description="the e-mail address is not verified")
@blp.alt_response(409, description="nothing is due, or the investment is not paying")
@blp.doc(security=[{"bearerAuth": []}], parameters=[IDEMPOTENCY_HEADER])
def pay(body, investment_id: int):
    """Pay the next due installment (or all remaining ones) from the wallet, late fees included."""
    user = current_api_user()
    with unit_of_work():
        investing.pay_installments(user, investment_id, all_remaining=body["all_remaining"])
    return ok(_detail(user, investment_id))
