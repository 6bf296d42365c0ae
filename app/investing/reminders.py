"""Installment reminders: one before the due date (INSTALLMENT_REMIND_DAYS ahead) and one after it, each at most
once per installment, never for a paid or voided one.

Selection is set-based: one conditional UPDATE claims a batch of installments (stamping reminded_before_at or
reminded_after_at where it is still empty) and returns the ids it claimed, so a re-run, a retried task or two
workers at once remind each installment once. The reminders are written with the claim, in the caller's
transaction: services flush, the task commits (per batch).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import func, select, update

from app.auth.models import User
from app.core.db import utcnow
from app.core.money import Money
from app.extensions import db
from app.investing.models import DUE, PAYING, Installment, Investment
from app.notifications.services import notify
from app.properties.models import Property

BEFORE, AFTER = "before", "after"
BATCH = 500


@dataclass(frozen=True)
class Window:
    before_from: date  # due on or after this ...
    before_to: date    # ... and on or before this: reminded before
    after_until: date  # due before this (that is, on an earlier day than today): reminded after


def window(today: date) -> Window:
    days = int(current_app.config.get("INSTALLMENT_REMIND_DAYS", 5))
    return Window(before_from=today, before_to=today + timedelta(days=days), after_until=today)


def _due_filter(kind: str, w: Window):
    live = Installment.investment_id.in_(select(Investment.id).where(Investment.status == PAYING))
    if kind == BEFORE:
        return (Installment.status == DUE, Installment.reminded_before_at.is_(None),
                Installment.due_on >= w.before_from, Installment.due_on <= w.before_to, live)
    return (Installment.status == DUE, Installment.reminded_after_at.is_(None), Installment.due_on < w.after_until,
            live)


def pending_count(kind: str, today: date | None = None) -> int:
    """How many installments a run would remind now (for the console and tests)."""
    w = window(today or utcnow().date())
    return db.session.scalar(select(func.count(Installment.id)).where(*_due_filter(kind, w))) or 0


def claim(kind: str, today: date, limit: int = BATCH) -> list[int]:
    """Stamp up to `limit` installments as reminded and return their ids (those this transaction claimed)."""
    w = window(today)
    conditions = _due_filter(kind, w)
    column = Installment.reminded_before_at if kind == BEFORE else Installment.reminded_after_at
    candidates = select(Installment.id).where(*conditions).order_by(Installment.due_on, Installment.id).limit(limit)
    claimed = db.session.execute(
        update(Installment).where(Installment.id.in_(candidates), *conditions)
        .values({column: utcnow()}).returning(Installment.id)
        .execution_options(synchronize_session=False)).scalars().all()
    return sorted(claimed)


def remind(kind: str, today: date | None = None, *, limit: int = BATCH) -> int:
    """Claim one batch and notify each investor; returns how many were reminded (less than `limit`: done)."""
    today = today or utcnow().date()
    ids = claim(kind, today, limit)
    if not ids:
        return 0
    grace = int(current_app.config.get("INSTALLMENT_GRACE_DAYS", 3))
    default_days = int(current_app.config.get("INSTALLMENT_DEFAULT_DAYS", 30))
    rows = db.session.execute(
        select(Installment, Investment, User, Property)
        .join(Investment, Investment.id == Installment.investment_id)
        .join(User, User.id == Investment.user_id)
        .join(Property, Property.id == Investment.property_id)
        .where(Installment.id.in_(ids)).order_by(Installment.due_on, Installment.id)).all()
    event = "installment_due_soon" if kind == BEFORE else "installment_overdue"
    for inst, inv, user, p in rows:
        context = {
            "title": p.title, "investment_id": inv.id, "index": inst.index, "count": p.installments_count or 1,
            "amount": Money(inst.amount, inv.currency), "due_on": inst.due_on.isoformat(),
            "late_fee": Money(p.late_fee, inv.currency) if p.late_fee else None,
            "late_fee_from": (inst.due_on + timedelta(days=grace)).isoformat(),
        }
        if kind == AFTER:
            context["default_on"] = (inst.due_on + timedelta(days=default_days)).isoformat()
        notify(user, event, link=f"/portfolio/{inv.id}", **context)
    return len(rows)
