"""The response envelope every API answer wears, and its OpenAPI schemas."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

_ENVELOPES: dict[tuple, type[Schema]] = {}


class PageMetaSchema(Schema):
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
    pages = fields.Integer(required=True)


class PageArgsSchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10**6))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class ErrorEnvelopeSchema(Schema):
    """`{"status": "error", "message": "...", "errors": {"field": ["..."]} | null}`: every 4xx/5xx answer."""

    status = fields.String(required=True, validate=validate.OneOf(["error"]), metadata={"example": "error"})
    message = fields.String(required=True, metadata={"description": "what went wrong, for a person to read"})
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True, allow_none=True,
                         metadata={"description": "the reasons per field (or header), or null"})


def _null() -> fields.Raw:
    """A member that is always null (OpenAPI 3.0: a nullable type whose only value is null)."""
    return fields.Raw(required=True, allow_none=True, validate=validate.Equal(None), metadata={"type": "object"})


def envelope(data_schema: type[Schema] | None, *, many: bool = False, paginated: bool = False,
             meta: type[Schema] | None = None) -> type[Schema]:
    """A schema class `{status, message, data, meta}` wrapping `data_schema` (without one, `data` is null). `meta`
    is PageMetaSchema when `paginated`, else the `meta` schema given, else null."""
    key = (data_schema, many, paginated, meta)
    if key not in _ENVELOPES:
        meta_schema = PageMetaSchema if paginated else meta
        attrs = {
            "status": fields.String(required=True, validate=validate.OneOf(["success"]),
                                    metadata={"example": "success"}),
            "message": fields.String(required=True, allow_none=True),
            "data": fields.Nested(data_schema, many=many, required=True) if data_schema else _null(),
            "meta": fields.Nested(meta_schema, required=True) if meta_schema else _null(),
        }
        base = data_schema.__name__.removesuffix("Schema") if data_schema else "Empty"
        name = f"{base}{'List' if many else ''}{'Page' if paginated else ''}Envelope"
        if meta is not None:
            meta_name = meta.__name__.removesuffix("Schema").removeprefix(base)
            name = f"{base}{'List' if many else ''}{meta_name}Envelope"
        _ENVELOPES[key] = type(name, (Schema,), attrs)
    return _ENVELOPES[key]


def ok(data=None, *, meta: dict | None = None, message: str | None = None) -> dict:
    return {"status": "success", "message": message, "data": data, "meta": meta}


def page_meta(page: int, per_page: int, total: int) -> dict:
    return {"page": page, "per_page": per_page, "total": total, "pages": max((total + per_page - 1) // per_page, 1)}
