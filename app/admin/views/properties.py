"""Properties in the console: content and terms (money typed in major units, checked by the terms rules, locked once
invested), FAQ inline, photos and documents, and the workflow actions (publish, complete, cancel) with confirmation."""
from __future__ import annotations

from datetime import UTC
from decimal import Decimal, InvalidOperation

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.model.form import InlineFormAdmin
from flask_login import current_user
from markupsafe import Markup, escape
from wtforms import StringField
from wtforms import ValidationError as FormValidationError
from wtforms.validators import Length, Optional

from app.admin.base import SecureModelView, money_formatter, requires, run_action
from app.auth.forms import SimpleForm
from app.core import audit
from app.core.errors import DomainError
from app.core.money import Money, MoneyError
from app.extensions import db
from app.properties import services as properties
from app.properties import terms
from app.properties.models import FREQUENCIES, TYPES, Amenity, Property, PropertyFaq, PropertyPhoto

MONEY_FIELDS = {"target": "target_amount", "fixed": "fixed_amount", "minimum": "min_investment",
                "maximum": "max_investment", "late_fee_amount": "late_fee", "fixed_return": "return_fixed_amount"}
MONEY_LABELS = {"target": "Target amount", "fixed": "Fixed amount per investment (or leave empty for a range)",
                "minimum": "Minimum per investment", "maximum": "Maximum per investment",
                "late_fee_amount": "Late fee per installment", "fixed_return": "Fixed return per period"}


