"""One logging set-up for every process (web, Celery worker, beat): JSON lines under the production configuration,
one readable line each in development and tests (`LOG_FORMAT`), at `LOG_LEVEL`.

The root logger gets one handler of ours, to standard error, whatever else is attached to it (pytest's capture, an
operator's own handler) is left alone; set-up can run any number of times (every `create_app`, Celery's
`setup_logging` signal, gunicorn's logger) and never adds a second handler.

Every record leaving that handler carries, when known, the request id, the signed-in user's id and the Celery task's
name and id (the context below, filled by app/core/requestlog.py for requests and by the Celery signals here for
tasks). A task queued during a request carries that request's id in its message headers, so the task's lines and
the request's share it.

Nothing secret is logged on purpose; `redact`, applied to what the handler writes, is the safety net: bearer tokens,
`password=...`-style values, and outside development the token of a reset or verification link."""
from __future__ import annotations

import copy
import logging
import os
import re
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any, TextIO

from celery import signals
from flask import g, has_app_context, has_request_context
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy import inspect

# the context of the work being done: set by the request hooks (requestlog.py) and the task signals below
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
user_id_var: ContextVar[int | None] = ContextVar("user_id", default=None)
task_name_var: ContextVar[str | None] = ContextVar("task_name", default=None)
task_id_var: ContextVar[str | None] = ContextVar("task_id", default=None)

CONTEXT_FIELDS = ("request_id", "user_id", "task_name", "task_id")
FORMATS = ("json", "text")
# the message header a queued task carries its request's id in (read back on the worker by `_task_prerun`)
REQUEST_ID_HEADER = "log_request_id"


class ContextFilter(logging.Filter):
    """Adds request_id, user_id, task_name and task_id to a record (those known; a value the caller passed in
    `extra` wins). The user id is read from the context, else from what this request already loaded (never
    loading anything itself: a log line sends no query)."""

    def filter(self, record: logging.LogRecord) -> bool:
        values = {"request_id": request_id_var.get(), "user_id": user_id_var.get() or request_user_id(),
                  "task_name": task_name_var.get(), "task_id": task_id_var.get()}
        for name, value in values.items():
            if value is not None and getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


def request_user_id() -> int | None:
    """The id of the user this request has already signed in (browser session or API token), without a query."""
    if not (has_request_context() and has_app_context()):
        return None
    user = g.get("_login_user")  # Flask-Login keeps the user it loaded here
    if user is not None and getattr(user, "is_authenticated", False):
        return _primary_key(user)
    token = g.get("api_token")
    if token is not None:
        return _primary_key(token, "user_id")
    return None


def _primary_key(obj: object, attribute: str = "id") -> int | None:
    """The id of a loaded row without refreshing it (after a commit its attributes are expired; reading them
    would query the database from inside a log call)."""
    value = obj.__dict__.get(attribute)
    if value is None and attribute == "id":
        try:
            identity = inspect(obj).identity
        except Exception:  # not a mapped row: nothing to name
            return None
        value = identity[0] if identity else None
    return value if isinstance(value, int) else None


# redaction ---------------------------------------------------------------------------------------------------------
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_KEY_VALUE = re.compile(r"(?i)\b((?:password|passwd|secret|api[_-]?key|access[_-]?token|refresh[_-]?token|token|otp|"
                        r"totp|authorization|account[_-]?number|iban)[\"']?\s*[:=]\s*[\"']?)([^\s\"'&,;\\]+)")
# the token of an access link (app/auth/views.py); written to the log only by the development mail stand-in
_LINK_TOKEN = re.compile(r"(/(?:password/reset|verify-email)/)[^\s/?#\"'<>]+")
REDACTED = "[redacted]"


def redact(text: str, *, links: bool = True) -> str:
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _KEY_VALUE.sub(lambda m: m.group(1) + REDACTED, text)
    if links:
        text = _LINK_TOKEN.sub(lambda m: m.group(1) + REDACTED, text)
    return text


