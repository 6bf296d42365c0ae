"""The investor's words for the ledger lines investing writes: "Return from Northgate Logistics Park, November 2026",
"Investment in Harbour Lofts", "Installment 2 for Harbour Lofts", never a run number or an internal id.

What an entry is for is read from its idempotency key (`returns:<run>:…`, `installment:<id>`, `declared:<id>`,
`investment-refund:<investment id>`) and resolved for a whole page at once: one query per kind present, whatever
the number of lines. A returns entry holds the payments of one property (often many investors): its line is
described from the investor's own payments in it (the property and the months they were due).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from app.extensions import db
from app.investing.models import DeclaredDistribution, Installment, Investment, ReturnPayment
from app.investing.return_notices import month_words
from app.properties.models import Property

KINDS = ("returns", "declared_distribution", "investment", "installment", "investment_refund")


def _id(key: str, prefix: str) -> int | None:
    rest = key[len(prefix):].split(":", 1)[0] if key.startswith(prefix) else ""
    return int(rest) if rest.isdigit() else None


def _months(first: date, last: date) -> str:
    if (first.year, first.month) == (last.year, last.month):
        return month_words(first)
    return f"{month_words(first)} – {month_words(last)}"


def _returns_rows(entry_ids: set[int], user_id: int | None):
    query = (select(ReturnPayment.entry_id, Property.title, func.min(ReturnPayment.due_on),
                    func.max(ReturnPayment.due_on), func.sum(ReturnPayment.amount), func.sum(ReturnPayment.capital))
             .join(Investment, Investment.id == ReturnPayment.investment_id)
             .join(Property, Property.id == Investment.property_id)
             .where(ReturnPayment.entry_id.in_(entry_ids)).group_by(ReturnPayment.entry_id, Property.title))
    return db.session.execute(query.where(Investment.user_id == user_id) if user_id is not None else query)


def _describe_returns(user_id: int, entry_ids: set[int], by_entry: dict[int, str]) -> None:
    """The investor's own payments in each returns entry (the property, the months); for a line paid on units the
    investor bought since (the calendar row, not the investment, names who is paid), the entry's payments."""
    _word(_returns_rows(entry_ids, user_id), by_entry)
    missing = entry_ids - set(by_entry)
    if missing:
        _word(_returns_rows(missing, None), by_entry)


def _word(rows, by_entry: dict[int, str]) -> None:
    for entry_id, title, first, last, amount, capital in rows:
        if entry_id is None or entry_id in by_entry:
            continue
        words = {"title": title, "period": _months(first, last)}
        if amount and capital:
            by_entry[entry_id] = _("Return and capital back from %(title)s, %(period)s", **words)
        elif capital:
            by_entry[entry_id] = _("Capital back from %(title)s, %(period)s", **words)
        else:
            by_entry[entry_id] = _("Return from %(title)s, %(period)s", **words)


def describe_lines(user_id: int, lines: Iterable, keys: Mapping[int, str]) -> dict[int, str]:
    """Descriptions of the investing lines among `lines` (posting id -> text, in the current language); `keys`
    maps their entry ids to the entries' idempotency keys. Other lines are left out."""
    lines = [line for line in lines if line.kind in KINDS and line.entry_id in keys]
    if not lines:
        return {}
    by_entry: dict[int, str] = {}
    returns = {line.entry_id for line in lines if line.kind == "returns"}
    if returns:
        _describe_returns(user_id, returns, by_entry)
    declared = {d: e for e in {line.entry_id for line in lines} if (d := _id(keys[e], "declared:")) is not None}
    if declared:
        for d_id, label, title in db.session.execute(
                select(DeclaredDistribution.id, DeclaredDistribution.label, Property.title)
                .join(Property, Property.id == DeclaredDistribution.property_id)
                .where(DeclaredDistribution.id.in_(declared))):
            by_entry[declared[d_id]] = _("Distribution from %(title)s: %(label)s", title=title, label=label)
    installments = {i: e for e in {line.entry_id for line in lines}
                    if (i := _id(keys[e], "installment:")) is not None}
    if installments:
        plan = aliased(Installment)
        for i_id, index, count, title in db.session.execute(
                select(Installment.id, Installment.index,
                       select(func.count(plan.id)).where(plan.investment_id == Investment.id).scalar_subquery(),
                       Property.title)
                .join(Investment, Investment.id == Installment.investment_id)
                .join(Property, Property.id == Investment.property_id)
                .where(Installment.id.in_(installments))):
            by_entry[installments[i_id]] = (_("Investment in %(title)s", title=title) if count <= 1 else
                                            _("Installment %(index)s of %(count)s for %(title)s", index=index,
                                              count=count, title=title))
    refunds = {i: e for e in {line.entry_id for line in lines}
               if (i := _id(keys[e], "investment-refund:")) is not None}
    if refunds:
        for inv_id, title in db.session.execute(
                select(Investment.id, Property.title).join(Property, Property.id == Investment.property_id)
                .where(Investment.id.in_(refunds))):
            by_entry[refunds[inv_id]] = _("Refund of your investment in %(title)s", title=title)
    fallback = {"returns": _("Return payment"), "declared_distribution": _("Distribution from a property"),
                "investment": _("Investment in a property"), "installment": _("Installment of an investment"),
                "investment_refund": _("Refund of an investment")}
    return {line.posting_id: by_entry.get(line.entry_id) or fallback[line.kind] for line in lines}
