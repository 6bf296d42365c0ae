"""GET /properties, GET /properties/{id}: the catalogue, cached (nothing about the caller is in it)."""
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate, validates
from marshmallow import ValidationError as SchemaError

from app.api.envelope import envelope, ok, page_meta
from app.core.errors import NotFound
from app.core.money import Money, MoneyError
from app.ledger.services import platform_currency
from app.properties import presenters
from app.properties import services as properties
from app.properties.models import TYPES

URL = "/properties"
blp = Blueprint("api_properties", __name__, description="Properties on offer")


class CatalogueArgs(Schema):
    q = fields.String(validate=validate.Length(max=200))
    type = fields.String(validate=validate.OneOf(TYPES))
    city = fields.String(validate=validate.Length(max=100))
    country = fields.String(validate=validate.Length(equal=2))
    min_amount = fields.String(metadata={"description": "decimal string in major units"})
    max_amount = fields.String(metadata={"description": "decimal string in major units"})
    status = fields.String(validate=validate.OneOf(properties.PUBLIC_STATUSES), load_default=None)
    sort = fields.String(validate=validate.OneOf(properties.SORTS), load_default="newest")
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10**6))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))

    @validates("min_amount")
    def _min(self, value, **kwargs):
        _parse(value)

    @validates("max_amount")
    def _max(self, value, **kwargs):
        _parse(value)


def _parse(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    try:
        return Money.parse(value, platform_currency(), allow_zero=True).minor
    except MoneyError as exc:
        raise SchemaError(str(exc)) from None


class MoneySchema(Schema):
    amount = fields.String()
    currency = fields.String()


class ImageSchema(Schema):
    thumbnail = fields.String()
    medium = fields.String()
    large = fields.String()
    cover = fields.Boolean()
    ready = fields.Boolean()


class PropertySchema(Schema):
    id = fields.Integer()
    slug = fields.String()
    title = fields.String()
    status = fields.String()
    property_type = fields.String()
    city = fields.String()
    country = fields.String()
    target_amount = fields.Nested(MoneySchema)
    raised_amount = fields.Nested(MoneySchema)
    remaining_funding = fields.Nested(MoneySchema)
    funded_percent = fields.String()
    min_investment = fields.Nested(MoneySchema, allow_none=True)
    max_investment = fields.Nested(MoneySchema, allow_none=True)
    fixed_amount = fields.Nested(MoneySchema, allow_none=True)
    installments = fields.Dict(allow_none=True)
    expected_return_rate = fields.String(allow_none=True)
    return_frequency = fields.String()
    funding_starts_at = fields.String(allow_none=True)
    funding_ends_at = fields.String(allow_none=True)
    images = fields.List(fields.Nested(ImageSchema))


class PropertyDetailSchema(PropertySchema):
    description = fields.String()
    description_html = fields.String()
    address = fields.Dict()
    amenities = fields.List(fields.String())
    faq = fields.List(fields.Dict())
    documents = fields.List(fields.Dict())
    documents_version = fields.String(metadata={
        "description": "fingerprint of the offering documents and terms; send it with an investment"})
    video_url = fields.String(allow_none=True)
    terms = fields.Dict()


@blp.get("")
@blp.arguments(CatalogueArgs, location="query")
@blp.response(200, envelope(PropertySchema, many=True, paginated=True))
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

    data = properties.cached("api-list", query, build)
    return ok(data["items"], meta=page_meta(args["page"], args["per_page"], data["total"]))


@blp.get("/<int:property_id>")
@blp.response(200, envelope(PropertyDetailSchema))
@blp.doc(security=[{"bearerAuth": []}])
def detail(property_id: int):
    """One published property with its terms, funding progress, images, FAQ, documents and amenities."""
    p = properties.by_slug_or_id(property_id)
    if p is None:
        raise NotFound("no such property")
    return ok(properties.cached("detail", {"id": p.id, "status": p.status}, lambda: presenters.detail(p)))
