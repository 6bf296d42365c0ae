"""Properties in the console: content and terms (money typed in major units, checked by the terms rules, locked once
invested), FAQ inline, photos and documents, and the workflow actions (submit for publication, withdraw the request,
complete, cancel) with confirmation. Changed terms of a published offering become a request for finance's approval;
finance decides in the queue of offerings to approve (app/admin/views/property_approvals.py)."""
from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation

from flask import abort, flash, has_request_context, redirect, request, url_for
from flask_admin import expose
from flask_admin.babel import gettext
from flask_admin.model.form import InlineFormAdmin
from flask_login import current_user
from markupsafe import Markup, escape
from wtforms import StringField
from wtforms import ValidationError as FormValidationError
from wtforms.validators import Length, Optional

from app.admin.base import SecureModelView, money_formatter, requires, run_action
from app.admin.views import property_approvals
from app.auth.forms import SimpleForm
from app.core.db import unit_of_work
from app.core.errors import Conflict, DomainError, ValidationError
from app.core.money import Money, MoneyError
from app.core.security import has_permission
from app.extensions import db
from app.kyc.services import read_upload
from app.properties import services as properties
from app.properties import terms
from app.properties.models import FREQUENCIES, TYPES, Amenity, Property, PropertyFaq, PropertyPhoto

log = logging.getLogger(__name__)

MONEY_FIELDS = {"target": "target_amount", "fixed": "fixed_amount", "minimum": "min_investment",
                "maximum": "max_investment", "late_fee_amount": "late_fee", "fixed_return": "return_fixed_amount",
                "unit": "unit_price"}
MONEY_LABELS = {"target": "Target amount", "fixed": "Fixed amount per investment (or leave empty for a range)",
                "minimum": "Minimum per investment", "maximum": "Maximum per investment",
                "late_fee_amount": "Late fee per installment", "fixed_return": "Fixed return per period",
                "unit": "Unit price (a range's investments are whole units of it; a fixed amount is its own unit)"}
# form fields that are the model's own columns, given to the service as they are
COLUMN_FIELDS = ("title", "slug", "property_type", "description", "street", "city", "region", "postal_code",
                 "country", "latitude", "longitude", "video_url", "installments_count", "installment_interval",
                 "installment_unit", "return_frequency", "return_every_days", "return_periods", "capital_back",
                 "funding_starts_at", "funding_ends_at", "resale_allowed", "resale_lockup_days")


def _status(view, context, model, name):
    colour = {"draft": "secondary", "active": "success", "funded": "primary", "completed": "dark",
              "cancelled": "danger", "archived": "warning"}.get(model.status, "secondary")
    return Markup(f'<span class="badge badge-{colour}">{escape(model.status)}</span>')


class FaqInline(InlineFormAdmin):
    form_columns = ("id", "position", "question", "answer")


