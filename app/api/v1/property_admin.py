"""Staff operations on properties: POST /properties (a draft), PUT /properties/{id}, POST /properties/{id}/photos and
/documents (multipart), POST /properties/{id}/submit, DELETE /properties/{id} (archive).

A staff token with the permission only (app.api.auth.staff_only); each calls the service the console calls, so the
terms rules, the lock after the first investment, the approval of changed published terms and the upload checks
are the same. The body takes amounts as decimal strings in major units of the property's currency."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from marshmallow import ValidationError as MarshmallowError
from sqlalchemy import select

from app.api.auth import current_api_user, staff_only
from app.api.envelope import envelope, ok
from app.api.examples import property_admin as ex
from app.api.fields import AmountField
from app.api.idempotency import idempotent
from app.api.v1.properties import OfferingDocumentSchema, PropertyDetailSchema
from app.core.db import unit_of_work
from app.core.errors import NotFound, ValidationError
from app.core.money import Money
from app.core.uploads import UploadRejected
from app.extensions import db
from app.kyc.services import read_upload
from app.ledger.services import platform_currency
from app.properties import presenters
from app.properties import services as properties
from app.properties.models import (
    APPROVAL_APPROVED,
    APPROVAL_KINDS,
    APPROVAL_PENDING,
    APPROVAL_REJECTED,
    APPROVAL_WITHDRAWN,
    FREQUENCIES,
    TYPES,
    Property,
    PropertyApproval,
)

URL = "/properties"
blp = Blueprint("api_property_admin", __name__, description="Setting up properties (staff tokens)")
MAX_FILE = 10 * 1024 * 1024
MAX_PHOTOS = 20
MONEY_FIELDS = ("target_amount", "fixed_amount", "min_investment", "max_investment", "late_fee",
                "return_fixed_amount", "unit_price")
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


class FaqInputSchema(Schema):
    id = fields.Integer(load_default=None, metadata={"description": "an existing FAQ of the property to change"})
    question = fields.String(validate=validate.Length(max=300))
    answer = fields.String(validate=validate.Length(max=5000))
    position = fields.Integer(load_default=0, validate=validate.Range(min=0, max=1000))
    delete = fields.Boolean(load_default=False, metadata={"description": "true with an id removes that FAQ"})


def _amount(description: str) -> AmountField:
    return AmountField(allow_none=True, metadata={"description": description + " (decimal string, major units)"})


def _count(maximum: int = 10_000) -> fields.Integer:
    return fields.Integer(allow_none=True, validate=validate.Range(min=0, max=maximum))


def _within(bound: int):
    """A coordinate's check (a plain function: the document keeps its bounds out of the schema as numbers)."""

    def check(value: Decimal | None) -> None:
        if value is not None and not -bound <= value <= bound:
            raise MarshmallowError(f"Between -{bound} and {bound}.")

    return check


