"""The response envelope every API answer wears, and its OpenAPI schemas."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

_ENVELOPES: dict[tuple, type[Schema]] = {}


class MoneySchema(Schema):
    amount = fields.String(required=True, metadata={"example": "1250.00"})
    currency = fields.String(required=True, metadata={"example": "USD"})


class MoneyField(fields.Field):
    """Dumps a Money as {"amount": "1250.00", "currency": "USD"}."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else value.as_dict()

    def _jsonschema_type_mapping(self):  # pragma: no cover - documentation only
        return {"type": "object"}


class PageMetaSchema(Schema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    pages = fields.Integer()


class PageArgsSchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10**6))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class ErrorEnvelopeSchema(Schema):
    status = fields.String(metadata={"example": "error"})
    message = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), allow_none=True)


def envelope(data_schema: type[Schema] | None, *, many: bool = False, paginated: bool = False) -> type[Schema]:
    """A schema class `{status, message, data, meta}` wrapping `data_schema`."""
    key = (data_schema, many, paginated)
    if key not in _ENVELOPES:
        attrs = {
            "status": fields.String(metadata={"example": "success"}),
            "message": fields.String(allow_none=True),
            "data": (fields.Nested(data_schema, many=many, allow_none=True) if data_schema
                     else fields.Raw(allow_none=True)),
            "meta": fields.Nested(PageMetaSchema, allow_none=True) if paginated else fields.Dict(allow_none=True),
        }
        base = data_schema.__name__.removesuffix("Schema") if data_schema else "Empty"
        name = f"{base}{'List' if many else ''}{'Page' if paginated else ''}Envelope"
        _ENVELOPES[key] = type(name, (Schema,), attrs)
    return _ENVELOPES[key]


def ok(data=None, *, meta: dict | None = None, message: str | None = None) -> dict:
    return {"status": "success", "message": message, "data": data, "meta": meta}


def page_meta(page: int, per_page: int, total: int) -> dict:
    return {"page": page, "per_page": per_page, "total": total, "pages": max((total + per_page - 1) // per_page, 1)}
