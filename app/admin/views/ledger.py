"""Ledger: accounts, journal entries with their postings, holds, deposits. Read-only: money moves only
through services."""
from flask import url_for
from flask_login import current_user
from markupsafe import Markup, escape

from app.admin.base import BigListMixin, SecureModelView, exact_filters, money_formatter, range_filters
from app.core.money import Money
from app.core.security import has_permission
from app.extensions import db
from app.ledger.models import Account, Hold, JournalEntry, Posting


def _postings_table(view, context, entry, name):
    rows = "".join(
        f"<tr><td>{escape(p.account.code)}</td><td>{escape(p.account.label)}</td>"
        f"<td class='text-right text-monospace {'text-success' if p.amount > 0 else 'text-danger'}'>"
        f"{'+' if p.amount > 0 else '−'}{escape(Money(abs(p.amount), p.account.currency).display())}</td></tr>"
        for p in entry.postings
    )
    total = sum(p.amount for p in entry.postings)
    return Markup("<table class='table table-sm mb-0'><thead><tr><th>Account</th><th>Name</th>"
                  "<th class='text-right'>Amount</th></tr></thead><tbody>" + rows + "</tbody>"
                  f"<tfoot><tr><th colspan='2'>Sum (always zero)</th><th class='text-right'>{total}</th></tr>"
                  "</tfoot></table>")


def _entry_link(view, context, model, name):
    entry_id = getattr(model, name if name.endswith("_id") else f"{name}_id", None)
    if entry_id is None:
        return ""
    return Markup(f'<a href="{url_for("ledger_entries.details_view", id=entry_id)}">#{entry_id}</a>')


def _statement_link(view, context, account, name):
    """The account's statement (Finance → Account statement) for those who may read reports."""
    if not has_permission(current_user, "reports.view"):
        return ""
    return Markup(f'<a href="{url_for("account_statement.index", account=account.id)}">Statement</a>')


class AccountView(SecureModelView):
    permission = "ledger.view"
    simple_list_pager = True
    column_list = ("code", "kind", "name", "user", "currency", "balance", "allow_negative", "created_at", "statement")
    column_searchable_list = ("code", "name")
    column_filters = ("kind", "currency", "allow_negative", "user_id")
    column_sortable_list = ("code", "kind", "balance", "created_at")
    column_default_sort = ("id", False)
    column_formatters = {"balance": money_formatter("balance"), "statement": _statement_link,
                         "name": lambda view, context, account, name: account.label}


class JournalEntryView(BigListMixin, SecureModelView):
    """Millions of entries: sorting and filters on indexed columns only (an entry is found by its exact
    idempotency key, not by a substring of its memo)."""

    permission = "ledger.view"
    column_list = ("id", "created_at", "kind", "memo", "idempotency_key", "actor", "reverses_id")
    column_details_list = ("id", "created_at", "kind", "memo", "idempotency_key", "actor", "reverses_id", "postings")
    column_filters = (*exact_filters(JournalEntry.kind, "Kind"), *range_filters(JournalEntry.created_at, "Created at"),
                      *exact_filters(JournalEntry.actor_id, "Actor ID", integer=True),
                      *exact_filters(JournalEntry.idempotency_key, "Idempotency key"),
                      *range_filters(JournalEntry.id, "ID", integer=True))
    column_sortable_list = ("id", "created_at", "kind")
    column_searchable_list = ("id", "idempotency_key")  # exact id, start of the key
    column_default_sort = ("id", True)
    column_labels = {"reverses_id": "Reverses"}
    column_formatters = {"reverses_id": _entry_link}
    column_formatters_detail = {"postings": _postings_table, "reverses_id": _entry_link}


class PostingView(BigListMixin, SecureModelView):
    permission = "ledger.view"
    can_view_details = False
    column_list = ("id", "entry_id", "account", "amount")
    column_sortable_list = ("id", "entry_id")
    column_searchable_list = ("id", "entry_id", "account_id")  # exact ids, each answered by an index
    column_filters = (*exact_filters(Posting.account_id, "Account ID", integer=True),
                      *range_filters(Posting.entry_id, "Entry", integer=True),
                      *range_filters(Posting.id, "ID", integer=True))
    column_default_sort = ("id", True)
    column_labels = {"entry_id": "Entry"}
    column_formatters = {
        "entry_id": _entry_link,
        "amount": lambda v, c, m, n: Money(m.amount, m.account.currency).display(),
    }


class HoldView(SecureModelView):
    permission = "ledger.view"
    column_list = ("id", "user", "amount", "status", "memo", "hold_entry_id", "resolution_entry_id", "created_at",
                   "resolved_at")
    column_filters = ("status", "user_id", "created_at")
    column_searchable_list = ("memo",)
    column_default_sort = ("id", True)
    column_formatters = {"amount": money_formatter("amount"), "hold_entry_id": _entry_link,
                         "resolution_entry_id": _entry_link}


def register(admin) -> None:
    admin.add_view(AccountView(Account, db, name="Accounts", endpoint="ledger_accounts", category="Ledger"))
    admin.add_view(JournalEntryView(JournalEntry, db, name="Journal entries", endpoint="ledger_entries",
                                    category="Ledger"))
    admin.add_view(PostingView(Posting, db, name="Postings", endpoint="ledger_postings", category="Ledger"))
    admin.add_view(HoldView(Hold, db, name="Holds", endpoint="ledger_holds", category="Ledger"))
