"""Webhook processing, abandoned deposits, daily reconciliation. Each event is one unit of work: all of it commits
or none of it does, so a redelivered task (a killed worker) credits exactly once.

How a stored event reaches processing: on a Redis broker, the webhook request only wakes the inbox drainer (a
SET NX on one key; the request whose SET wins publishes one `payments.drain_inbox`), and the drainer processes
every unprocessed row, a few at a time, each in its own transaction. Elsewhere (the embedded broker, eager tasks)
each event gets its own `payments.process_webhook`. Either way a periodic sweep processes rows whose wake-up was
lost, and a failed event is retried with backoff by `payments.process_webhook`."""
from __future__ import annotations

import hashlib
import logging
import queue
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from celery import shared_task
from flask import current_app
from sqlalchemy import update

from app.extensions import db
from app.payments.models import WebhookInbox

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
DRAIN_BATCH = 100  # rows read per query by the drainer
DRAIN_THREADS = 8  # events in flight at once in one drainer: their waits on the gateway (a round trip to Stripe
# takes a few hundred milliseconds) and on the database overlap
DRAIN_SWITCH_INTERVAL = 0.0005  # seconds (Python's default: 0.005)
DRAIN_SECONDS = 60  # a drainer hands over to a fresh task after this long, so one task never runs for ever
WAKE_TTL_MS = 10_000  # a wake-up whose drainer never ran (lost message) stops suppressing new ones after this
SWEEP_AFTER = timedelta(minutes=1)  # rows still unprocessed after this are swept


def _backoff(attempts: int) -> int:
    return min(30 * 2 ** max(attempts - 1, 0), 3600)


# one event -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Failure:
    error: Exception
    attempts: int
    retryable: bool  # a temporary failure with attempts left


def run_event(inbox_id: int) -> tuple[str, Failure | None]:
    """Process one stored event as one unit of work and commit. The result is processed | ignored | skipped (done
    already, or being processed by someone else) | failed (rolled back whole; the row says why)."""
    from app.payments.gateways.base import GatewayError
    from app.payments.services import claim_event, process_event

    row = claim_event(inbox_id)
    if row is None:
        db.session.rollback()
        return "skipped", None
    try:
        result = process_event(row)
        db.session.commit()
        return result, None
    except Exception as exc:  # noqa: BLE001 - the unit rolls back whole; the event stays for a retry
        db.session.rollback()
        log.exception("webhook %s failed", inbox_id)
        attempts = db.session.execute(
            update(WebhookInbox).where(WebhookInbox.id == inbox_id)
            .values(status="failed", error=f"{type(exc).__name__}: {exc}"[:500], attempts=WebhookInbox.attempts + 1)
            .returning(WebhookInbox.attempts).execution_options(synchronize_session=False)).scalar_one()
        db.session.commit()
        retryable = (not isinstance(exc, GatewayError) or exc.retryable) and attempts < MAX_ATTEMPTS
        return "failed", Failure(exc, attempts, retryable)


def _eager() -> bool:
    return bool(current_app.extensions["celery"].conf.task_always_eager)


@shared_task(name="payments.process_webhook", bind=True, max_retries=None)
def process_webhook(self, inbox_id: int) -> str:
    """One event (the embedded broker's path, retries, and the console's Reprocess)."""
    result, failure = run_event(inbox_id)
    if failure and failure.retryable and not _eager():
        raise self.retry(exc=failure.error, countdown=_backoff(failure.attempts))
    return result


# waking the drainer ----------------------------------------------------------------------------------------------
_redis_clients: dict[str, object] = {}
_redis_lock = threading.Lock()


def _wake_redis():
    """The broker's Redis when the broker is Redis (else None): the wake-up key lives beside the queue."""
    url = current_app.extensions["celery"].conf.broker_url or ""
    if _eager() or not url.startswith(("redis://", "rediss://")):
        return None
    client = _redis_clients.get(url)
    if client is None:
        import redis

        with _redis_lock:
            client = _redis_clients.setdefault(url, redis.Redis.from_url(url))
    return client


def _wake_key() -> str:
    """One key per database, so deployments sharing a Redis do not silence each other."""
    key = current_app.extensions.get("freehold_inbox_wake_key")
    if key is None:
        url = db.engine.url.render_as_string(hide_password=True)
        key = "freehold:payments:inbox-wake:" + hashlib.sha256(url.encode()).hexdigest()[:16]
        current_app.extensions["freehold_inbox_wake_key"] = key
    return key