class PropertyInputSchema(Schema):
    """The fields a manager sets; on PUT only those sent change."""

    title = fields.String(validate=validate.Length(min=1, max=200))
    slug = fields.String(validate=validate.Length(max=120), metadata={"description": "empty: from the title"})
    property_type = fields.String(validate=validate.OneOf(TYPES))
    description = fields.String(validate=validate.Length(max=20_000), metadata={"description": "Markdown"})
    street = fields.String(validate=validate.Length(max=200))
    city = fields.String(validate=validate.Length(max=100))
    region = fields.String(validate=validate.Length(max=100))
    postal_code = fields.String(validate=validate.Length(max=20))
    country = fields.String(validate=validate.Length(equal=2), metadata={"example": "PT"})
    latitude = fields.Decimal(allow_none=True, places=6, validate=_within(90), metadata={"example": 41.1406})
    longitude = fields.Decimal(allow_none=True, places=6, validate=_within(180), metadata={"example": -8.6132})
    video_url = fields.String(allow_none=True, validate=validate.Length(max=300))
    target_amount = AmountField(metadata={"description": "the amount to raise (decimal string, major units)"})
    fixed_amount = _amount("every investment is exactly this; null for a min-max range")
    min_investment = _amount("a range's minimum")
    max_investment = _amount("a range's maximum")
    late_fee = _amount("per late installment")
    return_fixed_amount = _amount("a fixed return per period per investment, instead of a rate")
    unit_price = _amount("holdings are whole units of it (a fixed amount is its own)")
    installments_count = _count(120)
    installment_interval = _count(365)
    installment_unit = fields.String(allow_none=True, validate=validate.OneOf(["days", "months"]))
    return_rate_bps = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=100_000),
                                     metadata={"description": "annual return rate in basis points (800 = 8%)"})
    return_frequency = fields.String(validate=validate.OneOf(FREQUENCIES))
    return_every_days = _count(3650)
    return_periods = _count(1200)
    capital_back = fields.Boolean()
    funding_starts_at = fields.DateTime(allow_none=True, metadata={"description": "without an offset: UTC"})
    funding_ends_at = fields.DateTime(allow_none=True, metadata={"description": "without an offset: UTC"})
    resale_allowed = fields.Boolean()
    resale_lockup_days = _count(3650)
    amenities = fields.List(fields.String(validate=validate.Length(max=80)), validate=validate.Length(max=100))
    faqs = fields.List(fields.Nested(FaqInputSchema), validate=validate.Length(max=100))


class CreatePropertySchema(PropertyInputSchema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    target_amount = AmountField(required=True, metadata={"description": "the amount to raise"})
    property_type = fields.String(validate=validate.OneOf(TYPES), load_default="residential")
    return_frequency = fields.String(validate=validate.OneOf(FREQUENCIES), load_default="quarterly")
    capital_back = fields.Boolean(load_default=False)
    resale_allowed = fields.Boolean(load_default=False)


class ApprovalRequestSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"enum": list(APPROVAL_KINDS)})
    status = fields.String(metadata={"enum": [APPROVAL_PENDING, APPROVAL_APPROVED, APPROVAL_REJECTED,
                                              APPROVAL_WITHDRAWN]})
    proposed = fields.Dict(allow_none=True, metadata={"description": "a terms change: the proposed values"})


class StaffPropertySchema(PropertyDetailSchema):
    approval_request = fields.Nested(ApprovalRequestSchema, allow_none=True, metadata={
        "description": "the request waiting for finance's approval, if any"})


class PhotoSchema(Schema):
    id = fields.Integer()
    position = fields.Integer()
    cover = fields.Boolean()
    status = fields.String(metadata={"enum": ["processing", "ready", "failed"]})


class ArchiveArgs(Schema):
    reason = fields.String(validate=validate.Length(max=1000), load_default=None, metadata={
        "description": "why (the audit trail keeps it); defaults to 'archived through the API'"})


# helpers ------------------------------------------------------------------------------------------------------------
def _property(property_id: int, *, lock: bool = False) -> Property:
    query = select(Property).where(Property.id == property_id)
    p = db.session.scalar(query.with_for_update() if lock else query)
    if p is None:
        raise NotFound("no such property")
    return p


def _plain(body: dict[str, Any], currency: str) -> dict[str, Any]:
    """The body as the properties service takes it: amounts in minor units."""
    data = dict(body)
    for name in MONEY_FIELDS:
        if data.get(name) is not None:
            data[name] = Money.parse(data[name], currency).minor
    if "unit_price" in data and data["unit_price"] is None:
        data.pop("unit_price")  # null: the offering keeps its unit, as the console's empty field does
    if "faqs" in data:
        data["faqs"] = [{k: v for k, v in faq.items() if k != "id" or v is not None} for faq in data["faqs"]]
    return data


