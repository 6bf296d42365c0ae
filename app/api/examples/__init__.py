"""Examples for the OpenAPI document: what a client sees on each operation of /api/v1/docs.

An operation shows a request example (`@blp.arguments(Schema, example=...)`) when it takes a body and a success
example (`@blp.response(code, envelope(Schema), example=...)`); the error responses every operation shares carry
one example per code (`ERRORS`, used by app.api). The examples tell one consistent story: an investor, Ana Pereira,
with a wallet in USD, holdings in Harbour Lofts (Lisbon) and Northgate Logistics Park (Manchester), and units of
Northgate on the market. tests/api/test_api_docs.py checks that every operation has its examples and that each
example is valid against the schema it illustrates."""
from __future__ import annotations

from typing import Any

CURRENCY = "USD"


def money(amount: str) -> dict[str, str]:
    """`{"amount": "1250.00", "currency": "USD"}`: money as every answer shows it."""
    return {"amount": amount, "currency": CURRENCY}


def success(data: Any = None, *, meta: dict | None = None, message: str | None = None) -> dict[str, Any]:
    """A success envelope around `data`, as app.api.envelope.ok answers."""
    return {"status": "success", "message": message, "data": data, "meta": meta}


def page(items: list, *, total: int | None = None, per_page: int = 20, **extra: Any) -> dict[str, Any]:
    """The first page of a list, with its `meta` (and any extra members of meta, such as `unread`)."""
    total = len(items) if total is None else total
    meta = {"page": 1, "per_page": per_page, "total": total, "pages": max((total + per_page - 1) // per_page, 1)}
    return success(items, meta={**meta, **extra})


def error(message: str, errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """An error envelope, as app.core.errors answers."""
    return {"status": "error", "message": message, "errors": errors}


# one example per error code, for the responses every operation shares (app.api.EnvelopeApi, ErrorResponses)
ERRORS: dict[int, dict[str, Any]] = {
    400: error("The browser (or proxy) sent a request that this server could not understand.",
               {"json": ["Invalid JSON body."]}),
    401: error("A valid bearer token is required."),
    403: error("Identity verification is not complete: to invest, Identity must be approved.",
               {"kyc": ["Identity: pending"]}),
    404: error("no such investment"),
    405: error("The method is not allowed for the requested URL."),
    409: error("this Idempotency-Key was used with another request",
               {"Idempotency-Key": ["Already used with a different body."]}),
    422: error("The request was not valid.", {"amount": ["amount has more than 2 decimal places"]}),
    429: error("100 per 1 minute"),
    500: error("Internal server error."),
}