# formats -----------------------------------------------------------------------------------------------------------
class TextFormatter(logging.Formatter):
    """`2026-12-03 14:05:09,120 INFO app.requests [request_id=… user_id=7] GET /api/v1/me 200 12.3ms`"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(context)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        known = [f"{name}={getattr(record, name)}" for name in CONTEXT_FIELDS if getattr(record, name, None) is not None]
        return self._fmt % {**record.__dict__, "context": f" [{' '.join(known)}]" if known else ""}  # type: ignore[operator]


def json_formatter() -> logging.Formatter:
    """One JSON object a line: level, logger, message, the context fields, any `extra`, and the time (ISO 8601,
    UTC) as `timestamp`; an exception's traceback as `exc_info`."""
    return JsonFormatter("%(levelname)s %(name)s %(message)s", rename_fields={"levelname": "level", "name": "logger"},
                         timestamp=True, json_ensure_ascii=False)


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is when a record arrives (a test may swap it), unless given a stream. What it
    writes passes `redact` (links=False, under development only, keeps the links of the mail the development
    configuration writes to the log instead of sending); the record itself is left as logged, for other handlers."""

    def __init__(self, stream: TextIO | None = None, *, links: bool = True) -> None:
        super().__init__(stream)
        self._fixed = stream
        self.links = links

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: the formatter reports it as ever
            return super().format(record)
        cleaned = redact(message, links=self.links)
        if cleaned != message:
            record = copy.copy(record)
            record.msg, record.args = cleaned, None
        return super().format(record)

    @property
    def stream(self) -> TextIO:
        return self._fixed if self._fixed is not None else sys.stderr

    @stream.setter
    def stream(self, value: TextIO | None) -> None:
        self._fixed = value


def make_handler(fmt: str, *, links: bool = True, stream: TextIO | None = None) -> logging.Handler:
    """The handler of the set-up: the format, the context and the redaction."""
    handler = StderrHandler(stream, links=links)
    handler.setFormatter(json_formatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    return handler


# the set-up --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LogSettings:
    fmt: str = "text"
    level: str = "INFO"
    links: bool = True  # redact access links; off under the development configuration only

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> LogSettings:
        fmt = str(config.get("LOG_FORMAT") or ("json" if config.get("CONFIG_NAME") == "production" else "text"))
        fmt = fmt.strip().lower()
        if fmt not in FORMATS:
            raise RuntimeError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
        level = str(config.get("LOG_LEVEL") or "INFO").strip().upper()
        if not isinstance(logging.getLevelName(level), int):
            raise RuntimeError(f"LOG_LEVEL must be a level name (DEBUG, INFO, WARNING, ERROR), not {level!r}")
        return cls(fmt, level, links=config.get("CONFIG_NAME") != "development")


# Loggers held at WARNING or above whatever LOG_LEVEL says: SQLAlchemy's echo writes every statement with its
# parameters (INFO) and every row read with its decrypted values (DEBUG): bank account numbers, KYC answers. Alembic
# lists its plugins at INFO on import.
QUIET = {"sqlalchemy": logging.WARNING, "alembic.runtime.plugins": logging.WARNING}
_current: list[LogSettings] = []  # what the process was last set up with


def _ours(handler: logging.Handler) -> bool:
    return getattr(handler, "_freehold_logs", False)


def configure(settings: LogSettings) -> None:
    """Set the process's logging up (idempotent: the same settings twice change nothing, so a test's caplog level
    survives another `create_app`)."""
    root = logging.getLogger()
    mine = [handler for handler in root.handlers if _ours(handler)]
    if mine and _current and _current[-1] == settings:
        return
    for handler in mine:
        root.removeHandler(handler)
    handler = make_handler(settings.fmt, links=settings.links)
    handler._freehold_logs = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.level)
    for name, level in QUIET.items():
        logging.getLogger(name).setLevel(max(level, root.level))
    _current[:] = [settings]


def configure_from_config(config: Mapping[str, Any]) -> None:
    configure(LogSettings.of(config))


def current_settings() -> LogSettings | None:
    return _current[-1] if _current else None


# Celery --------------------------------------------------------------------------------------------------------------
def init_celery() -> None:
    """Connect the Celery signals (global, once per process): the worker and beat keep this set-up instead of
    Celery's own (any receiver of `setup_logging` stops Celery from configuring the root logger), a queued task
    carries its request's id in its headers, and a running task's lines carry its name, id and that request id."""
    signals.setup_logging.connect(_celery_setup_logging, weak=False, dispatch_uid="freehold.logs.setup")
    signals.before_task_publish.connect(_before_task_publish, weak=False, dispatch_uid="freehold.logs.publish")
    signals.task_prerun.connect(_task_prerun, weak=False, dispatch_uid="freehold.logs.prerun")
    signals.task_postrun.connect(_task_postrun, weak=False, dispatch_uid="freehold.logs.postrun")


def _celery_setup_logging(loglevel: int | str | None = None, **_: Any) -> None:
    """A worker or beat: the app's set-up; without LOG_LEVEL in the environment, at its `--loglevel`."""
    settings = current_settings() or LogSettings()
    if loglevel and not os.environ.get("LOG_LEVEL"):
        name = logging.getLevelName(loglevel) if isinstance(loglevel, int) else str(loglevel).upper()
        if isinstance(logging.getLevelName(name), int):
            settings = replace(settings, level=name)
    configure(settings)


def _before_task_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = request_id_var.get()
    if headers is not None and request_id and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = request_id


_TASK_TOKENS: dict[str, list[tuple[Any, ...]]] = {}


def _task_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    """A task starts: its name and id, and the request id its message carries (an eager task, run inside the
    request that queued it, keeps that request's id)."""
    request = getattr(task, "request", None)
    carried = getattr(request, REQUEST_ID_HEADER, None) or (getattr(request, "headers", None) or {}).get(
        REQUEST_ID_HEADER)
    tokens = (task_name_var.set(getattr(task, "name", None)), task_id_var.set(task_id),
              request_id_var.set(carried if sane_request_id(carried) else request_id_var.get()))
    _TASK_TOKENS.setdefault(task_id or "", []).append(tokens)


def _task_postrun(task_id: str | None = None, **_: Any) -> None:
    """The task ends: back to the context it ran in (a request, for an eager task)."""
    stack = _TASK_TOKENS.get(task_id or "")
    if not stack:
        return
    name_token, id_token, request_token = stack.pop()
    if not stack:
        _TASK_TOKENS.pop(task_id or "", None)
    for var, token in ((task_name_var, name_token), (task_id_var, id_token), (request_id_var, request_token)):
        try:
            var.reset(token)
        except ValueError:  # set in another context (should not happen): clear it rather than leak it
            var.set(None)


# request ids -------------------------------------------------------------------------------------------------------
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")


def sane_request_id(value: object) -> bool:
    """A client's X-Request-ID is kept when it is 8 to 128 characters of letters, digits and `.`, `_`, `:`, `-`."""
    return isinstance(value, str) and _SANE_REQUEST_ID.fullmatch(value) is not None
