"""Domain errors raised by services, and the handlers that turn any error into a page or a JSON envelope."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from app.core.db import discard
from app.core.i18n import in_request_language
from app.core.requestlog import route_of

log = logging.getLogger(__name__)


def _translated(value: Any) -> Any:
    """A message, or the messages of an errors dict, in the language of the request reading them: the catalogue's
    translation of a sentence it has (the services raise in English; docs/languages.md), the sentence itself
    otherwise, and outside a request (workers, the CLI, logs) always English."""
    if isinstance(value, str):
        return in_request_language(value)
    if isinstance(value, dict):
        return {key: _translated(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_translated(item) for item in value]
    return value


class DomainError(Exception):
    """A refused request: nothing was changed. `status` is the HTTP code an edge should answer with.

    `message` and `errors` are read in the request's language (the console's is English); `str(error)` and what
    was given stay English."""

    status = 422
    code = "invalid"

    def __init__(self, message: str, errors: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors

    @property
    def message(self) -> str:
        return str(_translated(self._message))

    @message.setter
    def message(self, value: str) -> None:
        self._message = value

    @property
    def errors(self) -> dict[str, Any] | None:
        return None if self._errors is None else _translated(self._errors)

    @errors.setter
    def errors(self, value: dict[str, Any] | None) -> None:
        self._errors = value


class ValidationError(DomainError):
    status = 422
    code = "invalid"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class InsufficientFunds(DomainError):
    status = 422
    code = "insufficient_funds"


class IllegalTransition(Conflict):
    code = "illegal_transition"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/webhooks/")


def error_envelope(message: str, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"status": "error", "message": message, "errors": errors or None}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        if wants_json():
            errors = None
            data = getattr(exc, "data", None) or {}
            messages = data.get("messages") if isinstance(data, dict) else None
            if messages:
                errors = _flatten_locations(messages)
            message = data.get("message") if isinstance(data, dict) and data.get("message") else exc.description
            if exc.code == 422 and errors and message == exc.description:
                message = "The request was not valid."
            response = jsonify(error_envelope(message or exc.name, errors))
            response.status_code = exc.code or 500
            for key, value in (exc.get_response().headers if exc.code == 429 else []):
                if key.lower() == "retry-after":
                    response.headers[key] = value
            headers = data.get("headers") if isinstance(data, dict) else None
            if headers:
                response.headers.update(headers)
            return response
        template = f"errors/{exc.code}.html" if exc.code in (403, 404, 429) else "errors/generic.html"
        # code is None only on werkzeug's HTTPException base class (Flask then keeps the status 200)
        return render_template(template, error=exc), exc.code  # type: ignore[return-value]

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError) -> ResponseReturnValue:
        discard()  # the failed request's transaction ends here (a unit of work has already rolled back its own)
        if wants_json():
            response = jsonify(error_envelope(exc.message, exc.errors))
            response.status_code = exc.status
            return response
        return render_template("errors/generic.html", error=exc), exc.status

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> ResponseReturnValue:
        if isinstance(exc, HTTPException):
            return http_error(exc)
        # the route pattern, never the path, which may carry a token (a reset or verification link)
        log.exception("unhandled error on %s %s", request.method, route_of())
        discard()
        if wants_json():
            response = jsonify(error_envelope("Internal server error."))
            response.status_code = 500
            return response
        return render_template("errors/generic.html", error=None), 500


def _flatten_locations(messages: dict[str, Any]) -> dict[str, list[Any]]:
    """webargs reports {"json": {"amount": [...]}}: clients want {"amount": [...]}."""
    flat: dict[str, list[Any]] = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            for field, errs in fields.items():
                flat.setdefault(field, [])
                flat[field].extend(errs if isinstance(errs, list) else [errs])
        else:
            flat.setdefault(location, []).extend(fields if isinstance(fields, list) else [fields])
    return flat
