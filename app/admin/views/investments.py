"""Investing in the console: investments (filters by property, status and investor e-mail; details with the
installments, the return calendar and payments, declared distributions and the ledger entries) and the
installments that are due or overdue (filters by property, state and days overdue; the late fee that would apply
today), with the default cancellation finance may make once an installment is unpaid past the default period."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from flask import abort, current_app, g, request, url_for
from flask_admin import expose
from flask_admin.contrib.sqla.filters import DateBetweenFilter
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager, lazyload, selectinload

from app.admin.base import (
    BigListMixin,
    SecureModelView,
    exact_filters,
    money_formatter,
    range_filters,
    requires,
    run_action,
)
from app.admin.list_search import IndexedSearch
from app.admin.views.investment_filters import (
    INSTALLMENT_STATES,
    DaysOverdueFilter,
    InstallmentStateFilter,
    InvestmentStatusFilter,
    InvestorEmailFilter,
    InvestorEmailIsFilter,
    LiveFilterOptions,
    PropertyFilter,
    _days,
    _today,
)
from app.auth.forms import SimpleForm
from app.auth.models import User
from app.core.money import Money
from app.core.security import has_permission
from app.extensions import db
from app.investing import portfolio
from app.investing import services as investing
from app.investing.models import (
    DIST_PAID,
    DUE,
    PAYING,
    DeclaredDistribution,
    DistributionShare,
    Installment,
    Investment,
    ReturnPayment,
)
from app.ledger.models import Account, JournalEntry, Posting
from app.properties.models import Property

STATUS_BADGE = {"paying": "info", "active": "success", "completed": "dark", "cancelled": "secondary",
                "defaulted": "danger"}


def _status(view, context, model, name):
    return Markup(f'<span class="badge badge-{STATUS_BADGE.get(model.status, "secondary")}">'
                  f'{escape(model.status)}</span>')


def _details_url(endpoint: str, record_id: int) -> str:
    """url_for(f"{endpoint}.details_view", id=record_id), its base built once a request: a list page makes 100."""
    bases = g.setdefault("_details_urls", {})
    if endpoint not in bases:
        bases[endpoint] = url_for(f"{endpoint}.details_view")
    return f"{bases[endpoint]}?id={int(record_id)}"


def _investor(view, context, model, name):
    inv = model if isinstance(model, Investment) else model.investment
    return Markup(f'<a href="{_details_url("users", inv.user_id)}">{escape(inv.user.email)}</a>')


def _property(view, context, model, name):
    inv = model if isinstance(model, Investment) else model.investment
    return Markup(f'<a href="{_details_url("properties", inv.property_id)}">{escape(inv.property.title)}</a>')


def _investment_link(view, context, model, name):
    inv_id = model.id if isinstance(model, Investment) else model.investment_id
    return Markup(f'<a href="{_details_url("investments", inv_id)}">#{inv_id}</a>')



class InvestmentView(BigListMixin, LiveFilterOptions, SecureModelView):
    permission = "investments.view"
    details_template = "admin/investments/details.html"
    column_auto_select_related = False  # the query below loads the investor and the property
    column_list = ("id", "invested_on", "investor", "property", "amount", "paid_amount", "status", "fees_paid",
                   "refunded_amount")
    column_sortable_list = ("id", "invested_on", "status")  # indexed columns only (a million investments)
    column_searchable_list = ("id",)  # the exact id, or the investor (IndexedSearch)
    investor_columns = ("user_id",)
    column_default_sort = ("id", True)
    column_labels = {"paid_amount": "Paid", "fees_paid": "Late fees", "refunded_amount": "Refunded",
                     "invested_on": "Invested on", "escrow_amount": "In escrow", "entry_id": "First entry",
                     "return_anchor": "Returns count from", "documents_version": "Documents acknowledged (version)"}
    column_filters = (
        PropertyFilter(Investment.property_id, "Property"),
        InvestmentStatusFilter(Investment.status, "Status"),
        InvestorEmailIsFilter(Investment.user_id, "Investor e-mail"),
        DateBetweenFilter(Investment.invested_on, "Invested on"),
    )
    column_formatters = {"investor": _investor, "property": _property, "status": _status,
                         "amount": money_formatter("amount"), "paid_amount": money_formatter("paid_amount"),
                         "fees_paid": money_formatter("fees_paid"),
                         "refunded_amount": money_formatter("refunded_amount")}
    column_details_list = ("id", "investor", "property", "status", "amount", "paid_amount", "escrow_amount",
                           "fees_paid", "refunded_amount", "invested_on", "return_anchor", "documents_version",
                           "acknowledged_at", "acknowledged_ip", "entry_id", "closed_at", "close_reason",
                           "created_at")
    column_formatters_detail = column_formatters | {
        "escrow_amount": money_formatter("escrow_amount"),
        "documents_version": lambda v, c, m, n: Markup(f'<code title="{escape(m.documents_version)}">'
                                                       f'{escape(m.documents_version[:16])}…</code>'),
        "entry_id": lambda v, c, m, n: Markup(f'<a href="{url_for("ledger_entries.details_view", id=m.entry_id)}">'
                                              f'#{m.entry_id}</a>') if m.entry_id else ""}

    def get_query(self):
        # the investor and the property of the page's rows in one query each, not joined into the list query: a
        # page deep in a million investments then skips index entries of investments only
        return (db.session.query(Investment)
                .options(selectinload(Investment.user).lazyload("*"), selectinload(Investment.property).lazyload("*"),
                         lazyload(Investment.installments)))

    def get_count_query(self):
        return db.session.query(func.count(Investment.id)).select_from(Investment)

    def get_one(self, id):
        return db.session.get(Investment, int(id)) if str(id).isdigit() else None

    def render(self, template, **kwargs):
        if template == self.details_template and kwargs.get("model") is not None:
            kwargs.update(details_context(kwargs["model"]))
            kwargs.update(form=SimpleForm(), can_manage=has_permission(current_user, "investments.manage"))
        return super().render(template, **kwargs)

    @expose("/<int:investment_id>/cancel-default", methods=["POST"])
    @requires("investments.manage")
    def cancel_default(self, investment_id: int):
        if not SimpleForm().validate_on_submit():
            abort(400)
        # the row locks order this after an installment payment in flight (pay_installments takes them too, in the
        # same order: the property row first, then the investment)
        property_id = db.session.scalar(select(Investment.property_id).where(Investment.id == investment_id))
        if property_id is None:
            abort(404)
        db.session.execute(select(Property.id).where(Property.id == property_id).with_for_update())
        inv = db.session.scalar(select(Investment).where(Investment.id == investment_id).with_for_update()
                                .execution_options(populate_existing=True))
        if inv is None:
            abort(404)
        reason = request.form.get("reason")
        return run_action(lambda: investing.cancel_defaulted(inv, actor=current_user, reason=reason),
                          lambda r: f"Investment #{r.id} cancelled: {Money(r.refunded_amount, r.currency).display()} "
                                    f"refunded to the investor.",
                          url_for(".details_view", id=investment_id))


def details_context(inv: Investment) -> dict:
    """Everything the investment's page shows, in a fixed number of queries whatever its history."""
    today = _today()
    p = db.session.get(Property, inv.property_id)
    installments: list[dict[str, Any]] = [
        {"row": i, "late_fee": investing.late_fee_for(i, p, today) if i.status == DUE else i.late_fee,
         "days_overdue": max(0, (today - i.due_on).days) if i.status == DUE else 0}
        for i in inv.installments]
    in_default, oldest = investing.default_overdue(inv)
    calendar = portfolio.calendar(inv)
    payments = list(db.session.scalars(select(ReturnPayment).where(ReturnPayment.investment_id == inv.id)
                                       .order_by(ReturnPayment.period_index)))
    shares = db.session.execute(
        select(DistributionShare, DeclaredDistribution)
        .join(DeclaredDistribution, DeclaredDistribution.id == DistributionShare.distribution_id)
        .where(DistributionShare.investment_id == inv.id).order_by(DeclaredDistribution.period_start)).all()
    entry_ids = {inv.entry_id, *(i.entry_id for i in inv.installments), *(r.entry_id for r in payments),
                 *(d.entry_id for _, d in shares if d.status == DIST_PAID)} - {None}
    refund_key = f"investment-refund:{inv.id}"
    entries = list(db.session.scalars(
        select(JournalEntry).where(JournalEntry.id.in_(entry_ids) | (JournalEntry.idempotency_key == refund_key))
        .order_by(JournalEntry.id)))
    # what each entry moved on this investor's wallet (a distribution's entry pays many wallets)
    wallet_moves = dict(db.session.execute(
        select(Posting.entry_id, func.sum(Posting.amount)).join(Account, Account.id == Posting.account_id)
        .where(Posting.entry_id.in_([e.id for e in entries]), Account.user_id == inv.user_id,
               Account.kind == "user_wallet").group_by(Posting.entry_id)).all()) if entries else {}
    return {
        "p": p, "installments": installments, "in_default": in_default, "oldest_due": oldest,
        "default_on": oldest + timedelta(days=_days("INSTALLMENT_DEFAULT_DAYS", 30)) if oldest else None,
        "default_days": _days("INSTALLMENT_DEFAULT_DAYS", 30), "grace_days": _days("INSTALLMENT_GRACE_DAYS", 3),
        "default_fees": sum(x["late_fee"] for x in installments if x["row"].status == DUE),
        "calendar": calendar, "payments": payments, "shares": shares, "entries": entries,
        "wallet_moves": wallet_moves, "today": today,
        "money": lambda minor: Money(int(minor or 0), inv.currency).display(),
    }


