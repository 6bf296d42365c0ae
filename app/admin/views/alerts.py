"""Operations → Alerts: the problems the checks found in the platform's own running, open ones first, then the
history. Read-only: an alert closes by itself when its check no longer sees the problem."""
from __future__ import annotations

from markupsafe import Markup
from sqlalchemy import case

from app.admin.base import SecureModelView
from app.extensions import db
from app.ops.alerts import KINDS, Alert


def _state(view, context, model, name):
    if model.resolved_at is None:
        return Markup('<span class="badge badge-danger">open</span>')
    return Markup('<span class="badge badge-secondary">resolved</span>')


def _what(view, context, model, name):
    kind = KINDS.get(model.kind)
    return kind.title if kind else model.kind


def _where(view, context, model, name):
    kind = KINDS.get(model.kind)
    return kind.where if kind else ""


def _action(view, context, model, name):
    kind = KINDS.get(model.kind)
    return kind.action if kind else ""


class AlertView(SecureModelView):
    permission = "ops.view"
    simple_list_pager = True
    column_list = ("state", "what", "summary", "since", "raised_at", "last_seen_at", "resolved_at", "key")
    column_labels = {"what": "What is wrong", "since": "Since", "raised_at": "Raised", "last_seen_at": "Last seen",
                     "resolved_at": "Resolved", "key": "Problem key", "where": "Where to look",
                     "action": "What to do"}
    column_filters = ("kind", "key", "raised_at", "resolved_at")
    column_searchable_list = ("key", "summary")
    column_default_sort = ("raised_at", True)
    column_formatters = {"state": _state, "what": _what}
    column_details_list = ("state", "what", "key", "summary", "details", "since", "raised_at", "last_seen_at",
                           "resolved_at", "where", "action")
    column_formatters_detail = {"state": _state, "what": _what, "where": _where, "action": _action}

    def get_query(self):
        # open alerts first, whatever the chosen order below that
        return super().get_query().order_by(case((Alert.resolved_at.is_(None), 0), else_=1))


def register(admin) -> None:
    admin.add_view(AlertView(Alert, db, name="Alerts", endpoint="ops_alerts", url="alerts", category="Operations"))
