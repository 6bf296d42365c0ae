"""GET /wallet, GET /wallet/transactions."""
from dataclasses import fields as dataclass_fields
from types import SimpleNamespace

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app.account import history
from app.api.auth import current_api_user
from app.api.envelope import PageArgsSchema, envelope, ok, page_meta
from app.api.examples import accounts as ex
from app.api.fields import CURRENCY_PATTERN, MoneyField
from app.ledger import services as ledger
from app.ledger.models import USER_KINDS
from app.payments import card_funds

URL = "/wallet"
blp = Blueprint("api_wallet", __name__, description="Wallet and ledger lines")


class LaterSchema(Schema):
    amount = MoneyField()
    from_ = fields.Date(data_key="from", attribute="from", metadata={"description": "the UTC day it becomes free"})


class WalletSchema(Schema):
    available = MoneyField()
    held = MoneyField()
    currency = fields.String(metadata={"pattern": CURRENCY_PATTERN, "example": "USD"})
    withdrawable = MoneyField(metadata={
        "description": "what can be paid out or spent on the market now: available less card money still "
                       "inside its hold"})
    withdrawable_later = fields.List(fields.Nested(LaterSchema), metadata={
        "description": "the rest of the available balance and the day each part leaves the card-funds hold"})


class TransactionSchema(Schema):
    id = fields.Integer(attribute="posting_id")
    entry_id = fields.Integer()
    kind = fields.String()
    memo = fields.String(metadata={"description": "the entry's internal memo, as written by the back office"})
    description = fields.String(metadata={
        "description": "what the line is for, in the investor's words and language (e.g. \"Return from Northgate "
                       "Logistics Park, November 2026\")", "example": "Return from Northgate Logistics Park, November 2026"})
    account = fields.Function(lambda line: line.account_kind.removeprefix("user_"), metadata={
        "type": "string", "enum": [kind.removeprefix("user_") for kind in USER_KINDS],
        "description": "the caller's account the line is on"})
    direction = fields.Function(lambda line: "credit" if line.amount.minor > 0 else "debit",
                                metadata={"type": "string", "enum": ["credit", "debit"]})
    amount = MoneyField(metadata={"description": "negative for a debit"})
    created_at = fields.DateTime()


@blp.get("")
@blp.response(200, envelope(WalletSchema), example=ex.WALLET)
@blp.doc(security=[{"bearerAuth": []}])
def wallet():
    """Available and held balances, from the ledger, and how much of the available balance can be withdrawn now
    (card deposits stay inside a hold for some days: they can be invested in offerings meanwhile)."""
    user_id = current_api_user().id
    balance = ledger.balance_of(user_id)
    room = card_funds.withdrawable(user_id)
    return ok({"available": balance.available, "held": balance.held, "currency": balance.available.currency,
               "withdrawable": room.now, "withdrawable_later": later_rows(room)})


def later_rows(room: card_funds.Withdrawable) -> list[dict]:
    return [{"amount": amount, "from": day} for day, amount in room.later]


@blp.get("/transactions")
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, envelope(TransactionSchema, many=True, paginated=True), example=ex.TRANSACTIONS)
@blp.doc(security=[{"bearerAuth": []}])
def transactions(args):
    """The caller's ledger lines, newest first."""
    user_id = current_api_user().id
    lines, total = ledger.statement(user_id, page=args["page"], per_page=args["per_page"])
    texts = history.describe_lines(user_id, lines)
    rows = [SimpleNamespace(**{f.name: getattr(line, f.name) for f in dataclass_fields(line)},
                            description=texts[line.posting_id]) for line in lines]
    return ok(rows, meta=page_meta(args["page"], args["per_page"], total))
