"""The wallet: balances and ledger lines with filters (entry kind, UTC date range), and the same selection as a CSV
statement (oldest first, money in and out apart, each account's balance after the line)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.account import history
from app.core.csvfile import csv_text
from app.core.db import utcnow
from app.core.i18n import N_
from app.core.replica import replica_reads
from app.extensions import limiter
from app.ledger import services as ledger
from app.payments import card_funds
from app.portal import bp

PER_PAGE = 25


# N_ marks the labels for the catalogue: the page translates them, the CSV statement keeps them in English
KIND_LABELS = {
    "deposit": N_("Deposits"), "deposit_refund": N_("Deposit refunds"), "investment": N_("Investments"),
    "installment": N_("Installments"), "investment_refund": N_("Investment refunds"), "returns": N_("Returns"),
    "return": N_("Returns"), "distribution": N_("Distributions"), "hold": N_("Money held (withdrawals, offers)"),
    "hold_release": N_("Held money released"), "hold_settle": N_("Held money paid out"),
    "payout_fee": N_("Withdrawal fees"), "reversal": N_("Corrections"), "adjustment": N_("Balance corrections"),
    "market_trade": N_("Market trades"), "market_offer_settle": N_("Market offers paid"),
}
STATEMENT_HEADER = ("Date (UTC)", "Entry", "Type", "Description", "Account", "Money in", "Money out", "Balance after",
                    "Currency")


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind) or kind.replace("_", " ").capitalize()


@dataclass(frozen=True)
class StatementFilter:
    kind: str | None
    since: date | None
    until: date | None
    errors: dict

    def args(self) -> dict:
        return {k: v for k, v in (("kind", self.kind), ("from", self.since and self.since.isoformat()),
                                  ("to", self.until and self.until.isoformat())) if v}


def statement_filter(args) -> StatementFilter:
    """kind, from and to (YYYY-MM-DD, inclusive) from the query string; a bad value is reported, not used."""
    errors: dict = {}
    dates: dict[str, date | None] = {}
    for name in ("from", "to"):
        raw = (args.get(name) or "").strip()
        dates[name] = None
        if raw:
            try:
                dates[name] = date.fromisoformat(raw)
            except ValueError:
                errors[name] = _("Use a date like 2026-01-31.")
    if dates["from"] and dates["to"] and dates["from"] > dates["to"]:
        errors["to"] = _("The end date is before the start date.")
        dates["to"] = None
    kind = (args.get("kind") or "").strip()[:40] or None
    return StatementFilter(kind, dates["from"], dates["to"], errors)


@bp.get("/wallet")
def wallet():
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    f = statement_filter(request.args)
    balance = ledger.balance_of(current_user.id)
    lines, total = ledger.statement(current_user.id, page=page, per_page=PER_PAGE,
                                    kinds=[f.kind] if f.kind else None, since=f.since, until=f.until)
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    kinds = [(k, _(kind_label(k))) for k in ledger.statement_kinds(current_user.id)]
    return render_template("portal/wallet.html", balance=balance, lines=lines, page=page, pages=pages, total=total,
                           filters=f, kinds=kinds, raw=request.args,
                           descriptions=history.describe_lines(current_user.id, lines),
                           room=card_funds.withdrawable(current_user.id))


@bp.get("/wallet/statement.csv")
@limiter.limit("20/minute")
@replica_reads()  # a whole statement: read from the read replica when there is one
def wallet_statement():
    f = statement_filter(request.args)
    if f.errors:
        flash(_("The statement needs valid dates: %(errors)s", errors=" ".join(f.errors.values())), "error")
        return redirect(url_for("portal.wallet", **f.args()))
    lines = ledger.statement_export(current_user.id, kinds=[f.kind] if f.kind else None, since=f.since,
                                    until=f.until)
    rows = ((line.created_at.strftime("%Y-%m-%d %H:%M:%S"), line.entry_id, kind_label(line.kind),
             plain, "Held" if line.account_kind == "user_held" else "Available",
             line.amount.amount_str() if line.amount.minor > 0 else "",
             (-line.amount).amount_str() if line.amount.minor < 0 else "", line.balance.amount_str(),
             line.amount.currency) for line, plain in history.described(current_user.id, lines))
    name = (f"freehold-statement-{f.since.isoformat() if f.since else 'start'}-to-"
            f"{(f.until or utcnow().date()).isoformat()}.csv")
    response = Response(csv_text(STATEMENT_HEADER, rows), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