# return payments ----------------------------------------------------------------------------------------------------
class ReturnPaymentView(BigListMixin, SecureModelView):
    """Every return period paid, newest first: a distribution run writes a million of these, so the list sorts and
    filters by what the table's indexes answer (the payment's id, its investment)."""

    permission = "investments.view"
    can_view_details = False
    column_auto_select_related = False
    column_list = ("id", "investment_id", "period_index", "due_on", "amount", "capital", "entry_id", "run_id",
                   "paid_at")
    column_sortable_list = ("id", "investment_id")
    column_searchable_list = ("id", "investment_id")  # exact ids, each answered by an index
    column_default_sort = ("id", True)
    column_labels = {"investment_id": "Investment", "period_index": "Period", "due_on": "Due on",
                     "entry_id": "Entry", "run_id": "Run", "paid_at": "Paid at"}
    column_filters = (*exact_filters(ReturnPayment.investment_id, "Investment", integer=True),
                      *range_filters(ReturnPayment.id, "ID", integer=True))
    column_formatters = {
        "investment_id": _investment_link,
        "amount": lambda v, c, m, n: Money(m.amount, current_app.config["FREEHOLD_CURRENCY"]).display(),
        "capital": lambda v, c, m, n: Money(m.capital, current_app.config["FREEHOLD_CURRENCY"]).display(),
        "entry_id": lambda v, c, m, n: Markup(f'<a href="{url_for("ledger_entries.details_view", id=m.entry_id)}">'
                                              f'#{m.entry_id}</a>') if m.entry_id else "",
    }