def _status(view, context, model, name):
    colour = {"draft": "secondary", "active": "success", "funded": "primary", "completed": "dark",
              "cancelled": "danger"}[model.status]
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
                    "funding_starts_at", "funding_ends_at", "resale_allowed")
    form_extra_fields = {name: StringField(label) for name, label in MONEY_LABELS.items()} | {
        "annual_rate": StringField("Annual return rate, % (or leave empty for a fixed return)")}
    form_choices = {"property_type": [(t, t.replace("_", " ")) for t in TYPES],
                    "return_frequency": [(f, f) for f in FREQUENCIES],
                    "installment_unit": [("", "—"), ("days", "days"), ("months", "months")]}
    form_widget_args = {"description": {"rows": 10}}
    form_args = {"description": {"description": "Markdown: **bold**, lists, links. Scripts and images are removed."},
                 "slug": {"description": "Leave empty to derive it from the title.",
                          "validators": [Optional(), Length(max=120)]}}
    inline_models = (FaqInline(PropertyFaq),)

    def can_edit_model(self) -> bool:
        from app.core.security import has_permission

        return has_permission(current_user, "properties.edit")

    @property
    def can_create(self):  # noqa: D401
        from flask import has_request_context

        if not has_request_context():
            return True
        return self.can_edit_model()

    @can_create.setter
    def can_create(self, value):
        pass

    @property
    def can_edit(self):
        from flask import has_request_context

        if not has_request_context():
            return True
        return self.can_edit_model()

    @can_edit.setter
    def can_edit(self, value):
        pass

    def on_form_prefill(self, form, id):
        model = self.get_one(id)
        for name, column in MONEY_FIELDS.items():
            value = getattr(model, column)
            getattr(form, name).data = Money(value, model.currency).amount_str() if value is not None else ""
        form.annual_rate.data = f"{Decimal(model.return_rate_bps) / 100:.2f}" if model.return_rate_bps else ""

    def on_model_change(self, form, model, is_created):
        if not self.can_edit_model():
            abort(403)
        before = {} if is_created else getattr(model, "_before", {})
        errors = {}
        for name, column in MONEY_FIELDS.items():
            raw = (getattr(form, name).data or "").strip()
            try:
                setattr(model, column, Money.parse(raw, model.currency or "USD").minor if raw else None)
            except MoneyError as exc:
                errors[name] = str(exc)
        raw_rate = (form.annual_rate.data or "").strip()
        try:
            model.return_rate_bps = int((Decimal(raw_rate) * 100).to_integral_value()) if raw_rate else None
        except InvalidOperation:
            errors["annual_rate"] = "not a number"
        if errors:
            raise FormValidationError("; ".join(f"{MONEY_LABELS.get(k, k)}: {v}" for k, v in errors.items()))
        for column in ("funding_starts_at", "funding_ends_at"):
            value = getattr(model, column)
            if value is not None and value.tzinfo is None:
                setattr(model, column, value.replace(tzinfo=UTC))
        if not model.installment_unit:
            model.installment_unit = None
        model.slug = properties.slugify(model.slug or model.title)
        model.country = (model.country or "").upper()[:2]
        if is_created:
            model.created_by_id = current_user.id
            model.raised_amount = 0
            model.status = "draft"
        try:
            properties.check_terms_change(model, before)
        except DomainError as exc:
            details = "; ".join(f"{k}: {' '.join(v)}" for k, v in (exc.errors or {}).items())
            raise FormValidationError(f"{exc.message}. {details}") from None
        audit.record("properties.created" if is_created else "properties.edited", target=model,
                     after={"title": model.title, "terms": {f: str(getattr(model, f)) for f in terms.TERM_FIELDS}})

    def update_model(self, form, model):
        model._before = properties.snapshot(model)
        return super().update_model(form, model)

    # workflow and media -------------------------------------------------------------------------------------------
    def render(self, template, **kwargs):
        if template == self.details_template and kwargs.get("model") is not None:
            model = kwargs["model"]
            kwargs.update(form=SimpleForm(), missing=terms.missing_to_publish(model),
                          example=terms.example(model)["sentence"] if not terms.problems(model) else None,
                          allowed=properties.TRANSITIONS[model.status])
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

    @expose("/<int:property_id>/publish", methods=["POST"])
    @requires("properties.publish")
    def publish(self, property_id: int):
        p = self._property(property_id)
        return self._run(p, lambda: properties.publish(p, actor=current_user), f"{p.title} is published.")

    @expose("/<int:property_id>/complete", methods=["POST"])
    @requires("properties.publish")
    def complete(self, property_id: int):
        p = self._property(property_id)
        return self._run(p, lambda: properties.complete(p, actor=current_user, reason=request.form.get("reason")),
                         f"{p.title} is completed.")

    @expose("/<int:property_id>/cancel", methods=["POST"])
    @requires("properties.publish")
    def cancel(self, property_id: int):
        p = self._property(property_id)
        return self._run(p, lambda: properties.cancel(p, actor=current_user, reason=request.form.get("reason")),
                         f"{p.title} is cancelled.")

    @expose("/<int:property_id>/photos", methods=["POST"])
    @requires("properties.edit")
    def upload_photos(self, property_id: int):
        p = self._property(property_id)
        uploads = [f for f in request.files.getlist("photos") if f and f.filename]
        if not uploads:
            flash("Choose one or more photos.", "error")
            return redirect(url_for(".details_view", id=p.id))

        def add_all():
            from app.kyc.services import read_upload

            for upload in uploads:
                properties.add_photo(p, read_upload(upload, 10 * 1024 * 1024).data, actor=current_user)

        return self._run(p, add_all, f"{len(uploads)} photo(s) added; sizes are being made.")

    @expose("/<int:property_id>/documents", methods=["POST"])
    @requires("properties.edit")
    def upload_document(self, property_id: int):
        p = self._property(property_id)
        upload = request.files.get("document")

        def add():
            from app.kyc.services import read_upload

            if upload is None or not upload.filename:
                from app.core.errors import ValidationError

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
    form_columns = ("name",)


def register(admin) -> None:
    admin.add_view(PropertyView(Property, db, name="Properties", endpoint="properties", category="Properties"))
    admin.add_view(AmenityView(Amenity, db, name="Amenities", endpoint="amenities", category="Properties"))
