"""What "Download my data" puts in the archive: one set-based query per section, its rows streamed into a CSV
(or a JSON document) inside the ZIP. Amounts are decimal strings in major units beside their currency; bank account
numbers are masked; another person's identity (the other side of a trade, staff who decided) is left out.

The tables are read through the shared metadata (app.models registers every model), so this module names
columns, not the domains' classes."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import Select, Table, case, literal, or_, select

from app.core.money import Money
from app.extensions import db
from app.payouts.models import mask

BATCH = 500


def table(name: str) -> Table:
    return db.metadata.tables[name]


@dataclass(frozen=True)
class Section:
    """A CSV file of the archive: `query(user_id)` selects its rows; columns named in `money` are minor units of
    the row's `currency` column, written in major units; `masked` columns keep their last four characters."""

    filename: str
    query: Callable[[int], Select[Any]]
    money: tuple[str, ...] = ()
    masked: tuple[str, ...] = ()


def _cols(t: Table, *names: str) -> list[Any]:
    return [t.c[n] for n in names]


def _investments(user_id: int) -> Select[Any]:
    t = table("investments")
    return select(*_cols(t, "id", "property_id", "status", "currency", "amount", "paid_amount", "refunded_amount",
                         "fees_paid", "units", "units_listed", "acquired_by", "invested_on", "documents_version",
                         "acknowledged_at", "closed_at", "close_reason", "created_at")
                  ).where(t.c.user_id == user_id).order_by(t.c.id)


def _ledger(user_id: int) -> Select[Any]:
    accounts, postings, entries = table("ledger_accounts"), table("ledger_postings"), table("ledger_entries")
    return (select(entries.c.id.label("entry_id"), entries.c.created_at, entries.c.effective_date, entries.c.kind,
                   entries.c.memo, case((accounts.c.kind == "user_wallet", literal("wallet")), else_=literal("held"))
                   .label("account"), accounts.c.currency, postings.c.amount)
            .select_from(postings.join(accounts, accounts.c.id == postings.c.account_id)
                         .join(entries, entries.c.id == postings.c.entry_id))
            .where(accounts.c.user_id == user_id, accounts.c.kind.in_(("user_wallet", "user_held")))
            .order_by(postings.c.id))


def _payouts(user_id: int) -> Select[Any]:
    p, m = table("payouts"), table("payout_methods")
    return (select(p.c.id, p.c.created_at, p.c.status, p.c.currency, p.c.amount, p.c.fee, p.c.decided_at,
                   p.c.bank_reference, m.c.bank_name, m.c.account_number)
            .select_from(p.outerjoin(m, m.c.id == p.c.payout_method_id))
            .where(p.c.user_id == user_id).order_by(p.c.id))


def _payout_methods(user_id: int) -> Select[Any]:
    m = table("payout_methods")
    return select(*_cols(m, "id", "kind", "holder_name", "bank_name", "account_number", "iban", "country",
                         "created_at")).where(m.c.user_id == user_id).order_by(m.c.id)


def _deposits(user_id: int) -> Select[Any]:
    d = table("deposits")
    return select(*_cols(d, "id", "created_at", "gateway", "status", "currency", "amount", "fee", "refunded_amount",
                         "completed_at", "failure_reason")).where(d.c.user_id == user_id).order_by(d.c.id)


def _notifications(user_id: int) -> Select[Any]:
    n = table("notifications")
    return select(*_cols(n, "id", "created_at", "event", "title", "body", "read_at")
                  ).where(n.c.user_id == user_id).order_by(n.c.id)


def _sign_ins(user_id: int) -> Select[Any]:
    a = table("login_attempts")
    return select(*_cols(a, "created_at", "channel", "success", "reason", "ip", "user_agent")
                  ).where(a.c.user_id == user_id).order_by(a.c.id)


def _sessions(user_id: int) -> Select[Any]:
    s = table("user_sessions")
    return select(*_cols(s, "created_at", "last_seen_at", "expires_at", "revoked_at", "revoked_reason", "ip",
                         "user_agent")).where(s.c.user_id == user_id).order_by(s.c.id)


def _security_events(user_id: int) -> Select[Any]:
    """The audit trail's records of the user's own sign-ins and security changes (what they did themselves)."""
    a = table("audit_log")
    return select(*_cols(a, "created_at", "action", "ip", "user_agent")).where(
        a.c.actor_id == user_id, or_(a.c.action.like("auth.%"), a.c.action.like("mfa.%"))).order_by(a.c.id)


def _listings(user_id: int) -> Select[Any]:
    t = table("market_listings")
    return select(*_cols(t, "id", "property_id", "investment_id", "status", "currency", "units", "units_remaining",
                         "price_per_unit", "created_at", "expires_at", "closed_at", "close_reason")
                  ).where(t.c.seller_id == user_id).order_by(t.c.id)


def _offers(user_id: int) -> Select[Any]:
    t = table("market_offers")
    return select(*_cols(t, "id", "listing_id", "status", "currency", "units", "price_per_unit", "buyer_fee",
                         "held_amount", "buyer_message", "created_at", "resolved_at", "trade_id")
                  ).where(t.c.buyer_id == user_id).order_by(t.c.id)


