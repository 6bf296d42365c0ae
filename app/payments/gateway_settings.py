"""The gateways a deposit can go through, each one's settings (enabled, limits, fee, the bank-transfer threshold
above which two people approve) and the fee it charges. Services flush and never commit."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core.money import Money, round_half_even
from app.extensions import db
from app.payments.models import GatewaySetting

GATEWAYS = ("stripe", "bank_transfer", "razorpay")
GATEWAY_LABELS = {"stripe": "card (Stripe)", "bank_transfer": "bank transfer", "razorpay": "Razorpay"}


def settings_for(gateway: str) -> GatewaySetting:
    setting = db.session.scalar(select(GatewaySetting).where(GatewaySetting.gateway == gateway))
    if setting is None:
        setting = GatewaySetting(gateway=gateway, enabled=True, min_amount=1_000, max_amount=10_000_000, fee_bps=0,
                                 fee_fixed=0, instructions="",
                                 second_approval_above=1_000_000 if gateway == "bank_transfer" else None)
        try:
            with db.session.begin_nested():
                db.session.add(setting)
        except IntegrityError:
            setting = db.session.scalar(select(GatewaySetting).where(GatewaySetting.gateway == gateway))
    return setting


def fee_for(setting: GatewaySetting, amount: int) -> int:
    return round_half_even(amount * setting.fee_bps, 10_000) + setting.fee_fixed


def quote(gateway: str, amount: Money) -> dict:
    setting = settings_for(gateway)
    fee = fee_for(setting, amount.minor)
    return {"amount": amount, "fee": Money(fee, amount.currency), "total": Money(amount.minor + fee, amount.currency)}