class PropertyView(SecureModelView):
    permission = "properties.view"
    details_template = "admin/property_details.html"
    column_list = ("id", "title", "status", "property_type", "city", "country", "target_amount", "raised_amount",
                   "funding_ends_at", "updated_at")
    column_searchable_list = ("title", "city", "slug")
    column_filters = ("status", "property_type", "city", "country", "funding_ends_at")
    column_default_sort = ("id", True)
    column_formatters = {"status": _status, "target_amount": money_formatter("target_amount"),
                         "raised_amount": money_formatter("raised_amount")}
    column_formatters_detail = {column: money_formatter(column) for column in MONEY_FIELDS.values()} | {
        "raised_amount": money_formatter("raised_amount"), "status": _status,
        "return_rate_bps": lambda v, c, m, n: f"{m.return_rate_bps / 100:.2f} %" if m.return_rate_bps else "",
        "expected_return_bps": lambda v, c, m, n: f"{m.expected_return_bps / 100:.2f} %" if m.expected_return_bps
        else ""}
    column_labels = {"return_rate_bps": "Annual return rate", "expected_return_bps": "Expected return (annualised)"}
    form_columns = ("title", "slug", "property_type", "description", "street", "city", "region", "postal_code",
                    "country", "latitude", "longitude", "video_url", "amenities",
                    "target", "fixed", "minimum", "maximum", "annual_rate", "fixed_return",
                    "installments_count", "late_fee_amount", "installment_interval", "installment_unit",
                    "return_frequency", "return_every_days", "return_periods", "capital_back",
                    "funding_starts_at", "funding_ends_at", "resale_allowed", "unit", "resale_lockup_days")
    form_extra_fields = {name: StringField(label) for name, label in MONEY_LABELS.items()} | {
        "annual_rate": StringField("Annual return rate, % (or leave empty for a fixed return)")}
    form_choices = {"property_type": [(t, t.replace("_", " ")) for t in TYPES],
                    "return_frequency": [(f, f) for f in FREQUENCIES],
                    "installment_unit": [("", "—"), ("days", "days"), ("months", "months")]}
    form_widget_args = {"description": {"rows": 10}}
    form_args = {"description": {"description": "Markdown: **bold**, lists, links. Scripts and images are removed."},
                 "resale_lockup_days": {"label": "Resale lock-up (days after the funding window closes)",
                                        "description": "Empty: the market's default lock-up."},
                 "slug": {"description": "Leave empty to derive it from the title.",
                          "validators": [Optional(), Length(max=120)]}}
    inline_models = (FaqInline(PropertyFaq),)

    def can_edit_model(self) -> bool:
        return has_permission(current_user, "properties.edit")

    @property
    def can_create(self):
        if not has_request_context():
            return True
        return self.can_edit_model()

    @can_create.setter
    def can_create(self, value):
        pass

    @property
    def can_edit(self):
        if not has_request_context():
            return True
        return self.can_edit_model()

    @can_edit.setter
    def can_edit(self, value):
        pass

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        form._obj = obj  # FlaskForm keeps no _obj: without it the slug's Unique check refuses the record's own slug
        return form

    def on_form_prefill(self, form, id):
        model = self.get_one(id)
        for name, column in MONEY_FIELDS.items():
            value = getattr(model, column)
            getattr(form, name).data = Money(value, model.currency).amount_str() if value is not None else ""
        form.annual_rate.data = f"{Decimal(model.return_rate_bps) / 100:.2f}" if model.return_rate_bps else ""

    # create and edit: the form's fields as plain data for the properties service --------------------------------
    def create_model(self, form):
        if not self.can_edit_model():
            abort(403)
        try:
            data = self._data(form, "USD")
            with unit_of_work():
                model = properties.create_property(data, actor=current_user)
        except Exception as exc:
            return self._refused(exc, "create")
        self.after_model_change(form, model, True)
        return model

    def update_model(self, form, model):
        if not self.can_edit_model():
            abort(403)
        try:
            data = self._data(form, model.currency or "USD")
            with unit_of_work():
                request_id = getattr(properties.save(model, data, actor=current_user), "id", None)
        except Exception as exc:
            return self._refused(exc, "update")
        if request_id is not None:
            flash(f"The new terms wait for finance's approval (request #{request_id}); the other changes are saved.",
                  "info")
        self.after_model_change(form, model, False)
        return True

    def _refused(self, exc: Exception, verb: str) -> bool:
        if isinstance(exc, DomainError):
            details = "; ".join(f"{k}: {' '.join(v)}" for k, v in (exc.errors or {}).items())
            flash(f"{exc.message}. {details}", "error")
        elif not self.handle_view_exception(exc):
            message = gettext("Failed to create record. %(error)s", error=str(exc)) if verb == "create" \
                else gettext("Failed to update record. %(error)s", error=str(exc))
            flash(message, "error")
            log.exception("Failed to %s record.", verb)
        return False

    @staticmethod
    def _data(form, currency: str) -> dict:
        """Money typed in major units becomes minor units, the annual rate in % basis points; the rest as typed."""
        data = {name: getattr(form, name).data for name in COLUMN_FIELDS}
        errors = {}
        for name, column in MONEY_FIELDS.items():
            raw = (getattr(form, name).data or "").strip()
            try:
                data[column] = Money.parse(raw, currency).minor if raw else None
            except MoneyError as exc:
                errors[name] = str(exc)
        if data.get("unit_price") is None:  # empty: the offering keeps its unit (a fixed amount is its own)
            data.pop("unit_price", None)
        raw_rate = (form.annual_rate.data or "").strip()
        try:
            data["return_rate_bps"] = int((Decimal(raw_rate) * 100).to_integral_value()) if raw_rate else None
        except InvalidOperation:
            errors["annual_rate"] = "not a number"
        if errors:
            raise FormValidationError("; ".join(f"{MONEY_LABELS.get(k, k)}: {v}" for k, v in errors.items()))
        data["amenities"] = [amenity.name for amenity in form.amenities.data or []]
        data["faqs"] = []
        for entry in form.faqs.entries:
            pk = entry.get_pk()
            faq_id = int(pk) if pk is not None and str(pk).isdigit() else None
            if form.faqs.should_delete(entry):
                if faq_id is not None:
                    data["faqs"].append({"id": faq_id, "delete": True})
                continue
            fields = entry.form
            data["faqs"].append({"id": faq_id, "position": fields.position.data, "question": fields.question.data,
                                 "answer": fields.answer.data})
        return data

    # workflow and media -------------------------------------------------------------------------------------------
    def render(self, template, **kwargs):
        if template == self.details_template and kwargs.get("model") is not None:
            model = kwargs["model"]
            pending = properties.pending_request(model)
            kwargs.update(form=SimpleForm(), missing=terms.missing_to_publish(model),
                          example=terms.example(model)["sentence"] if not terms.problems(model) else None,
                          allowed=properties.TRANSITIONS[model.status], pending=pending,
                          stale=pending is not None and pending.fingerprint != terms.terms_fingerprint(model),
                          can_submit=has_permission(current_user, "properties.submit"),
                          can_edit=has_permission(current_user, "properties.edit"),
                          can_approve=has_permission(current_user, "properties.approve"))
        return super().render(template, **kwargs)

    def _property(self, property_id: int) -> Property:
        if not SimpleForm().validate_on_submit():
            abort(400)
        p = db.session.get(Property, property_id)
        if p is None:
            abort(404)
        return p

    def _run(self, p: Property, func, message: str):
        return run_action(func, message, url_for(".details_view", id=p.id))

    @expose("/<int:property_id>/submit", methods=["POST"])
    @requires("properties.submit")
    def submit(self, property_id: int):
        p = self._property(property_id)
        return self._run(p, lambda: properties.submit(p, actor=current_user),
                         f"{p.title} is submitted for publication: a finance user approves it.")

    @expose("/<int:property_id>/withdraw", methods=["POST"])
    @requires("properties.submit")
    def withdraw(self, property_id: int):
        p = self._property(property_id)

        def withdraw_pending():
            pending = properties.pending_request(p)
            if pending is None:
                raise Conflict("no request for this property is waiting for approval")
            properties.withdraw(pending, actor=current_user)

        return self._run(p, withdraw_pending, "The request is withdrawn.")

    @expose("/<int:property_id>/complete", methods=["POST"])
    @requires("properties.edit")
    def complete(self, property_id: int):
        p = self._property(property_id)
        return self._run(p, lambda: properties.complete(p, actor=current_user, reason=request.form.get("reason")),
                         f"{p.title} is completed.")

    @expose("/<int:property_id>/cancel", methods=["POST"])
    @requires("properties.edit")
    def cancel(self, property_id: int):
        p = self._property(property_id)
        return self._run(p, lambda: properties.cancel(p, actor=current_user, reason=request.form.get("reason")),
                         f"{p.title} is cancelled.")

    @expose("/<int:property_id>/archive", methods=["POST"])
    @requires("properties.edit")
    def archive(self, property_id: int):
        p = self._property(property_id)
        return self._run(p, lambda: properties.archive(p, actor=current_user, reason=request.form.get("reason")),
                         f"{p.title} is archived: it is no longer offered, and nothing was deleted.")

    @expose("/<int:property_id>/photos", methods=["POST"])
    @requires("properties.edit")
    def upload_photos(self, property_id: int):
        p = self._property(property_id)
        uploads = [f for f in request.files.getlist("photos") if f and f.filename]
        if not uploads:
            flash("Choose one or more photos.", "error")
            return redirect(url_for(".details_view", id=p.id))

        def add_all():
            for upload in uploads:
                properties.add_photo(p, read_upload(upload, 10 * 1024 * 1024).data, actor=current_user)

        return self._run(p, add_all, f"{len(uploads)} photo(s) added; sizes are being made.")

    @expose("/<int:property_id>/documents", methods=["POST"])
    @requires("properties.edit")
    def upload_document(self, property_id: int):
        p = self._property(property_id)
        upload = request.files.get("document")

        def add():
            if upload is None or not upload.filename:
                raise ValidationError("choose a PDF")
            properties.add_document(p, read_upload(upload, 10 * 1024 * 1024).data, request.form.get("title", ""),
                                    actor=current_user)

        return self._run(p, add, "Document added.")

    @expose("/photos/<int:photo_id>/<operation>", methods=["POST"])
    @requires("properties.edit")
    def photo_operation(self, photo_id: int, operation: str):
        if not SimpleForm().validate_on_submit():
            abort(400)
        photo = db.session.get(PropertyPhoto, photo_id)
        if photo is None or operation not in ("cover", "up", "down", "remove"):
            abort(404)
        p = photo.property
        actions = {"cover": lambda: properties.set_cover(photo, actor=current_user),
                   "up": lambda: properties.move_photo(photo, -1, actor=current_user),
                   "down": lambda: properties.move_photo(photo, 1, actor=current_user),
                   "remove": lambda: properties.remove_photo(photo, actor=current_user)}
        return self._run(p, actions[operation], "Photos updated.")


class AmenityView(SecureModelView):
    permission = "properties.edit"
    can_create = True
    can_edit = True
    can_delete = True
    action_disallowed_list = []
    can_view_details = False
    column_list = ("name",)
    column_searchable_list = ("name",)
    column_filters = ("name",)
    form_columns = ("name",)


def register(admin) -> None:
    admin.add_view(PropertyView(Property, db, name="Properties", endpoint="properties", category="Properties"))
    admin.add_view(AmenityView(Amenity, db, name="Amenities", endpoint="amenities", category="Properties"))
    property_approvals.register(admin)
