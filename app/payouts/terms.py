"""What the configuration sets for payouts (minimum and maximum, fee, limits, thresholds, cooling-off), the fee on
an amount, and the reading of a request's raw inputs (an amount, an id)."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from app.core.errors import ValidationError
from app.core.money import Money, MoneyError
from app.ledger import services as ledger


@dataclass(frozen=True)
class Settings:
    currency: str
    minimum: Money
    maximum: Money
    fee_bps: int
    fee_fixed: Money
    daily_limit: Money
    monthly_limit: Money
    dual_approval_above: Money
    risk_amount: Money
    cooling_hours: int
    new_method_days: int


def settings() -> Settings:
    config, currency = current_app.config, ledger.platform_currency()

    def money(key: str) -> Money:
        return Money.parse(str(config[key]), currency, allow_zero=True)

    return Settings(currency, money("PAYOUT_MIN"), money("PAYOUT_MAX"), int(config["PAYOUT_FEE_BPS"]),
                    money("PAYOUT_FEE_FIXED"), money("PAYOUT_DAILY_LIMIT"), money("PAYOUT_MONTHLY_LIMIT"),
                    money("PAYOUT_DUAL_APPROVAL_ABOVE"), money("PAYOUT_RISK_AMOUNT"),
                    int(config["PAYOUT_METHOD_COOLING_HOURS"]), int(config["PAYOUT_NEW_METHOD_DAYS"]))


@dataclass(frozen=True)
class Quote:
    amount: Money
    fee: Money

    @property
    def total(self) -> Money:
        return self.amount + self.fee


def quote(amount: Money) -> Quote:
    """The fee on a payout of `amount`: a percentage (half-even) plus a fixed part, paid on top of the amount."""
    cfg = settings()
    return Quote(amount, amount.apply_bps(cfg.fee_bps) + cfg.fee_fixed)


def parse_amount(raw, field: str = "amount") -> Money:
    """An amount typed by the investor, read by `Money.parse` in the platform currency; a refusal names the field
    with Money's own reason as a sentence ("Amount must be greater than zero.")."""
    try:
        return Money.parse(raw, ledger.platform_currency())
    except MoneyError as exc:
        reason = str(exc)
        raise ValidationError("the amount is not valid", {field: [reason[:1].upper() + reason[1:] + "."]}) \
            from None


def is_id(value) -> bool:
    """A database id as a request may carry it: an int in BIGINT's range (never a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63
