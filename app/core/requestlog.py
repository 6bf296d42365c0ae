"""The request log: one line per request with the route pattern (`/password/reset/<token>`), never the path a
client asked for, which may carry a token (reset and verification links, signed download links). Werkzeug's own
request lines (the development server's, with the raw path) are dropped in favour of this one; gunicorn's access
log, when switched on, uses a format without the path (gunicorn.conf.py)."""
from __future__ import annotations

import logging
import re

from flask import Flask, Response, request

log = logging.getLogger("app.requests")
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


def _log_request(response: Response) -> Response:
    log.info("%s %s %s", request.method, route_of(), response.status_code)
    return response


def init_app(app: Flask) -> None:
    app.after_request(_log_request)
    werkzeug_log = logging.getLogger("werkzeug")
    if not any(isinstance(f, DropRawRequestLines) for f in werkzeug_log.filters):
        werkzeug_log.addFilter(DropRawRequestLines())
