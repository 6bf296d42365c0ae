"""The console's home page: live counts, the history over a date range (app/admin/dashboard_history.py), and the
ledger proof on demand."""
from __future__ import annotations

from datetime import timedelta

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from sqlalchemy import func, select

from app.admin import dashboard_history, dashboard_range
from app.admin.base import SecureIndexView, requires
from app.admin.dashboard_range import Range
from app.auth import services as auth
from app.auth.models import Role, User, user_roles
from app.core import audit
from app.core.db import discard, unit_of_work, utcnow
from app.core.money import Money
from app.core.security import STAFF_ROLES, has_permission
from app.extensions import db
from app.kyc.services import queue_counts
from app.ledger.checks import verify
from app.ledger.models import USER_HELD, USER_WALLET, Account, Hold, JournalEntry
from app.ledger.services import platform_currency
from app.ops import failed_tasks
from app.payments.models import Deposit
from app.properties import services as properties


def _counts() -> dict:
    since = utcnow() - timedelta(days=1)
    currency = platform_currency()
    staff_ids = select(user_roles.c.user_id).join(Role, Role.id == user_roles.c.role_id).where(
        Role.name.in_(STAFF_ROLES))
    row = db.session.execute(select(
        select(func.count(User.id)).scalar_subquery(),
        select(func.count(User.id)).where(User.id.in_(staff_ids)).scalar_subquery(),
        select(func.count(User.id)).where(User.status == "blocked").scalar_subquery(),
        select(func.count(JournalEntry.id)).scalar_subquery(),
        select(func.count(JournalEntry.id)).where(JournalEntry.created_at >= since).scalar_subquery(),
        select(func.coalesce(func.sum(Account.balance), 0)).where(Account.kind == USER_WALLET).scalar_subquery(),
        select(func.coalesce(func.sum(Account.balance), 0)).where(Account.kind == USER_HELD).scalar_subquery(),
        select(func.count(Hold.id)).where(Hold.status == "pending").scalar_subquery(),
        select(func.count(Deposit.id)).where(Deposit.status == "pending").scalar_subquery(),
        select(func.coalesce(func.sum(Deposit.amount), 0)).where(
            Deposit.status == "succeeded", Deposit.completed_at >= since).scalar_subquery(),
    )).one()
    users, staff, blocked, entries, entries_24h, wallets, held, holds, pending_deposits, deposited_24h = row
    return {
        "users": users, "investors": users - staff, "staff": staff, "blocked": blocked,
        "entries": entries, "entries_24h": entries_24h,
        "wallets": Money(int(wallets), currency), "held": Money(int(held), currency), "pending_holds": holds,
        "pending_deposits": pending_deposits, "deposited_24h": Money(int(deposited_24h), currency),
    }


def _range() -> Range:
    """The range asked for, or the default one with a message saying what was wrong."""
    try:
        return dashboard_range.parse(request.args.get("from"), request.args.get("to"), utcnow().date())
    except dashboard_range.BadRange as exc:
        flash(f"{exc}. Showing the last {dashboard_range.DEFAULT_WEEKS} weeks and "
              f"{dashboard_range.DEFAULT_MONTHS} months instead.", "error")
        return dashboard_range.default(utcnow().date())


class DashboardView(SecureIndexView):
    @expose("/")
    def index(self):
        r = _range()
        return self.render("admin/dashboard.html", counts=_counts(), user=current_user,
                           range=r, presets=dashboard_range.presets(utcnow().date()),
                           history=dashboard_history.tiles(self.admin, current_user, r, utcnow()),
                           can_verify=has_permission(current_user, "ledger.verify"), kyc=queue_counts(),
                           can_review=has_permission(current_user, "kyc.review"),
                           staff_changes=auth.pending_staff_count()
                           if has_permission(current_user, "staff.manage") else None,
                           offerings_to_approve=properties.pending_count()
                           if has_permission(current_user, "properties.approve") else None,
                           failed_tasks=failed_tasks.open_count() if has_permission(current_user, "ops.view") else None)

    @expose("/ledger/verify", methods=["POST"])
    @requires("ledger.verify")
    def verify_ledger(self):
        report = verify()
        discard()  # the proof only read: its transaction ends before the audit record's own
        with unit_of_work():
            audit.record("ledger.verify", after={"ok": report.ok, "entries": report.entries,
                                                 "accounts": report.accounts, "violations": report.violations[:20]})
        if report.ok:
            flash(f"ledger ok: {report.entries} entries, {report.accounts} accounts", "success")
        else:
            flash(f"{len(report.violations)} ledger violation(s): " + "; ".join(report.violations[:10]), "error")
        return redirect(url_for("admin.index"))
