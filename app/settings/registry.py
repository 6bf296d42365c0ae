"""Every setting that guards money, in code: its label, unit, who may propose and approve a change, today's default,
the bounds it can move within (a threshold can move, never be removed or set to zero) and the optional environment
variable that caps it (the environment can lower a value, never raise it)."""
from __future__ import annotations

from dataclasses import dataclass

MONEY = "money"  # integer minor units of the platform currency
BPS = "bps"  # basis points
DAYS = "days"
COUNT = "count"
UNITS = (MONEY, BPS, DAYS, COUNT)

FINANCE_KEYS = "finance"  # proposed and approved by finance (admins too)
ADMIN_KEYS = "admin"  # proposed and approved by admins only

GATEWAYS = ("stripe", "bank_transfer", "razorpay", "paypal")
GATEWAY_LABELS = {"stripe": "card (Stripe)", "bank_transfer": "bank transfer", "razorpay": "Razorpay",
                  "paypal": "PayPal"}


@dataclass(frozen=True)
class Key:
    key: str
    label: str
    unit: str
    default: int
    floor: int
    ceiling: int
    group: str = "Payouts"
    owners: str = FINANCE_KEYS
    env_cap: str | None = None  # a config variable whose value caps the effective value

    @property
    def admin_only(self) -> bool:
        return self.owners == ADMIN_KEYS


def _gateway_keys(gateway: str) -> tuple[Key, ...]:
    label, group = GATEWAY_LABELS[gateway], f"Gateway: {GATEWAY_LABELS[gateway]}"
    return (
        Key(f"gateway.{gateway}.min_amount", f"Smallest deposit by {label}", MONEY, 1_000, 100, 100_000_000, group),
        Key(f"gateway.{gateway}.max_amount", f"Largest deposit by {label}", MONEY, 10_000_000, 100, 1_000_000_000,
            group),
        Key(f"gateway.{gateway}.fee_bps", f"Fee on a deposit by {label} (percentage)", BPS, 0, 0, 5_000, group),
        Key(f"gateway.{gateway}.fee_fixed", f"Fee on a deposit by {label} (fixed part)", MONEY, 0, 0, 100_000,
            group),
    )


KEYS: dict[str, Key] = {k.key: k for k in (
    Key("payout.min", "Smallest payout", MONEY, 1_000, 100, 1_000_000),
    Key("payout.max", "Largest payout", MONEY, 5_000_000, 10_000, 100_000_000),
    Key("payout.fee_bps", "Payout fee (percentage)", BPS, 50, 0, 1_000),
    Key("payout.fee_fixed", "Payout fee (fixed part)", MONEY, 100, 0, 10_000),
    Key("payout.daily_limit", "Payouts per investor per day", MONEY, 2_500_000, 10_000, 100_000_000),
    Key("payout.monthly_limit", "Payouts per investor per month", MONEY, 10_000_000, 10_000, 500_000_000),
    Key("payout.dual_approval_above", "Two finance approvers for payouts above", MONEY, 1_000_000, 1_000,
        100_000_000),
    Key("bank_transfer.second_approval_above", "Two finance approvers for bank transfers above", MONEY, 1_000_000,
        1_000, 100_000_000, "Deposits"),
    *(k for gateway in GATEWAYS for k in _gateway_keys(gateway)),
    Key("properties.rate_cap_bps", "Highest annual return rate a property may offer", BPS, 3_000, 100, 10_000,
        "Properties", ADMIN_KEYS),
    Key("market.seller_fee_bps", "Seller's fee on a market trade (percentage)", BPS, 100, 0, 1_000, "Market"),
    Key("market.seller_fee_min", "Seller's smallest fee on a market trade", MONEY, 100, 0, 100_000, "Market"),
    Key("market.buyer_fee_bps", "Buyer's fee on a market trade (percentage)", BPS, 100, 0, 1_000, "Market"),
    Key("market.buyer_fee_min", "Buyer's smallest fee on a market trade", MONEY, 100, 0, 100_000, "Market"),
    Key("market.price_band_low_bps", "Lowest asking price, as a percentage of a unit's nominal value", BPS, 5_000,
        100, 10_000, "Market"),
    Key("market.price_band_high_bps", "Highest asking price, as a percentage of a unit's nominal value", BPS,
        15_000, 10_000, 100_000, "Market"),
    Key("market.listing_days", "Days a listing stays open unless its seller says otherwise", DAYS, 30, 1, 365,
        "Market"),
    Key("market.offer_days", "Days an offer stays open unless its buyer says otherwise", DAYS, 7, 1, 90, "Market"),
    Key("market.lockup_days", "Days after a property's funding window closed before its units may be listed "
        "(when the property sets none)", DAYS, 180, 0, 3_650, "Market"),
    Key("card_funds.hold_days", "Days card-funded money is held before it can be paid out", DAYS, 7, 1, 90,
        "Deposits", env_cap="CARD_FUNDS_HOLD_DAYS"),
)}

# pairs (low, high): the first may never be above the second
ORDERED: tuple[tuple[str, str], ...] = (
    ("payout.min", "payout.max"),
    ("payout.daily_limit", "payout.monthly_limit"),
    ("market.price_band_low_bps", "market.price_band_high_bps"),
    *((f"gateway.{g}.min_amount", f"gateway.{g}.max_amount") for g in GATEWAYS),
)


def get(key: str) -> Key:
    try:
        return KEYS[key]
    except KeyError:
        raise KeyError(f"unknown setting {key!r}: add it to app/settings/registry.py") from None