# installments -------------------------------------------------------------------------------------------------------
def _installment_no(view, context, model, name):
    count = model.investment.property.installments_count or 1
    return f"{model.index} of {count}"


def _nowrap(text) -> Markup:
    return Markup(f'<span class="text-nowrap">{escape(text)}</span>')


def _days_overdue(view, context, model, name):
    days = (_today() - model.due_on).days
    return days if days > 0 else ""


def _late_fee(view, context, model, name):
    fee = investing.late_fee_for(model, model.investment.property, _today())
    if fee:
        return _nowrap(Money(fee, model.investment.currency).display())
    p = model.investment.property
    if p.late_fee:
        starts = model.due_on + timedelta(days=_days("INSTALLMENT_GRACE_DAYS", 3) + 1)
        return Markup(f'<span class="text-muted small" title="the late fee the terms state, from that day">none yet'
                      f' · <span class="text-nowrap">{escape(Money(p.late_fee, model.investment.currency).display())}'
                      f'</span> from <span class="text-nowrap">{starts.isoformat()}</span></span>')
    return Markup('<span class="text-muted small">none in the terms</span>')


def _state(view, context, model, name):
    today = _today()
    if model.due_on >= today:
        return Markup('<span class="badge badge-info">due</span>')
    if model.due_on < today - timedelta(days=_days("INSTALLMENT_DEFAULT_DAYS", 30)):
        link = url_for("investments.details_view", id=model.investment_id)
        return Markup(f'<span class="badge badge-danger">in default</span> <a class="small" href="{link}#default">'
                      f'cancel…</a>')
    return Markup('<span class="badge badge-warning">overdue</span>')


