"""POST /webhooks/<provider>: verify the signature on the raw body, store the event once, answer 2xx; the work is
done by Celery once the event is stored. A bad signature is a 400 and stores nothing. Each source address may
send WEBHOOK_RATE_LIMIT requests (429 past it: a gateway delivers again later).

Storing is the whole database work of a webhook: one INSERT ... ON CONFLICT DO NOTHING in autocommit mode (the
statement is the unit of work: durable when it returns, no BEGIN and COMMIT round trips). Requests arriving
together in one process share that statement (group commit, see _InboxWriter); each still answers only once its
own event is committed, and only then is processing announced."""
from __future__ import annotations

import json
import threading

from flask import Blueprint, abort, current_app, jsonify, request
from flask_limiter.util import get_remote_address
from sqlalchemy.exc import DBAPIError

from app.extensions import csrf, db, limiter
from app.payments import inbox
from app.payments.gateways.base import WebhookRejected
from app.payments.gateways.registry import get_gateway

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
PROVIDERS = ("stripe", "razorpay", "paypal")


def _rate_limit() -> str:
    return str(current_app.config["WEBHOOK_RATE_LIMIT"])


# per source address (request.remote_addr: the client behind TRUSTED_PROXIES proxies), generous for a gateway
@bp.post("/<provider>")
@limiter.limit(_rate_limit, key_func=get_remote_address)
def receive(provider: str):
    if provider not in PROVIDERS:
        abort(404)
    gateway = get_gateway(provider)
    if not gateway.enabled():
        abort(404)
    try:
        event = gateway.parse_webhook(request.get_data(cache=False), request.headers)
    except WebhookRejected:
        return jsonify(status="error", message="The signature is not valid.", errors=None), 400
    stored = _writer().store(provider, event)
    return current_app.response_class(_ANSWERS[stored is None], status=200, mimetype="application/json")


# the two answers, encoded once (a gateway may send thousands of events a minute)
_ANSWERS = {duplicate: json.dumps({"status": "success", "message": None,
                                   "data": {"received": True, "duplicate": duplicate}, "meta": None}).encode()
            for duplicate in (False, True)}


csrf.exempt(bp)


def _writer() -> _InboxWriter:
    writer = current_app.extensions.get("freehold_inbox_writer")
    if writer is None:
        writer = current_app.extensions.setdefault("freehold_inbox_writer", _InboxWriter())
    return writer


class _Pending:
    __slots__ = ("error", "event", "inbox_id", "leads", "provider", "ready")

    def __init__(self, provider: str, event):
        self.provider, self.event = provider, event
        self.ready = threading.Lock()  # held until the event is written (or this request is to write)
        self.ready.acquire()
        self.leads = False  # woken to write the queue, rather than because its event was written
        self.inbox_id: int | None = None
        self.error: Exception | None = None


class _InboxWriter:
    """Group commit within one process: a request that finds nobody writing writes its event and every event
    queued meanwhile, in one statement; requests arriving while a write is under way queue theirs and wait, and
    the first of them writes the next batch. A request alone is written at once; nothing waits on a timer. If
    the statement fails, every request of the batch fails (5xx: the gateway delivers again)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._writing = False
        self._connection = None  # kept by the writer (one at a time): no pool checkout per batch

    def store(self, provider: str, event) -> int | None:
        """The new inbox row id once the event is committed, or None for a duplicate."""
        mine = _Pending(provider, event)
        with self._lock:
            self._queue.append(mine)
            leads = not self._writing
            self._writing = True
        if not leads:
            mine.ready.acquire()  # released by the request that wrote it, or that hands over the writing
            leads = mine.leads
        if leads:
            self._write()
        if mine.error is not None:
            raise mine.error
        return mine.inbox_id

    def _write(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            ids = self._store([(p.provider, p.event) for p in batch])
        except Exception as exc:
            ids = []
            for pending in batch:
                pending.error = exc
        else:
            for pending, inbox_id in zip(batch, ids):
                pending.inbox_id = inbox_id
        with self._lock:  # hand over to the first request queued meanwhile, or stop writing
            if self._queue:
                self._queue[0].leads = True
                self._queue[0].ready.release()
            else:
                self._writing = False
        for pending in batch:
            if pending.ready.locked():
                pending.ready.release()
        stored = [inbox_id for inbox_id in ids if inbox_id is not None]
        if stored:
            inbox.announce_events(stored)

    def _store(self, events: list) -> list[int | None]:
        """store_events on the writer's own autocommit connection; a connection the database dropped (a restart)
        is replaced once."""
        try:
            return self._store_once(events)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        return self._store_once(events)

    def _store_once(self, events: list) -> list[int | None]:
        if self._connection is None or self._connection.closed or self._connection.invalidated:
            self._connection = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            return inbox.store_events(events, connection=self._connection)
        except Exception:
            connection, self._connection = self._connection, None
            connection.close()
            raise