def _approval(request_: PropertyApproval | None) -> dict | None:
    if request_ is None:
        return None
    return {"id": request_.id, "kind": request_.kind, "status": request_.status, "proposed": request_.proposed}


def _answer(p: Property) -> dict:
    db.session.refresh(p)
    return presenters.detail(p) | {"approval_request": _approval(properties.pending_request(p))}


def _files(name: str) -> list:
    return [f for f in request.files.getlist(name) if f and f.filename]


# operations ---------------------------------------------------------------------------------------------------------
@blp.post("")
@staff_only("properties.edit")
@idempotent
@blp.arguments(CreatePropertySchema, example=ex.CREATE_REQUEST)
@blp.response(201, envelope(StaffPropertySchema), example=ex.CREATED)
@blp.alt_response(403, description="not a staff token, or its user lacks properties.edit", example=ex.FORBIDDEN)
@blp.alt_response(422, description="a field, or the terms together, are not acceptable: `errors` names each",
                  example=ex.TERMS_REFUSED)
@blp.doc(security=BEARER, parameters=[{"in": "header", "name": "Idempotency-Key", "required": False,
                                       "schema": {"type": "string"}}])
def create(body):
    """Create a draft, checked by the same terms rules as the console. Needs a staff token with properties.edit."""
    with unit_of_work():
        p = properties.create_property(_plain(body, platform_currency()), actor=current_api_user())
    return ok(_answer(p), message="Draft created.")


@blp.put("/<int:property_id>")
@staff_only("properties.edit")
@blp.arguments(PropertyInputSchema, example=ex.UPDATE_REQUEST)
@blp.response(200, envelope(StaffPropertySchema), example=ex.UPDATED)
@blp.alt_response(403, description="not a staff token, or its user lacks the permission", example=ex.FORBIDDEN)
@blp.alt_response(409, description="the terms are locked (someone invested), the offering is archived or a "
                                   "request already waits", example=ex.LOCKED)
@blp.alt_response(422, description="the terms do not hold together", example=ex.TERMS_REFUSED)
@blp.doc(security=BEARER)
def update(body, property_id: int):
    """Change the fields sent, as the console does: a draft changes at once; changed terms of a published offering
    nobody invested in become a request for finance's approval (`approval_request`); after the first investment
    the terms are locked (409)."""
    with unit_of_work():
        p = _property(property_id, lock=True)
        pending = properties.save(p, _plain(body, p.currency), actor=current_api_user())
    message = (f"The new terms wait for finance's approval (request #{pending.id}); the other changes are saved."
               if pending is not None else "Saved.")
    return ok(_answer(p), message=message)


@blp.post("/<int:property_id>/photos")
@staff_only("properties.edit")
@blp.response(201, envelope(PhotoSchema, many=True), example=ex.PHOTOS_ADDED)
@blp.alt_response(403, description="not a staff token, or its user lacks properties.edit", example=ex.FORBIDDEN)
@blp.alt_response(409, description="the offering is archived")
@blp.alt_response(422, description="no photo, or one is not an acceptable image", example=ex.PHOTO_REFUSED)
@blp.doc(security=BEARER, description="multipart/form-data: one or more `photos` parts (JPEG, PNG or WebP, "
                                      "10 MB each), checked like the console's uploads; sizes are made after.",
         requestBody={"required": True, "content": {"multipart/form-data": {"schema": {
             "type": "object", "required": ["photos"],
             "properties": {"photos": {"type": "array", "items": {"type": "string", "format": "binary"}}}},
             "example": ex.PHOTOS_REQUEST}}})
