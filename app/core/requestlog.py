"""The request log: one line per request with the route pattern (`/password/reset/<token>`), never the path a
client asked for, which may carry a token (reset and verification links, signed download links). Werkzeug's own
request lines (the development server's, with the raw path) are dropped in favour of this one; gunicorn's access
log, when switched on, uses a format without the path (gunicorn.conf.py).

Each line carries the method, the route pattern, the status, the duration in milliseconds, the signed-in user's id
(when the request signed one in) and the request id. The request id is the client's `X-Request-ID` when it is sane
(app.core.logs.sane_request_id), else a new one; every response returns it in `X-Request-ID`, and every line logged
while the request runs (and by the tasks it queues) carries it."""
from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from flask import Flask, Response, g, request, request_started

from app.core.logs import request_id_var, request_user_id, sane_request_id, user_id_var

log = logging.getLogger("app.requests")
REQUEST_ID_HEADER = "X-Request-ID"
# werkzeug's development server: '127.0.0.1 - - [date] "GET /path HTTP/1.1" 200 -'
RAW_REQUEST_LINE = re.compile(r'"[A-Z]+ \S+ HTTP/\d(?:\.\d)?"')


class DropRawRequestLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let the handler deal with it as ever
            return True
        return not RAW_REQUEST_LINE.search(message)


def route_of() -> str:
    """The matched URL rule, or a fixed word when none matched (a 404 logs no path either)."""
    return request.url_rule.rule if request.url_rule is not None else "<no route>"


def _start_request(sender: Flask, **_: Any) -> None:
    """Before any before-request function (a refused Host or a rate limit still gets its id and its duration)."""
    given = request.headers.get(REQUEST_ID_HEADER)
    g.request_id = given if sane_request_id(given) else uuid.uuid4().hex
    g.request_started = time.perf_counter()
    request_id_var.set(g.request_id)
    user_id_var.set(None)


def _log_request(response: Response) -> Response:
    started = g.get("request_started")
    duration_ms = round((time.perf_counter() - started) * 1000, 1) if started is not None else None
    request_id = g.get("request_id") or request_id_var.get()
    user_id = user_id_var.get() or request_user_id()
    route = route_of()
    log.info("%s %s %s %sms", request.method, route, response.status_code, duration_ms,
             extra={name: value for name, value in (
                 ("method", request.method), ("route", route), ("status", response.status_code),
                 ("duration_ms", duration_ms), ("user_id", user_id), ("request_id", request_id)) if value is not None})
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


def _end_request(_exc: BaseException | None = None) -> None:
    request_id_var.set(None)
    user_id_var.set(None)


def init_app(app: Flask) -> None:
    request_started.connect(_start_request, app)
    app.after_request(_log_request)
    app.teardown_request(_end_request)
    werkzeug_log = logging.getLogger("werkzeug")
    if not any(isinstance(f, DropRawRequestLines) for f in werkzeug_log.filters):
        werkzeug_log.addFilter(DropRawRequestLines())
