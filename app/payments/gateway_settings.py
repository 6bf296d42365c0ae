"""The gateways a deposit can go through, each one's settings (enabled, limits, fee, the bank-transfer threshold
above which two people approve) and the fee it charges. Services flush and never commit."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core import audit
from app.core.errors import Forbidden, ValidationError
from app.core.money import Money, round_half_even
from app.core.security import has_permission
from app.extensions import db
from app.payments.models import GatewaySetting

GATEWAYS = ("stripe", "bank_transfer", "razorpay")
GATEWAY_LABELS = {"stripe": "card (Stripe)", "bank_transfer": "bank transfer", "razorpay": "Razorpay"}
MAX_FEE_BPS = 5000


def settings_for(gateway: str) -> GatewaySetting:
    setting = db.session.scalar(select(GatewaySetting).where(GatewaySetting.gateway == gateway))
    if setting is None:
        setting = GatewaySetting(gateway=gateway, enabled=True, min_amount=1_000, max_amount=10_000_000, fee_bps=0,
                                 fee_fixed=0, instructions="",
                                 second_approval_above=1_000_000 if gateway == "bank_transfer" else None)
        try:
            with db.session.begin_nested():
                db.session.add(setting)
        except IntegrityError as exc:
            setting = db.session.scalar(select(GatewaySetting).where(GatewaySetting.gateway == gateway))
            if setting is None:  # the insert lost to another one's: its row is there
                raise RuntimeError(f"no settings for {gateway} after a conflicting insert") from exc
    return setting


def fee_for(setting: GatewaySetting, amount: int) -> int:
    return round_half_even(amount * setting.fee_bps, 10_000) + setting.fee_fixed


def quote(gateway: str, amount: Money) -> dict:
    setting = settings_for(gateway)
    fee = fee_for(setting, amount.minor)
    return {"amount": amount, "fee": Money(fee, amount.currency), "total": Money(amount.minor + fee, amount.currency)}


def update_gateway_settings(setting: GatewaySetting, *, actor, enabled: bool, min_amount: int, max_amount: int,
                            fee_bps: int, fee_fixed: int, second_approval_above: int | None,
                            instructions: str) -> GatewaySetting:
    """Finance changes a gateway's settings: limits that make sense, a fee within bounds; audited."""
    if not has_permission(actor, "payments.settings"):
        raise Forbidden("changing gateway settings needs payments.settings")
    if min_amount <= 0 or max_amount < min_amount:
        raise ValidationError("The minimum must be positive and not above the maximum.",
                              {"min_amount": ["Positive, and not above the maximum."]})
    if not 0 <= fee_bps <= MAX_FEE_BPS or fee_fixed < 0:
        raise ValidationError("The fee must be 0 to 5,000 basis points and a fixed part of 0 or more.",
                              {"fee_bps": [f"0 to {MAX_FEE_BPS:,}."], "fee_fixed": ["0 or more."]})
    setting.enabled, setting.min_amount, setting.max_amount = enabled, min_amount, max_amount
    setting.fee_bps, setting.fee_fixed = fee_bps, fee_fixed
    setting.second_approval_above, setting.instructions = second_approval_above, instructions
    db.session.flush()
    audit.record("payments.settings_saved", actor=actor, target=setting, after={
        "enabled": setting.enabled, "min": setting.min_amount, "max": setting.max_amount,
        "fee_bps": setting.fee_bps, "fee_fixed": setting.fee_fixed,
        "second_approval_above": setting.second_approval_above})
    return setting