class InstallmentView(IndexedSearch, LiveFilterOptions, SecureModelView):
    """Installments not yet paid, of investments still being paid for: due first, oldest first."""

    permission = "investments.view"
    list_template = "admin/investments/installments.html"
    can_view_details = False
    column_display_actions = False
    column_auto_select_related = False
    column_list = ("investor", "property", "investment", "index", "due_on", "amount", "days_overdue", "late_fee",
                   "state")
    column_sortable_list = ("due_on", "amount")
    column_searchable_list = ("investment_id",)  # the exact investment
    column_default_sort = ("due_on", False)
    column_labels = {"index": "Installment", "due_on": "Due on", "days_overdue": "Days overdue",
                     "late_fee": "Late fee if paid today"}
    column_filters = (
        PropertyFilter(Installment.investment_id, "Property"),
        InstallmentStateFilter(Installment.due_on, "State"),
        DaysOverdueFilter(Installment.due_on, "Days overdue", at_least=True),
        DaysOverdueFilter(Installment.due_on, "Days overdue", at_least=False),
        InvestorEmailFilter(Installment.investment_id, "Investor e-mail"),
        DateBetweenFilter(Installment.due_on, "Due on"),
    )
    column_formatters = {"investor": _investor, "property": _property, "investment": _investment_link,
                         "index": _installment_no, "due_on": lambda v, c, m, n: _nowrap(m.due_on.isoformat()),
                         "amount": lambda v, c, m, n: _nowrap(Money(m.amount, m.investment.currency).display()),
                         "days_overdue": _days_overdue, "late_fee": _late_fee, "state": _state}

    def _joined(self, query):
        return (query.join(Investment, Investment.id == Installment.investment_id)
                .join(User, User.id == Investment.user_id).join(Property, Property.id == Investment.property_id)
                .filter(Installment.status == DUE, Investment.status == PAYING))

    def get_query(self):
        investment = contains_eager(Installment.investment)
        return (self._joined(db.session.query(Installment))
                .options(investment.contains_eager(Investment.user).lazyload("*"),
                         investment.contains_eager(Investment.property).lazyload("*"),
                         investment.lazyload(Investment.installments)))

    def get_count_query(self):
        return self._joined(db.session.query(func.count(Installment.id)).select_from(Installment))

    def render(self, template, **kwargs):
        if template == self.list_template:
            kwargs["quick"] = self._quick_filters()
            kwargs["summary"] = installment_summary()
            kwargs["periods"] = {"grace": _days("INSTALLMENT_GRACE_DAYS", 3),
                                 "default": _days("INSTALLMENT_DEFAULT_DAYS", 30),
                                 "remind": _days("INSTALLMENT_REMIND_DAYS", 5)}
        return super().render(template, **kwargs)

    def _quick_filters(self) -> list[tuple[str, str]]:
        """Links to the list filtered by each state (filter arguments are positional in Flask-Admin)."""
        index = next(i for i, f in enumerate(self._filters) if isinstance(f, InstallmentStateFilter))
        # typed as Any: mypy matches an unpacked dict[str, str] against url_for's `_external: bool` too
        return [(label.split(" (")[0],
                 url_for(".index_view", **cast("dict[str, Any]", {f"flt0_{index}": key})))
                for key, label in INSTALLMENT_STATES.items()]


def installment_summary() -> dict:
    """Counts and sums of unpaid installments by state, in one query."""
    today = _today()
    grace = today - timedelta(days=_days("INSTALLMENT_GRACE_DAYS", 3))
    default = today - timedelta(days=_days("INSTALLMENT_DEFAULT_DAYS", 30))
    live = (Installment.status == DUE) & Installment.investment_id.in_(
        select(Investment.id).where(Investment.status == PAYING))

    def count(*conditions):
        return select(func.count(Installment.id)).where(live, *conditions).scalar_subquery()

    row = db.session.execute(select(count(Installment.due_on >= today), count(Installment.due_on < today),
                                    count(Installment.due_on < grace), count(Installment.due_on < default))).one()
    return dict(zip(("due", "overdue", "late_fee", "default"), row))


def register(admin) -> None:
    admin.add_view(InvestmentView(Investment, db, name="Investments", endpoint="investments", category="Investing"))
    admin.add_view(InstallmentView(Installment, db, name="Installments due", endpoint="installments",
                                   category="Investing"))
    admin.add_view(ReturnPaymentView(ReturnPayment, db, name="Return payments", endpoint="return_payments",
                                     category="Investing"))
