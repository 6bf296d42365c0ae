"""The investor's words for every line of their wallet history: what it is for, never an internal id or run
number. One function, `describe_lines`, for the wallet page, the dashboard, the API, the CSV statement and the
statements: investing describes its own lines (returns, investments, installments, refunds, distributions) and the
market its trades and offers, each with the property's title; the rest is named by what it is (a deposit, a
withdrawal and its fee, a card dispute, a correction). A fixed number of queries per call (the entries' keys, then
one per kind present), whatever the number of lines.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from app.extensions import db
from app.investing import services as investing
from app.ledger.models import JournalEntry
from app.market import services as market


def _adjustment(memo: str, amount: int) -> str:
    """A balance correction: what it is, in the investor's language, and the note finance wrote for the investor
    (app.finance.adjustments.investor_memo writes "Balance correction (credit): <note>")."""
    base = _("Balance correction (credit)") if amount > 0 else _("Balance correction (debit)")
    _head, sep, note = (memo or "").partition(": ")
    return _("%(correction)s: %(note)s", correction=base, note=note) if sep and note else base


def _plain(kind: str, key: str, amount: int) -> str:
    """A line described by what it is, from its entry's kind and key."""
    if key.startswith(("payout-request:", "payout:")):
        if kind == "hold":
            return _("Withdrawal requested: money set aside")
        if kind == "hold_release":
            return _("Withdrawal cancelled: money back in your wallet")
        if kind == "payout_fee":
            return _("Fee for a withdrawal")
        return _("Withdrawal sent to your bank")
    if key.startswith("dispute:"):
        if kind == "hold":
            return _("Card payment disputed: money set aside")
        if kind == "hold_release":
            return _("Card payment dispute closed: money released")
        return _("Card payment disputed: money taken back")
    labels = {
        "deposit": _("Deposit to your wallet"),
        "deposit_refund": _("Deposit refunded to you"),
        "payout_fee": _("Fee for a withdrawal"),
        "adjustment": _("Correction of your balance"),
        "reversal": _("Correction of an earlier movement"),
        "market_trade": _("Trade on the market"),
        "market_offer_settle": _("Offer on the market paid"),
        "hold": _("Money set aside"),
        "hold_release": _("Money set aside released"),
        "hold_settle": _("Money set aside paid out"),
        "dispute_receivable": _("Card payment disputed"),
    }
    if kind in labels:
        return labels[kind]
    return _("Money received") if amount > 0 else _("Money paid out")


def describe_lines(user_id: int, lines: Sequence[Any], locale: str | None = None) -> dict[int, str]:
    """posting id -> the investor's description of that line, for every line of `lines` (ledger statement lines
    of `user_id`: posting_id, entry_id, kind, memo, account_kind, amount), in `locale` (default: the current
    one)."""
    if locale is not None:
        with force_locale(locale):
            return describe_lines(user_id, lines)
    if not lines:
        return {}
    keys = {entry_id: key for entry_id, key in db.session.execute(
        select(JournalEntry.id, JournalEntry.idempotency_key)
        .where(JournalEntry.id.in_({line.entry_id for line in lines})))}
    out = {line.posting_id: _adjustment(line.memo, line.amount.minor) if line.kind == "adjustment"
           else _plain(line.kind, keys.get(line.entry_id, ""), line.amount.minor) for line in lines}
    out.update(investing.describe_lines(user_id, lines, keys))
    out.update(market.describe_market_lines(user_id, lines))
    return out


def described(user_id: int, lines: Iterable[Any], batch: int = 500,
              locale: str | None = None) -> Iterator[tuple[Any, str]]:
    """(line, description) for a stream of lines (a whole statement), described a batch at a time."""
    chunk: list = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= batch:
            texts = describe_lines(user_id, chunk, locale)
            yield from ((c, texts[c.posting_id]) for c in chunk)
            chunk = []
    if chunk:
        texts = describe_lines(user_id, chunk, locale)
        yield from ((c, texts[c.posting_id]) for c in chunk)