def add_photos(property_id: int):
    """Add photos to a property (every file is inspected before any is stored)."""
    uploads = _files("photos")
    if not uploads:
        raise ValidationError("choose one or more photos", {"photos": ["Send one or more files as `photos`."]})
    if len(uploads) > MAX_PHOTOS:
        raise ValidationError("too many photos", {"photos": [f"At most {MAX_PHOTOS} at once."]})
    data = []
    for upload in uploads:
        try:
            data.append(read_upload(upload, MAX_FILE).data)
        except UploadRejected as exc:
            raise ValidationError("the photo is not acceptable", {"photos": [exc.message]}) from None
    with unit_of_work():
        p = _property(property_id, lock=True)
        added = [properties.add_photo(p, content, actor=current_api_user()) for content in data]
        answer = [{"id": ph.id, "position": ph.position, "cover": ph.is_cover, "status": ph.status} for ph in added]
    return ok(answer, message=f"{len(answer)} photo(s) added; sizes are being made.")


@blp.post("/<int:property_id>/documents")
@staff_only("properties.edit")
@blp.response(201, envelope(OfferingDocumentSchema), example=ex.DOCUMENT_ADDED)
@blp.alt_response(403, description="not a staff token, or its user lacks properties.edit", example=ex.FORBIDDEN)
@blp.alt_response(409, description="the offering is archived")
@blp.alt_response(422, description="no title, or the file is not an acceptable PDF", example=ex.DOCUMENT_REFUSED)
@blp.doc(security=BEARER, description="multipart/form-data: `title` and one `document` part (a PDF, 10 MB).",
         requestBody={"required": True, "content": {"multipart/form-data": {"schema": {
             "type": "object", "required": ["title", "document"],
             "properties": {"title": {"type": "string", "maxLength": 200},
                            "document": {"type": "string", "format": "binary"}}},
             "example": ex.DOCUMENT_REQUEST}}})
def add_document(property_id: int):
    """Add an offering document (a PDF, inspected like the console's uploads)."""
    uploads = _files("document")
    if len(uploads) != 1:
        raise ValidationError("choose a PDF", {"document": ["Send one PDF as `document`."]})
    try:
        content = read_upload(uploads[0], MAX_FILE).data
    except UploadRejected as exc:
        raise ValidationError("the document is not acceptable", {"document": [exc.message]}) from None
    with unit_of_work():
        p = _property(property_id, lock=True)
        document = properties.add_document(p, content, request.form.get("title", ""), actor=current_api_user())
        answer = {"id": document.id, "title": document.title, "pages": document.pages, "size": document.size}
    return ok(answer, message="Document added.")


@blp.post("/<int:property_id>/submit")
@staff_only("properties.submit")
@blp.response(201, envelope(ApprovalRequestSchema), example=ex.SUBMITTED)
@blp.alt_response(403, description="not a staff token, or its user lacks properties.submit", example=ex.FORBIDDEN)
@blp.alt_response(409, description="not a draft, not ready to publish, or a request already waits",
                  example=ex.NOT_READY)
@blp.doc(security=BEARER)
def submit(property_id: int):
    """Submit a draft for publication: a finance user other than the submitter approves it in the console."""
    with unit_of_work():
        p = _property(property_id, lock=True)
        request_ = properties.submit(p, actor=current_api_user())
        answer = _approval(request_)
    return ok(answer, message="Submitted for publication: a finance user approves it.")


@blp.delete("/<int:property_id>")
@staff_only("properties.edit")
@blp.arguments(ArchiveArgs, location="query")
@blp.response(200, envelope(StaffPropertySchema), example=ex.ARCHIVED)
@blp.alt_response(403, description="not a staff token, or its user lacks properties.edit", example=ex.FORBIDDEN)
@blp.alt_response(409, description="someone has invested in it (or it is archived already)", example=ex.INVESTED)
@blp.doc(security=BEARER)
def archive(args, property_id: int):
    """Archive an offering nobody has invested in: its status becomes archived (nothing is deleted) and it leaves
    the catalogue. With any investment, whatever its status, it is a 409."""
    with unit_of_work():
        p = _property(property_id)
        properties.archive(p, actor=current_api_user(), reason=args.get("reason") or "archived through the API")
    return ok(_answer(p), message="Archived.")
