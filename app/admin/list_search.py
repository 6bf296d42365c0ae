"""Search for console lists over big tables: an index answers every term.

Flask-Admin's own search reads `column ILIKE '%term%'`, which no B-tree index can answer: on a table of millions
of rows it reads them all. IndexedSearch instead matches each term as the *start* of a text column, case-insensitively
(`lower(column) LIKE 'term%'`, answered on PostgreSQL by the `lower(column) text_pattern_ops` indexes of migration
20261206_list_indexes), or as the exact value of an integer column (an id). Terms are AND-ed, columns OR-ed, as in
Flask-Admin. Only the view's own columns are searchable this way (no joins), and, for a list of an investor's
records, the investor: a view naming `investor_columns` (its columns holding a user's id) also finds the rows of the
users whose e-mail address or name starts with the term (`user_id IN (SELECT id FROM users WHERE lower(email) LIKE
'term%' OR ...)`), which the users' prefix indexes and the view's own index on that column answer."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, false, func, or_, select

from app.auth.models import User

if TYPE_CHECKING:  # a mixin of Flask-Admin's model view: type-checked as one
    from flask_admin.contrib.sqla import ModelView as _SearchBase
else:
    _SearchBase = object

LIKE_ESCAPE = "\\"

# the (table, column) pairs migration 20261206_list_indexes indexes as lower(column) text_pattern_ops on PostgreSQL:
# an IndexedSearch view searches text columns among these only (tests/admin/test_console_lists.py checks)
PREFIX_INDEXED = frozenset({("users", "email"), ("users", "first_name"), ("users", "last_name"),
                            ("login_attempts", "email"), ("audit_log", "actor_email"),
                            ("ledger_entries", "idempotency_key"), ("notification_deliveries", "to_address"),
                            ("deposits", "gateway_reference"), ("support_tickets", "subject")})


def prefix_pattern(term: str) -> str:
    """`term%` with LIKE's own wildcards in the term taken literally."""
    escaped = term.lower().replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", r"\%").replace("_", r"\_")
    return f"{escaped}%"


def term_clause(column: Any, term: str) -> Any:
    """The condition one search term puts on one column, or None when the term cannot match it."""
    if isinstance(column.type, Integer):
        return column == int(term) if term.isdigit() and len(term) < 19 else None
    return func.lower(column).like(prefix_pattern(term), escape=LIKE_ESCAPE)


# the users' columns an investor is found by: each has a prefix index (PREFIX_INDEXED)
INVESTOR_COLUMNS = (User.email, User.first_name, User.last_name)


def investor_clause(column: Any, term: str) -> Any:
    """The rows whose `column` (a user's id) belongs to an investor whose e-mail address or name starts with term."""
    pattern = prefix_pattern(term)
    users = select(User.id).where(or_(*(func.lower(c).like(pattern, escape=LIKE_ESCAPE) for c in INVESTOR_COLUMNS)))
    return column.in_(users)


class IndexedSearch(_SearchBase):
    indexed_search = True
    investor_columns: tuple[str, ...] = ()  # the model's columns holding a user's id, searched by the investor

    def search_placeholder(self) -> str | None:
        placeholder = super().search_placeholder()
        if placeholder and self.investor_columns:
            placeholder = f"{placeholder}, investor's e-mail or name"
        return f"{placeholder} (starts with)" if placeholder else placeholder

    def term_clauses(self, term: str) -> list[Any]:
        clauses = [c for c in (term_clause(field, term) for field, _path in self._search_fields or ())
                   if c is not None]
        if not term.isdigit():
            clauses += [investor_clause(getattr(self.model, name), term) for name in self.investor_columns]
        return clauses

    def _apply_search(self, query, count_query, joins, count_joins, search):
        for term in search.split():
            clauses = self.term_clauses(term)
            if not clauses:  # nothing this term can match: an empty page, not every row
                clauses = [false()]
            query = query.filter(or_(*clauses))
            if count_query is not None:
                count_query = count_query.filter(or_(*clauses))
        return query, count_query, joins, count_joins
