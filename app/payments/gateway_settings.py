"""The gateways a deposit can go through and each one's terms: whether it is enabled and its instructions (a
GatewaySetting row, edited directly by finance, audited), its limits and fee and the bank-transfer threshold above
which two people approve (settings that guard money, app/settings: changed only by a proposal a second person
approves). Services flush and never commit."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core import audit
from app.core.errors import Forbidden, ValidationError
from app.core.money import Money, round_half_even
from app.core.security import has_permission
from app.extensions import db
from app.payments.models import GatewaySetting
from app.settings import services as money_settings
from app.settings.registry import GATEWAY_LABELS, GATEWAYS

__all__ = ("GATEWAYS", "GATEWAY_LABELS", "GatewayTerms", "fee_for", "gateway_row", "quote", "second_approval_above",
           "settings_for", "update_gateway_settings")

MAX_INSTRUCTIONS = 5_000


@dataclass(frozen=True)
class GatewayTerms:
    """What applies to a deposit by one gateway now."""

    gateway: str
    enabled: bool
    instructions: str
    min_amount: int
    max_amount: int
    fee_bps: int
    fee_fixed: int
    second_approval_above: int | None


def gateway_row(gateway: str) -> GatewaySetting:
    """The gateway's row (enabled, instructions), created on first use."""
    setting = db.session.scalar(select(GatewaySetting).where(GatewaySetting.gateway == gateway))
    if setting is None:
        setting = GatewaySetting(gateway=gateway, enabled=True, instructions="")
        try:
            with db.session.begin_nested():
                db.session.add(setting)
        except IntegrityError as exc:
            setting = db.session.scalar(select(GatewaySetting).where(GatewaySetting.gateway == gateway))
            if setting is None:  # the insert lost to another one's: its row is there
                raise RuntimeError(f"no settings for {gateway} after a conflicting insert") from exc
    return setting


def second_approval_above() -> int:
    """Bank transfers above this amount take two different finance users."""
    return money_settings.value("bank_transfer.second_approval_above")


def settings_for(gateway: str) -> GatewayTerms:
    row = gateway_row(gateway)
    prefix = f"gateway.{gateway}."
    v = money_settings.values(prefix + name for name in ("min_amount", "max_amount", "fee_bps", "fee_fixed"))
    return GatewayTerms(gateway, row.enabled, row.instructions, v[prefix + "min_amount"], v[prefix + "max_amount"],
                        v[prefix + "fee_bps"], v[prefix + "fee_fixed"],
                        second_approval_above() if gateway == "bank_transfer" else None)


def fee_for(setting: GatewayTerms, amount: int) -> int:
    return round_half_even(amount * setting.fee_bps, 10_000) + setting.fee_fixed


def quote(gateway: str, amount: Money) -> dict:
    setting = settings_for(gateway)
    fee = fee_for(setting, amount.minor)
    return {"amount": amount, "fee": Money(fee, amount.currency), "total": Money(amount.minor + fee, amount.currency)}


def update_gateway_settings(setting: GatewaySetting, *, actor, enabled: bool, instructions: str | None) \
        -> GatewaySetting:
    """Finance switches a gateway on or off and edits its instructions; audited. Limits and fees are settings that
    guard money: they change by a proposal (app/settings)."""
    if not has_permission(actor, "payments.settings"):
        raise Forbidden("changing gateway settings needs payments.settings")
    instructions = (instructions or "").strip()
    if len(instructions) > MAX_INSTRUCTIONS:
        raise ValidationError("the instructions are too long",
                              {"instructions": [f"At most {MAX_INSTRUCTIONS:,} characters."]})
    before = {"enabled": setting.enabled, "instructions": setting.instructions}
    setting.enabled, setting.instructions = bool(enabled), instructions
    db.session.flush()
    audit.record("payments.settings_saved", actor=actor, target=setting, before=before,
                 after={"enabled": setting.enabled, "instructions": setting.instructions})
    return setting