def announce_events(inbox_ids: list[int]) -> None:
    """Called once events are committed: have them processed. Never raises: the events are stored, and a lost
    wake-up is caught by the sweep."""
    try:
        client = _wake_redis()
        if client is None:
            for inbox_id in inbox_ids:
                process_webhook.apply_async((inbox_id,))
            return
        key = _wake_key()
        # the key is set from the first event after a drainer started until the next drainer starts: every event
        # committed meanwhile is read by that next drainer, so one message covers them all
        if client.set(key, "1", nx=True, px=WAKE_TTL_MS):
            try:
                drain_inbox.apply_async()
            except Exception:
                client.delete(key)  # let the next event try again
                raise
    except Exception:  # noqa: BLE001 - the broker is down: the sweep processes the events later
        if _eager():
            raise  # eager tasks (tests, development) surface their errors
        log.warning("webhooks %s stored but their processing could not be queued; the sweep will pick them up",
                    inbox_ids, exc_info=True)


# the drainer -----------------------------------------------------------------------------------------------------
def drain(*, seconds: float = DRAIN_SECONDS, threads: int = DRAIN_THREADS, received_before=None) -> dict:
    """Process every unprocessed inbox row (oldest first), `threads` at a time, each in its own transaction (one
    bad event rolls back only itself). Stops after `seconds`, leaving the rest to a fresh drainer. Returns the
    count of each result, and "more": True when it stopped early."""
    from app.payments.services import pending_events

    if db.engine.dialect.name == "sqlite":
        threads = 1  # one writer at a time: threads would only wait on each other
    deadline = time.monotonic() + seconds
    counts: dict = {}
    after_id = 0
    more = False
    workers = _Workers(current_app._get_current_object(), threads) if threads > 1 else None
    switch_interval = sys.getswitchinterval()
    if workers:
        # the threads mostly wait on the gateway and the database: one whose answer came should get the
        # interpreter back at once (not after up to 5 ms of another's Python), above all while it holds the row
        # locks of the shared ledger accounts, which every other credit waits for
        sys.setswitchinterval(DRAIN_SWITCH_INTERVAL)
    try:
        while True:
            ids = pending_events(after_id, DRAIN_BATCH, received_before=received_before)
            db.session.rollback()  # hand the connection back while the batch runs
            if not ids:
                break
            after_id = ids[-1]
            results = workers.run(ids) if workers else [_drain_one(i) for i in ids]
            for result in results:
                counts[result] = counts.get(result, 0) + 1
            if time.monotonic() > deadline:
                more = True
                break
    finally:
        if workers:
            workers.close()
            sys.setswitchinterval(switch_interval)
    counts["more"] = more
    return counts


def _drain_one(inbox_id: int) -> str:
    result, failure = run_event(inbox_id)
    if failure and failure.retryable and not _eager():
        process_webhook.apply_async((inbox_id,), countdown=_backoff(failure.attempts))
    return result


class _Workers:
    """A few threads, each with its own application context and database session, processing events."""

    def __init__(self, app, count: int):
        self.app = app
        self.jobs: queue.Queue = queue.Queue()
        self.results: queue.Queue = queue.Queue()
        self.threads = [threading.Thread(target=self._loop, daemon=True, name=f"inbox-drain-{n}")
                        for n in range(count)]
        for thread in self.threads:
            thread.start()

    def _loop(self) -> None:
        with self.app.app_context():
            while (inbox_id := self.jobs.get()) is not None:
                try:
                    self.results.put(_drain_one(inbox_id))
                except Exception as exc:  # noqa: BLE001 - run_event handles event errors; this is the database
                    log.exception("webhook %s could not be processed", inbox_id)
                    db.session.rollback()
                    self.results.put(f"error: {type(exc).__name__}")

    def run(self, ids: list[int]) -> list[str]:
        for inbox_id in ids:
            self.jobs.put(inbox_id)
        return [self.results.get() for _ in ids]

    def close(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)
        for thread in self.threads:
            thread.join()


@shared_task(name="payments.drain_inbox")
def drain_inbox() -> dict:
    """Woken by webhooks (see announce_event): clears the wake-up, then drains."""
    client = _wake_redis()
    if client is not None:
        client.delete(_wake_key())  # before reading: an event committed from now on wakes another drainer
    counts = drain()
    if counts["more"]:
        drain_inbox.apply_async()
    return counts


@shared_task(name="payments.sweep_inbox")
def sweep_inbox() -> dict:
    """Safety net (beat, every minute): events stored a while ago and still unprocessed, because their wake-up
    was lost (broker down, message lost, worker killed before it finished), are processed now."""
    from app.core.db import utcnow

    return drain(received_before=utcnow() - SWEEP_AFTER)


@shared_task(name="payments.notify_outcome")
def notify_outcome(user_id: int, event: str, context: dict) -> str:
    from app.auth.models import User
    from app.notifications.services import notify

    user = db.session.get(User, user_id)
    if user is None:
        return "missing"
    notify(user, event, **context)
    db.session.commit()
    return "sent"


@shared_task(name="payments.expire_abandoned")
def expire_abandoned_deposits() -> int:
    from app.payments.services import expire_abandoned

    count = expire_abandoned()
    db.session.commit()
    return count


@shared_task(name="payments.reconcile")
def reconcile_payments() -> int:
    from app.payments.services import reconcile

    count = reconcile()
    db.session.commit()
    return count