def _trades(user_id: int) -> Select[Any]:
    t = table("market_trades")
    side = case((t.c.seller_id == user_id, literal("sold")), else_=literal("bought")).label("side")
    fee = case((t.c.seller_id == user_id, t.c.seller_fee), else_=t.c.buyer_fee).label("fee")
    return (select(t.c.id, t.c.settled_at, side, t.c.property_id, t.c.listing_id, t.c.currency, t.c.units,
                   t.c.price_per_unit, t.c.amount, fee)
            .where(or_(t.c.seller_id == user_id, t.c.buyer_id == user_id)).order_by(t.c.id))


def _kyc_submissions(user_id: int) -> Select[Any]:
    s, f = table("kyc_submissions"), table("kyc_forms")
    return (select(s.c.id, f.c.name.label("form"), s.c.status, s.c.country, s.c.submitted_at, s.c.decided_at,
                   s.c.reason_code)
            .select_from(s.join(f, f.c.id == s.c.form_id)).where(s.c.user_id == user_id).order_by(s.c.id))


def _kyc_documents(user_id: int) -> Select[Any]:
    d, s, f = table("kyc_documents"), table("kyc_submissions"), table("kyc_fields")
    return (select(d.c.id, d.c.submission_id, f.c.name.label("field"), d.c.content_type, d.c.size, d.c.sha256,
                   d.c.decision, d.c.created_at)
            .select_from(d.join(s, s.c.id == d.c.submission_id).join(f, f.c.id == d.c.field_id))
            .where(s.c.user_id == user_id).order_by(d.c.id))


SECTIONS: tuple[Section, ...] = (
    Section("investments.csv", _investments, money=("amount", "paid_amount", "refunded_amount", "fees_paid")),
    Section("ledger_lines.csv", _ledger, money=("amount",)),
    Section("payouts.csv", _payouts, money=("amount", "fee"), masked=("account_number",)),
    Section("payout_methods.csv", _payout_methods, masked=("account_number", "iban")),
    Section("deposits.csv", _deposits, money=("amount", "fee", "refunded_amount")),
    Section("notifications.csv", _notifications),
    Section("sign_ins.csv", _sign_ins),
    Section("sessions.csv", _sessions),
    Section("security_events.csv", _security_events),
    Section("market_listings.csv", _listings, money=("price_per_unit",)),
    Section("market_offers.csv", _offers, money=("price_per_unit", "buyer_fee", "held_amount")),
    Section("market_trades.csv", _trades, money=("price_per_unit", "amount", "fee")),
    Section("kyc/submissions.csv", _kyc_submissions),
    Section("kyc/documents.csv", _kyc_documents),
)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _csv_safe(value: Any) -> Any:
    """Text a spreadsheet would run as a formula is written with a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def rows_of(section: Section, user_id: int) -> tuple[list[str], Iterator[list[Any]]]:
    """The header and the rows of a section, read in batches (one query)."""
    query = section.query(user_id)
    header = [c.name for c in query.selected_columns]

    def rows() -> Iterator[list[Any]]:
        result = db.session.execute(query.execution_options(yield_per=BATCH)).mappings()
        try:
            for row in result:
                values = dict(row)
                for name in section.money:
                    if values.get(name) is not None:
                        values[name] = Money(int(values[name]), values["currency"]).amount_str()
                for name in section.masked:
                    values[name] = mask(values.get(name))
                yield [_csv_safe(_cell(values[name])) for name in header]
        finally:
            result.close()

    return header, rows()


def write_csv(section: Section, user_id: int, out: IO[bytes]) -> int:
    """Stream the section into `out` as UTF-8 CSV; returns the number of rows."""
    header, rows = rows_of(section, user_id)
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    writer = csv.writer(text)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    text.flush()
    text.detach()
    return count


def profile(user_id: int) -> dict[str, Any]:
    u = table("users")
    row = db.session.execute(select(u).where(u.c.id == user_id)).mappings().one()
    keep = ("id", "email", "first_name", "last_name", "phone_number", "locale", "status", "email_verified",
            "email_verified_at", "terms_accepted_at", "last_login_at", "password_changed_at", "totp_enabled",
            "created_at")
    return {name: _cell(row[name]) if name != "email_verified" and name != "totp_enabled" else bool(row[name])
            for name in keep}


def kyc_values(user_id: int) -> list[dict[str, Any]]:
    """The identity details entered, per submission; sensitive ones (document numbers) masked."""
    v, s, f = table("kyc_values"), table("kyc_submissions"), table("kyc_fields")
    rows = db.session.execute(
        select(v.c.submission_id, f.c.name, f.c.label, f.c.sensitive, v.c.value, v.c.secret_value)
        .select_from(v.join(s, s.c.id == v.c.submission_id).join(f, f.c.id == v.c.field_id))
        .where(s.c.user_id == user_id).order_by(v.c.submission_id, f.c.position)).all()
    return [{"submission_id": r.submission_id, "field": r.name, "label": r.label,
             "value": mask(r.secret_value) if r.sensitive else r.value} for r in rows]


def documents(user_id: int) -> list[tuple[int, str, str, str]]:
    """(document id, field name, storage key, content type) of the user's own KYC documents."""
    d, s, f = table("kyc_documents"), table("kyc_submissions"), table("kyc_fields")
    rows = db.session.execute(
        select(d.c.id, f.c.name, d.c.storage_key, d.c.content_type)
        .select_from(d.join(s, s.c.id == d.c.submission_id).join(f, f.c.id == d.c.field_id))
        .where(s.c.user_id == user_id).order_by(d.c.id)).all()
    return [(r.id, r.name, r.storage_key, r.content_type) for r in rows]


def dumps(value: Any) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str).encode("utf-8")
