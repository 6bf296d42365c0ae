"""GET /properties, GET /properties/{id}: the catalogue, cached (nothing about the caller is in it)."""
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.envelope import envelope, ok, page_meta
from app.api.examples import investing as ex
from app.api.fields import AmountField, MoneyField
from app.core.errors import NotFound
from app.core.money import Money
from app.ledger.services import platform_currency
from app.properties import presenters
from app.properties import services as properties
from app.properties.models import STATUSES, TYPES

URL = "/properties"
blp = Blueprint("api_properties", __name__, description="Properties on offer")


class CatalogueArgs(Schema):
    q = fields.String(validate=validate.Length(max=200))
    type = fields.String(validate=validate.OneOf(TYPES))
    city = fields.String(validate=validate.Length(max=100))
    country = fields.String(validate=validate.Length(equal=2))
    min_amount = AmountField(allow_zero=True, allow_blank=True,
                             metadata={"description": "decimal string in major units"})
    max_amount = AmountField(allow_zero=True, allow_blank=True,
                             metadata={"description": "decimal string in major units"})
    status = fields.String(validate=validate.OneOf(properties.PUBLIC_STATUSES), load_default=None)
    sort = fields.String(validate=validate.OneOf(properties.SORTS), load_default="newest")
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10**6))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


def _parse(value: str | None) -> int | None:
    """A filter amount (checked by its AmountField) in minor units, or None when not given."""
    if value in (None, ""):
        return None
    return Money.parse(value, platform_currency(), allow_zero=True).minor


class ImageSchema(Schema):
    thumbnail = fields.String(metadata={"format": "uri"})
    medium = fields.String(metadata={"format": "uri"})
    large = fields.String(metadata={"format": "uri"})
    cover = fields.Boolean()
    ready = fields.Boolean()


class InstallmentTermsSchema(Schema):
    count = fields.Integer()
    interval = fields.String(metadata={"example": "1 months"})


class PropertySchema(Schema):
    id = fields.Integer()
    slug = fields.String()
    title = fields.String()
    status = fields.String(metadata={"enum": list(STATUSES)})
    property_type = fields.String(metadata={"enum": list(TYPES)})
    city = fields.String()
    country = fields.String()
    target_amount = MoneyField()
    raised_amount = MoneyField()
    remaining_funding = MoneyField()
    funded_percent = fields.String(metadata={"example": "42.5"})
    min_investment = MoneyField(allow_none=True)
    max_investment = MoneyField(allow_none=True, metadata={"description": "null for fixed-amount offerings"})
    fixed_amount = MoneyField(allow_none=True, metadata={"description": "null for a min-max range"})
    unit_price = MoneyField(metadata={"description": "holdings are whole units of it (a fixed amount is its own)"})
    installments = fields.Nested(InstallmentTermsSchema, allow_none=True)
    expected_return_rate = fields.String(allow_none=True, metadata={"description": "percent per year",
                                                                    "example": "8.00"})
    return_frequency = fields.String()
    funding_starts_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    funding_ends_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    images = fields.List(fields.Nested(ImageSchema))


class AddressSchema(Schema):
    street = fields.String()
    city = fields.String()
    region = fields.String()
    postal_code = fields.String()
    country = fields.String()
    latitude = fields.String(allow_none=True, metadata={"example": "38.722252"})
    longitude = fields.String(allow_none=True, metadata={"example": "-9.139337"})


class FaqSchema(Schema):
    question = fields.String()
    answer = fields.String()


class OfferingDocumentSchema(Schema):
    id = fields.Integer()
    title = fields.String()
    pages = fields.Integer(allow_none=True)
    size = fields.Integer(metadata={"description": "bytes"})


class TermsSchema(Schema):
    return_rate_bps = fields.Integer(allow_none=True, metadata={"description": "annual rate in basis points"})
    return_fixed_amount = MoneyField(allow_none=True, metadata={"description": "or a fixed sum per period"})
    return_periods = fields.Integer(allow_none=True, metadata={"description": "null: the property's lifetime"})
    capital_back = fields.Boolean()
    late_fee = MoneyField(allow_none=True)
    resale_allowed = fields.Boolean()
    resale_lockup_days = fields.Integer(allow_none=True, metadata={
        "description": "days after the funding window closes before holdings may be listed; null: the market's"})
    summary = fields.List(fields.List(fields.String()), metadata={
        "description": "label and value pairs", "items": {"type": "array", "items": {"type": "string"},
                                                          "minItems": 2, "maxItems": 2}})
    example = fields.String()


class PropertyDetailSchema(PropertySchema):
    description = fields.String()
    description_html = fields.String()
    address = fields.Nested(AddressSchema)
    amenities = fields.List(fields.String())
    faq = fields.List(fields.Nested(FaqSchema))
    documents = fields.List(fields.Nested(OfferingDocumentSchema))
    documents_version = fields.String(metadata={
        "description": "fingerprint of the offering documents and terms; send it with an investment"})
    video_url = fields.String(allow_none=True)
    terms = fields.Nested(TermsSchema)


@blp.get("")
@blp.arguments(CatalogueArgs, location="query")
@blp.response(200, envelope(PropertySchema, many=True, paginated=True), example=ex.PROPERTIES)
@blp.doc(security=[{"bearerAuth": []}])
def catalogue(args):
    """Published properties (active by default), filtered, sorted and paginated."""
    query = {"q": args.get("q"), "property_type": args.get("type"), "city": args.get("city"),
             "country": args.get("country"), "min_amount": _parse(args.get("min_amount")),
             "max_amount": _parse(args.get("max_amount")), "status": args.get("status"), "sort": args["sort"],
             "page": args["page"], "per_page": args["per_page"]}

    def build():
        rows, total = properties.search(**query)
        return {"items": [presenters.summary(p) for p in rows], "total": total}

    data = properties.cached("api-list", query, build, replica=True)
    return ok(data["items"], meta=page_meta(args["page"], args["per_page"], data["total"]))


@blp.get("/<int:property_id>")
@blp.response(200, envelope(PropertyDetailSchema), example=ex.PROPERTY)
@blp.doc(security=[{"bearerAuth": []}])
def detail(property_id: int):
    """One published property with its terms, funding progress, images, FAQ, documents and amenities."""
    p = properties.by_slug_or_id(property_id)
    if p is None:
        raise NotFound("no such property")
    return ok(properties.cached("detail", {"id": p.id, "status": p.status}, lambda: presenters.detail(p)))
