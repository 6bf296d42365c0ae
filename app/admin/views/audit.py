"""Audit trail: read-only, newest first. Exporting it (SecureModelView's CSV export, through the one CSV writer) is
itself audited; the chain can be verified on demand."""
from __future__ import annotations

import json

from flask import flash, redirect
from flask_admin import expose
from markupsafe import Markup

from app.admin.base import BigListMixin, SecureModelView, exact_filters, range_filters, requires
from app.core.audit import AuditRecord, record, verify_chain
from app.core.db import discard, unit_of_work
from app.extensions import db

ALL_COLUMNS = ("id", "created_at", "actor_id", "actor_email", "action", "target_type", "target_id", "before",
               "after", "reason", "ip", "user_agent", "prev_hash", "hash")


def _json_block(view, context, model, name):
    value = getattr(model, name)
    if value is None:
        return ""
    return Markup("<pre class='mb-0'>{}</pre>").format(json.dumps(value, indent=2, sort_keys=True))


def _json_text(view, context, model, name):
    value = getattr(model, name)
    return "" if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))


def _iso_time(view, context, model, name):
    return model.created_at.isoformat(timespec="microseconds")


class AuditView(BigListMixin, SecureModelView):
    permission = "audit.view"
    export_permission = "audit.export"  # stricter than exports.run: the button shows only to its holders

    list_template = "admin/audit_list.html"

    export_action = "audit.export"
    column_list = ("id", "created_at", "actor_email", "action", "target_type", "target_id", "reason", "ip")
    column_details_list = ALL_COLUMNS
    column_export_list = ALL_COLUMNS
    column_filters = (*exact_filters(AuditRecord.action, "Action"), *exact_filters(AuditRecord.actor_email, "Actor"),
                      *exact_filters(AuditRecord.target_type, "Target type"),
                      *exact_filters(AuditRecord.target_id, "Target ID"),
                      *range_filters(AuditRecord.created_at, "Created at"),
                      *range_filters(AuditRecord.id, "ID", integer=True))
    column_sortable_list = ("id", "created_at", "action", "actor_email")
    column_searchable_list = ("actor_email",)  # the start of the address (indexed)
    column_default_sort = ("id", True)
    column_labels = {"actor_id": "Actor ID", "actor_email": "Actor", "target_type": "Target type",
                     "target_id": "Target ID", "ip": "IP", "user_agent": "User agent", "prev_hash": "Previous hash"}
    column_formatters_detail = {"before": _json_block, "after": _json_block}
    column_formatters_export = {"before": _json_text, "after": _json_text, "created_at": _iso_time}

    @expose("/verify", methods=["POST"])
    @requires("audit.view")
    def verify(self):
        checked, broken, problem = verify_chain()
        broken_id = broken.id if broken is not None else None
        discard()  # the check only read: its transaction ends before the audit record's own
        with unit_of_work():
            record("audit.verify", after={"records": checked, "broken_at": broken_id, "problem": problem})
        if broken_id is None:
            flash(f"audit ok: {checked} records", "success")
        else:
            flash(f"audit chain broken at record #{broken_id}: {problem}", "error")
        return redirect(self.get_url(".index_view"))


def register(admin) -> None:
    admin.add_view(AuditView(AuditRecord, db, name="Audit trail", endpoint="audit", category="Security"))
