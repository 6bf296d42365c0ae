"""The console lists' export (Flask-Admin's can_export): CSV and XLSX, written by the one escaping writer
(app/core/csvfile.py), never by Flask-Admin's own; each export needs export_permission (exports.run unless a view asks
for a stricter one) on top of the view's own, and is audited with its filters, search, sort and row count. Mixed into
SecureModelView."""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import flash, has_request_context, redirect
from flask_admin import expose
from flask_login import current_user

from app.admin import export_jobs
from app.admin.refusal import refuse
from app.core.audit import record
from app.core.csvfile import csv_response, escape_cell, xlsx_response
from app.core.db import unit_of_work
from app.core.security import has_permission

if TYPE_CHECKING:  # a mixin of Flask-Admin's model view: type-checked as one
    from flask_admin.contrib.sqla import ModelView as _ExportBase
else:
    _ExportBase = object


class AuditedListExport(_ExportBase):
    export_types = ["csv", "xlsx"]
    export_permission: str | None = "exports.run"
    export_action: str | None = None

    def may_export(self) -> bool:
        """The signed-in staff member holds the export permission (the view's own is checked before any page)."""
        return self.export_permission is None or has_permission(current_user, self.export_permission)

    @property
    def can_export(self) -> bool:
        """The export button shows only to those who may export (outside a request: the view offers exports)."""
        return not has_request_context() or self.may_export()

    @expose("/export/<export_type>/")
    def export(self, export_type: str):
        """Refused (403, the attempt in the trail as console.forbidden) before anything is read or audited."""
        if not self.may_export():
            refuse(self.export_permission)
        return super().export(export_type)

    def get_export_value(self, model, name):
        """Text that starts like a spreadsheet formula is written as text, whatever the format (csv, or any tablib
        format a view may list); numbers stay numbers."""
        value = super().get_export_value(model, name)
        return escape_cell(value) if isinstance(value, str) else value

    def _active_filters(self, filters) -> list[dict]:
        described = []
        for idx, _name, value in filters or ():
            flt = self._filters[idx]
            described.append({"column": str(flt.name), "operation": str(flt.operation()), "value": value})
        return described

    def export_header(self) -> list:
        """The export's header row (a view with its own export rows overrides both)."""
        return [title for _name, title in self._export_columns]

    def export_rows(self, models) -> list[list]:
        """The export's rows, read inside the export's unit of work."""
        columns = self._export_columns
        return [[self.get_export_value(model, name) for name, _title in columns] for model in models]

    def _export_csv(self, return_url):
        """Flask-Admin's own CSV writer is never used: record who exported what (the filters, search, sort and row
        count), commit, then stream the rows through the one export writer."""
        return self._export_through_writer("csv")

    def _export_tablib(self, export_type, return_url):
        """XLSX, when the view lists it, through the same audited export; no other tablib format (it would skip the
        audit and the escaping)."""
        if export_type != "xlsx" or "xlsx" not in self.export_types:
            flash("Only CSV and XLSX exports are offered.", "error")
            return redirect(return_url)
        return self._export_through_writer("xlsx")

    def _export_through_writer(self, fmt: str):
        if not self.may_export():
            refuse(self.export_permission)
        background = export_jobs.in_background(self, fmt)  # a list too large for the request: a job and its page
        if background is not None:
            return background
        with unit_of_work():
            args = self._get_list_extra_args()
            _count, models = self._export_data()
            header, rows = self.export_header(), self.export_rows(models)
            sort = self._get_column_by_idx(args.sort)
            record(self.export_action or f"{self.endpoint}.export", target=(self.model.__tablename__, None), after={
                "format": fmt,
                "filters": self._active_filters(args.filters),
                "search": args.search,
                "sort": {"column": sort[0], "desc": bool(args.sort_desc)} if sort else None,
                "rows": len(rows),
            })
        # the rows are already read: streaming needs no request context
        name = self.get_export_name(export_type=fmt)
        if fmt == "xlsx":
            return xlsx_response(header, rows, name, sheet=str(self.name or "Export"))
        return csv_response(header, rows, name)
