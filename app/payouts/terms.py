"""What the settings and the configuration set for payouts (minimum and maximum, fee, limits, thresholds, cooling-off), the fee on
an amount, and the reading of a request's raw inputs (an amount, an id)."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from app.core.errors import ValidationError
from app.core.money import Money, MoneyError
from app.ledger import services as ledger
from app.settings import services as money_settings


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
    """Limits, fee and threshold from the settings that guard money (the database, changed with four eyes); the
    risk amount and the cooling-off periods from the configuration."""
    config, currency = current_app.config, ledger.platform_currency()
    v = money_settings.values(("payout.min", "payout.max", "payout.fee_bps", "payout.fee_fixed",
                               "payout.daily_limit", "payout.monthly_limit", "payout.dual_approval_above"))
    return Settings(currency, Money(v["payout.min"], currency), Money(v["payout.max"], currency), v["payout.fee_bps"],
                    Money(v["payout.fee_fixed"], currency), Money(v["payout.daily_limit"], currency),
                    Money(v["payout.monthly_limit"], currency), Money(v["payout.dual_approval_above"], currency),
                    Money.parse(str(config["PAYOUT_RISK_AMOUNT"]), currency, allow_zero=True),
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
