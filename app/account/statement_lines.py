"""How a statement names each ledger line, in the investor's language. One function, `describe_lines`, so that a
richer description (the property and the month a return is for) replaces it at one call site."""
from __future__ import annotations

from collections.abc import Sequence

from flask_babel import lazy_pgettext

from app.account.statement_data import Line

_LABELS = {
    "deposit": lazy_pgettext("statement line", "Deposit"),
    "deposit_refund": lazy_pgettext("statement line", "Deposit refund"),
    "investment": lazy_pgettext("statement line", "Investment"),
    "installment": lazy_pgettext("statement line", "Installment"),
    "investment_refund": lazy_pgettext("statement line", "Investment refund"),
    "returns": lazy_pgettext("statement line", "Return"),
    "return": lazy_pgettext("statement line", "Return"),
    "distribution": lazy_pgettext("statement line", "Return"),
    "declared_distribution": lazy_pgettext("statement line", "Distribution"),
    "hold": lazy_pgettext("statement line", "Money held"),
    "hold_release": lazy_pgettext("statement line", "Held money released"),
    "hold_settle": lazy_pgettext("statement line", "Withdrawal paid out"),
    "payout_fee": lazy_pgettext("statement line", "Withdrawal fee"),
    "reversal": lazy_pgettext("statement line", "Correction"),
    "adjustment": lazy_pgettext("statement line", "Balance correction"),
    "market_trade": lazy_pgettext("statement line", "Market trade"),
    "market_offer_settle": lazy_pgettext("statement line", "Market offer paid"),
}
_OTHER = lazy_pgettext("statement line", "Other movement")


def kind_label(kind: str) -> str:
    """The line's kind as the investor reads it (never the internal memo)."""
    return str(_LABELS.get(kind, _OTHER))


def describe_lines(user_id: int, lines: Sequence[Line]) -> list[str]:
    """One description per line, in order, in the current locale."""
    return [kind_label(line.kind) for line in lines]


def account_label(account_kind: str) -> str:
    return str(lazy_pgettext("statement account", "Held") if account_kind == "user_held"
               else lazy_pgettext("statement account", "Available"))
