"""Return notices, the sending side: each investor a distribution run paid gets ONE message for the run (the
`returns_paid` event, group "returns", by the channels they chose): what each property paid, the total, and the
next return when their calendar knows it.

The rows are written by the run, batch by batch (app/investing/returns/notices.py). Once the run is over (succeeded
or failed: a failed run's committed batches are paid and told), a task lists the rows not yet sent and queues the
sending in chunks of CHUNK investors, one task each (tasks.py). A chunk claims its rows with a conditional UPDATE
(`sent_at IS NULL`) and calls notify() in the same transaction: a retried or duplicated task finds them claimed
and sends nothing, and a chunk that fails rolls its claim back with its notifications, to be sent by the next
sweep. notify() queues each delivery after that commit.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from babel.dates import format_skeleton
from flask import current_app
from flask_babel import force_locale, format_date, get_locale
from sqlalchemy import and_, func, select, update

from app.auth.models import User
from app.core.db import utcnow
from app.core.money import Money
from app.extensions import db
from app.investing.models import RUNNING, DistributionRun, ReturnNotice, ScheduledReturn
from app.investing.returns.notices import parse_details
from app.notifications.services import notify
from app.properties.models import Property

EVENT = "returns_paid"
CHUNK = 200  # investors per sending task
LINK = "/wallet"


def locale_of(user: User) -> str:
    """The language the investor's messages are written in: theirs when the platform speaks it, else the default."""
    languages = tuple(current_app.config.get("LANGUAGES", ("en",)))
    return str(user.locale if user.locale in languages else current_app.config.get("BABEL_DEFAULT_LOCALE", "en"))


def unsent_ids() -> list[int]:
    """The notices not yet sent of the runs that are over, oldest first."""
    return list(db.session.scalars(
        select(ReturnNotice.id).join(DistributionRun, DistributionRun.id == ReturnNotice.run_id)
        .where(ReturnNotice.sent_at.is_(None), DistributionRun.status != RUNNING).order_by(ReturnNotice.id)))


def chunks(ids: Sequence[int], size: int = CHUNK) -> list[list[int]]:
    return [list(ids[start:start + size]) for start in range(0, len(ids), size)]


def month_words(day: date) -> str:
    """The period in words, in the current language: "November 2026", "noviembre de 2026"."""
    return format_skeleton("yMMMM", day, locale=get_locale() or "en")


def _totals(amounts: dict[str, int]) -> str:
    return " + ".join(Money(minor, currency).local() for currency, minor in sorted(amounts.items()) if minor)


def _next_returns(user_ids: list[int], after: date) -> dict[int, tuple[date, dict[str, int]]]:
    """Each investor's next return still on their calendar after `after`: its date and amount per currency."""
    first = (select(ScheduledReturn.user_id, func.min(ScheduledReturn.due_on).label("due_on"))
             .where(ScheduledReturn.user_id.in_(user_ids), ScheduledReturn.due_on > after)
             .group_by(ScheduledReturn.user_id).subquery())
    rows = db.session.execute(
        select(ScheduledReturn.user_id, ScheduledReturn.due_on, Property.currency, func.sum(ScheduledReturn.amount))
        .join(first, and_(first.c.user_id == ScheduledReturn.user_id, first.c.due_on == ScheduledReturn.due_on))
        .join(Property, Property.id == ScheduledReturn.property_id)
        .group_by(ScheduledReturn.user_id, ScheduledReturn.due_on, Property.currency))
    out: dict[int, tuple[date, dict[str, int]]] = {}
    for user_id, due_on, currency, amount in rows:
        out.setdefault(user_id, (due_on, {}))[1][currency] = int(amount or 0)
    return out


def context_for(notice: ReturnNotice | tuple, titles: dict[int, tuple[str, str]],
                upcoming: tuple[date, dict[str, int]] | None) -> dict:
    """What the message shows, in the current language: one line per property (its returns, capital back and
    months), the total, the next return."""
    _, _, _, payments, _, _, details = notice if isinstance(notice, tuple) else (
        notice.id, notice.run_id, notice.user_id, notice.payments, notice.amount, notice.capital, notice.details)
    per_property: dict[int, dict] = {}
    total: dict[str, int] = {}
    for property_id, due_on, amount, capital in parse_details(details):
        title, currency = titles.get(property_id, ("", "USD"))
        line = per_property.setdefault(property_id, {"title": title, "currency": currency, "amount": 0,
                                                     "capital": 0, "months": []})
        line["amount"] += amount
        line["capital"] += capital
        words = month_words(due_on)
        if words not in line["months"]:
            line["months"].append(words)
        total[currency] = total.get(currency, 0) + amount + capital
    lines = [{"title": line["title"],
              "amount": Money(line["amount"], line["currency"]).local() if line["amount"] else "",
              "capital": Money(line["capital"], line["currency"]).local() if line["capital"] else "",
              "period": ", ".join(line["months"])} for line in per_property.values()]
    context: dict = {"lines": lines, "count": int(payments), "properties": len(lines), "total": _totals(total),
                     "next_on": "", "next_amount": ""}
    if upcoming is not None:
        context["next_on"] = format_date(upcoming[0], "long")
        context["next_amount"] = _totals(upcoming[1])
    return context


def send(ids: Sequence[int]) -> int:
    """Claim the notices `ids` not yet sent and send each its message, in the caller's unit of work (the claim and
    the notifications commit together). Returns how many were sent."""
    if not ids:
        return 0
    rows = db.session.execute(
        update(ReturnNotice).where(ReturnNotice.id.in_(list(ids)), ReturnNotice.sent_at.is_(None))
        .values(sent_at=utcnow())
        .returning(ReturnNotice.id, ReturnNotice.run_id, ReturnNotice.user_id, ReturnNotice.payments,
                   ReturnNotice.amount, ReturnNotice.capital, ReturnNotice.details)
        .execution_options(synchronize_session=False)).all()
    if not rows:
        return 0
    claimed = sorted(rows, key=lambda row: row[0])
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_({row[2] for row in claimed})))}
    property_ids = {pid for row in claimed for pid, *_ in parse_details(row[6])}
    titles = {pid: (title, currency) for pid, title, currency in db.session.execute(
        select(Property.id, Property.title, Property.currency).where(Property.id.in_(property_ids)))}
    upcoming = _next_returns(sorted(users), utcnow().date())
    sent = 0
    for row in claimed:
        user = users.get(row[2])
        if user is None:
            continue
        with force_locale(locale_of(user)):
            notify(user, EVENT, link=LINK, **context_for(tuple(row), titles, upcoming.get(user.id)))
        sent += 1
    return sent
