"""Webhook processing, abandoned deposits, daily reconciliation. Processing is a unit of work: all of it commits or
none of it does, so a redelivered task (a killed worker) credits exactly once.

How a stored event reaches processing: on a Redis broker, the webhook request only wakes the inbox drainer (a
SET NX on one key; the request whose SET wins publishes one `payments.drain_inbox`), and the drainer processes
every unprocessed row, DRAIN_CHUNK rows per transaction (a batch that fails is rolled back and its rows are
processed again one per transaction). Elsewhere (the embedded broker, eager tasks)
each event gets its own `payments.process_webhook`. Either way a periodic sweep processes rows whose wake-up was
lost, and a failed event is retried with backoff by `payments.process_webhook`."""
from __future__ import annotations

import hashlib
import logging
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
DRAIN_CHUNK = 25  # events per transaction: one commit and one lock of each deposit and account for all of them,
# and the gateway asked about them side by side (a round trip to Stripe takes a few hundred milliseconds)
DRAIN_SECONDS = 60  # a drainer hands over to a fresh task after this long, so one task never runs for ever
WAKE_TTL_MS = 10_000  # a wake-up whose drainer never ran (lost message) stops suppressing new ones after this
WAKE_FRESH = 0.02  # seconds: a process that saw the wake-up set this recently does not ask Redis again ...
DRAIN_RESCAN_AFTER = 0.1  # ... because a woken drainer reads the whole inbox once more this long after clearing it
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
_wake_seen: dict[str, float] = {}  # wake-up key -> when this process last saw it set (time.monotonic)
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
        asked = time.monotonic()
        if asked - _wake_seen.get(key, -WAKE_FRESH) < WAKE_FRESH:
            # the key was set a moment ago: the drainer it wakes either has not cleared it yet (and reads these
            # events), or cleared it less than WAKE_FRESH ago and still reads the whole inbox once more after
            # DRAIN_RESCAN_AFTER, which is later than these events' commit
            return
        # the key is set from the first event after a drainer started until the next drainer starts: every event
        # committed meanwhile is read by that next drainer, so one message covers them all
        if client.set(key, "1", nx=True, px=WAKE_TTL_MS):
            try:
                drain_inbox.apply_async()
            except Exception:
                client.delete(key)  # let the next event try again
                raise
        _wake_seen[key] = asked  # the key existed from this moment (or one just after) until a drainer clears it
    except Exception:  # noqa: BLE001 - the broker is down: the sweep processes the events later
        if _eager():
            raise  # eager tasks (tests, development) surface their errors
        log.warning("webhooks %s stored but their processing could not be queued; the sweep will pick them up",
                    inbox_ids, exc_info=True)


# the drainer -----------------------------------------------------------------------------------------------------
def run_events(inbox_ids: list[int]) -> list[str]:
    """Process several stored events as one unit of work (services.process_events: one commit, each lock taken
    once, the gateway asked about all of them at once). If any of them fails, the whole batch rolls back and
    its events are processed one by one, each in its own transaction, so that a bad event fails alone."""
    from app.payments.services import claim_events, process_events

    try:
        rows = claim_events(inbox_ids)
        results = process_events(rows) if rows else []
        db.session.commit()
    except Exception:  # noqa: BLE001 - rolled back whole: each event gets its own unit of work instead
        db.session.rollback()
        log.info("a batch of %d webhooks failed; processing them one by one", len(inbox_ids), exc_info=True)
        return [_drain_one(inbox_id) for inbox_id in inbox_ids]
    # the others are done already or being processed by another drainer
    return results + ["skipped"] * (len(inbox_ids) - len(rows))


def drain(*, seconds: float = DRAIN_SECONDS, chunk: int = DRAIN_CHUNK, received_before=None,
          rescan_after: float | None = None) -> dict:
    """Process every unprocessed inbox row (oldest first), `chunk` rows per transaction (run_events). Stops
    after `seconds`, leaving the rest to a fresh drainer. Returns the count of each result, and "more": True
    when it stopped early.

    rescan_after (a woken drainer): once nothing is left, read the whole inbox once more, from its first row,
    no sooner than this many seconds after the start. That covers the events whose process did not set the
    wake-up again (see announce_events) and any event committed after rows with higher ids were read."""
    from app.payments.services import pending_events

    started = time.monotonic()
    deadline = started + seconds
    counts: dict = {}
    after_id = 0
    more = False
    rescanned = rescan_after is None
    while True:
        ids = pending_events(after_id, DRAIN_BATCH, received_before=received_before)
        db.session.rollback()  # hand the connection back between batches
        if not ids:
            if rescanned:
                break
            time.sleep(max(0.0, started + rescan_after - time.monotonic()))
            after_id, rescanned = 0, True
            continue
        after_id = ids[-1]
        for start in range(0, len(ids), chunk):
            for result in run_events(ids[start:start + chunk]):
                counts[result] = counts.get(result, 0) + 1
        if time.monotonic() > deadline:
            more = True
            break
    counts["more"] = more
    return counts


def _drain_one(inbox_id: int) -> str:
    result, failure = run_event(inbox_id)
    if failure and failure.retryable and not _eager():
        process_webhook.apply_async((inbox_id,), countdown=_backoff(failure.attempts))
    return result


@shared_task(name="payments.drain_inbox")
def drain_inbox() -> dict:
    """Woken by webhooks (see announce_event): clears the wake-up, then drains."""
    client = _wake_redis()
    if client is not None:
        client.delete(_wake_key())  # before reading: an event committed from now on wakes another drainer
    counts = drain(rescan_after=DRAIN_RESCAN_AFTER if client is not None else None)
    if counts["more"]:
        drain_inbox.apply_async()
    return counts


@shared_task(name="payments.sweep_inbox")
def sweep_inbox() -> dict:
    """Safety net (beat, every minute): events stored a while ago and still unprocessed, because their wake-up
    was lost (broker down, message lost, worker killed before it finished), are processed now."""
    from app.core.db import utcnow

    return drain(received_before=utcnow() - SWEEP_AFTER)


def _tell(user_id: int, event: str, context: dict) -> str:
    from app.auth.models import User
    from app.notifications.services import notify

    user = db.session.get(User, user_id)
    if user is None:
        return "missing"
    notify(user, event, **context)
    return "sent"


@shared_task(name="payments.notify_outcome")
def notify_outcome(user_id: int, event: str, context: dict) -> str:
    result = _tell(user_id, event, context)
    db.session.commit()
    return result


@shared_task(name="payments.notify_outcomes")
def notify_outcomes(notices: list) -> dict:
    """The notices of a drainer's batch, recorded in one transaction (so a redelivered message sends none of them
    twice unless it was committed, as for one notice). A notice that fails rolls back alone and is retried as a
    task of its own."""
    counts: dict = {}
    failed = []
    for user_id, event, context in notices:
        try:
            with db.session.begin_nested():
                result = _tell(user_id, event, context)
        except Exception:  # noqa: BLE001 - this notice only; the others go out
            log.exception("notice %s for user %s failed; retrying it alone", event, user_id)
            failed.append((user_id, event, context))
            result = "retried"
        counts[result] = counts.get(result, 0) + 1
    db.session.commit()
    for notice in failed:
        notify_outcome.apply_async(notice, countdown=60)
    return counts


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


