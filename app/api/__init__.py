"""JSON API v1 (flask-smorest): envelope, bearer tokens, rate limits, OpenAPI at /api/v1/openapi.json.

The OpenAPI document describes every answer as it is sent: success envelopes per operation, the error envelope
for each error code an operation can answer with (`ErrorResponses` adds those every operation of a kind shares;
a view declares its own with `blp.alt_response`), money as `{amount, currency}`, request amounts as strings."""
from __future__ import annotations

import http
from typing import Any

from apispec import BasePlugin
from flask import Flask
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from app.api import fields as api_fields
from app.api.auth import STAFF_REFUSED, rate_limit_key, rate_limit_value, require_token, staff_may_call
from app.api.docs import bp as docs_page
from app.api.envelope import ErrorEnvelopeSchema
from app.api.examples import ERRORS as ERROR_EXAMPLES
from app.api.examples import error as error_example
from app.api.v1 import (
    auth,
    deposits,
    investments,
    kyc,
    market,
    me,
    me_data,
    notifications,
    payout_methods,
    payouts,
    properties,
    property_admin,
    statements,
    tickets,
    wallet,
)
from app.extensions import csrf, limiter

PREFIX = "/api/v1"
MODULES = (auth, me, wallet, notifications, kyc, properties, investments, deposits, payout_methods, payouts,
           market, me_data, statements, property_admin, tickets)
ERROR_SCHEMA_NAME = "ErrorEnvelope"

# what each error code means in this API (every one answers with the error envelope)
ERROR_DESCRIPTIONS = {
    400: "The body is not valid JSON.",
    401: "No valid bearer token (missing, expired or revoked), or the credentials are wrong.",
    403: "Not allowed: the e-mail address is not verified, identity verification is not approved, or the caller "
         "may not do this.",
    404: "No such resource, or it is not the caller's.",
    405: "The path does not take this method.",
    410: "Gone: the resource expired (a data export's download after its time).",
    409: "The resource is not in a state that allows this, or the Idempotency-Key was used with another request "
         "or its first request is still in progress.",
    422: "The request is not valid: `errors` names each field (or header) with its reasons.",
    429: "Too many requests: try again after `Retry-After` seconds.",
    500: "Internal server error.",
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer", "minimum": 1}}}


def _error_example(status: int) -> dict[str, Any]:
    """The error envelope as an answer with this code looks (app.api.examples.ERRORS, else the code's phrase)."""
    return ERROR_EXAMPLES.get(status) or error_example(http.HTTPStatus(status).phrase + ".")


class EnvelopeApi(Api):
    """Errors are rendered by app.core.errors for the whole app, as envelopes under /api/; the document says so."""

    ERROR_SCHEMA = ErrorEnvelopeSchema

    def _register_error_handlers(self):
        return None

    def _register_responses(self):
        """One response component per status code (used ones only), each the error envelope."""
        self.spec.components.schema(ERROR_SCHEMA_NAME, schema=self.ERROR_SCHEMA)
        ref = {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": ERROR_DESCRIPTIONS.get(status.value, status.phrase)}
            if status >= 400:
                response["content"] = {self.DEFAULT_RESPONSE_CONTENT_TYPE: {"schema": dict(ref),
                                                                            "example": _error_example(status)}}
            if status == http.HTTPStatus.TOO_MANY_REQUESTS:
                response["headers"] = RETRY_AFTER
            self.spec.components.response(status.name, response, lazy=True)
        default = {"description": "Any other error, as the error envelope.", "schema": dict(ref),
                   "example": ERROR_EXAMPLES[500]}
        prepare_response(default, self.spec, self.DEFAULT_RESPONSE_CONTENT_TYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, default, lazy=True)


class ErrorResponses(BasePlugin):
    """Documents the errors an operation shares with every operation of its kind: 401 unless the view is public,
    404 for a path naming a resource, 409 for an idempotent call, 400 for a JSON body, 429 everywhere (every
    blueprint is rate limited). An error a view declares without a body (`alt_response(403, description=...)`)
    gets the error envelope, with the example of its code unless the view gave its own."""

    def __init__(self, app: Flask):
        self.app = app

    def operation_helper(self, path: str | None = None, operations: dict | None = None, **kwargs: Any) -> None:
        rule = kwargs.get("rule")
        if rule is None or not operations:
            return
        view = self.app.view_functions.get(rule.endpoint)
        for method, operation in operations.items():
            responses = operation["responses"] = {str(code): response
                                                  for code, response in operation.get("responses", {}).items()}
            codes = [429]
            if view is not None and not getattr(view, "_api_public", False):
                codes.append(401)
                if not staff_may_call(view, rule.endpoint, method.upper()):
                    responses.setdefault("403", {"description": "a staff token: " + STAFF_REFUSED})
            if rule.arguments:
                codes.append(404)
            if view is not None and getattr(view, "_api_idempotent", False):
                codes.append(409)
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                codes.append(400)
            for code in codes:
                responses.setdefault(str(code), http.HTTPStatus(code).name)
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400 and isinstance(response, dict) \
                        and "$ref" not in response:
                    content = response.setdefault("content", {}).setdefault("application/json", {})
                    content.setdefault("schema", {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"})
                    if "example" not in content and "examples" not in content:
                        content["example"] = _error_example(int(status))
                    if int(status) == 429:
                        response.setdefault("headers", RETRY_AFTER)


def init_api(app: Flask) -> Api:
    api = EnvelopeApi(app, spec_kwargs={
        "info": {"description": "Freehold JSON API. Every answer is an envelope: {status: \"success\", message, "
                                "data, meta} or, with a 4xx/5xx code, {status: \"error\", message, errors}. Money is "
                                "{amount, currency} with the amount a decimal string in major units; amounts in "
                                "requests are decimal strings too (\"100.00\")."},
        "extra_plugins": [ErrorResponses(app)],
    })
    api.ma_plugin.converter.add_attribute_function(api_fields.field_properties)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer",
                                                       "description": "a token from POST /api/v1/auth/token"})
    for module in MODULES:
        blp = module.blp
        if not getattr(blp, "_freehold_wired", False):
            blp.before_request(require_token)
            limiter.limit(rate_limit_value, key_func=rate_limit_key)(blp)
            csrf.exempt(blp)  # bearer tokens, not cookies: no ambient credential to forge
            blp._freehold_wired = True
        api.register_blueprint(blp, url_prefix=f"{PREFIX}{module.URL}")
    app.register_blueprint(docs_page)  # /api/v1/docs: public, like the document it shows
    app.extensions["freehold_api"] = api
    return api
