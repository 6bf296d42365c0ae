"""Webhook processing, abandoned deposits, daily reconciliation. Processing is a unit of work: all of it commits or
none of it does, so a redelivered task (a killed worker) credits exactly once.

How a stored event reaches processing: on a Redis broker, the webhook request only wakes the inbox drainer (a
SET NX on one key; the request whose SET wins publishes one `payments.drain_inbox`), and the drainer processes
every unprocessed row, DRAIN_CHUNK rows per transaction (a batch that fails is rolled back and its rows are
processed again one per transaction). Elsewhere (the embedded broker, eager tasks)
each event gets its own `payments.process_webhook`. Either way a periodic sweep processes rows whose wake-up was
lost, and a failed event is retried with backoff by `payments.process_webhook`."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from celery import shared_task

from app.auth.models import User
from app.core.db import discard, unit_of_work, utcnow
from app.core.retry import backoff_seconds
from app.extensions import db
from app.notifications import services as notifications
from app.payments import inbox
from app.payments import services as payments
from app.payments.gateways.base import GatewayError

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
DRAIN_BATCH = 100  # rows read per query by the drainer
DRAIN_CHUNK = 25  # events per transaction: one commit and one lock of each deposit and account for all of them,
# and the gateway asked about them side by side (a round trip to Stripe takes a few hundred milliseconds)
DRAIN_SECONDS = 60  # a drainer hands over to a fresh task after this long, so one task never runs for ever
DRAIN_RESCAN_AFTER = 0.1  # a woken drainer reads the whole inbox once more this long after clearing the wake-up
# (see inbox.WAKE_FRESH)
SWEEP_AFTER = timedelta(minutes=1)  # rows still unprocessed after this are swept


def _backoff(attempts: int) -> int:
    return backoff_seconds(attempts, base=30, cap=3600, jitter=0)


# one event -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Failure:
    error: Exception
    attempts: int
    retryable: bool  # a temporary failure with attempts left


def run_event(inbox_id: int) -> tuple[str, Failure | None]:
    """Process one stored event as one unit of work. The result is processed | ignored | skipped (done already, or
    being processed by someone else) | failed (rolled back whole, then the row says why in a unit of its own)."""
    row = None
    try:
        with unit_of_work():
            row = payments.claim_event(inbox_id)
            if row is None:
                return "skipped", None
            result = payments.process_event(row)
        return result, None
    except Exception as exc:
        if row is None:
            raise  # the claim itself failed: there is nothing to mark
        log.exception("webhook %s failed", inbox_id)
        with unit_of_work():
            attempts = payments.mark_failed(inbox_id, exc)
        retryable = (not isinstance(exc, GatewayError) or exc.retryable) and attempts < MAX_ATTEMPTS
        return "failed", Failure(exc, attempts, retryable)


@shared_task(name="payments.process_webhook", bind=True, max_retries=None)
def process_webhook(self, inbox_id: int) -> str:
    """One event (the embedded broker's path, retries, and the console's Reprocess)."""
    result, failure = run_event(inbox_id)
    if failure and failure.retryable and not inbox.tasks_eager():
        raise self.retry(exc=failure.error, countdown=_backoff(failure.attempts))
    return result


# the drainer -----------------------------------------------------------------------------------------------------
def run_events(inbox_ids: list[int]) -> list[str]:
    """Process several stored events as one unit of work (services.process_events: one commit, each lock taken
    once, the gateway asked about all of them at once). If any of them fails, the whole batch rolls back and
    its events are processed one by one, each in its own unit of work, so that a bad event fails alone."""
    try:
        with unit_of_work():
            rows = payments.claim_events(inbox_ids)
            results = payments.process_events(rows) if rows else []
    except Exception:
        log.info("a batch of %d webhooks failed; processing them one by one", len(inbox_ids), exc_info=True)
        return [_drain_one(inbox_id) for inbox_id in inbox_ids]
    # the others are done already or being processed by another drainer
    return results + ["skipped"] * (len(inbox_ids) - len(rows))


def drain(*, seconds: float = DRAIN_SECONDS, chunk: int = DRAIN_CHUNK, received_before=None,
          rescan_after: float | None = None) -> dict:
    """Process every unprocessed inbox row (oldest first), `chunk` rows per unit of work (run_events). Stops
    after `seconds`, leaving the rest to a fresh drainer. Returns the count of each result, and "more": True
    when it stopped early.

    rescan_after (a woken drainer): once nothing is left, read the whole inbox once more, from its first row,
    no sooner than this many seconds after the start. That covers the events whose process did not set the
    wake-up again (see inbox.announce_events) and any event committed after rows with higher ids were read."""
    started = time.monotonic()
    deadline = started + seconds
    counts: dict = {}
    after_id = 0
    more = False
    rescanned = rescan_after is None
    while True:
        ids = payments.pending_events(after_id, DRAIN_BATCH, received_before=received_before)
        discard()  # a read: hand the connection back between batches
        if not ids:
            if rescanned or rescan_after is None:  # without rescan_after, rescanned is True from the start
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
    if failure and failure.retryable and not inbox.tasks_eager():
        process_webhook.apply_async((inbox_id,), countdown=_backoff(failure.attempts))
    return result


@shared_task(name="payments.drain_inbox")
def drain_inbox() -> dict:
    """Woken by webhooks (see inbox.announce_events): clears the wake-up, then drains."""
    client = inbox.wake_redis()
    if client is not None:
        client.delete(inbox.wake_key())  # before reading: an event committed from now on wakes another drainer
    counts = drain(rescan_after=DRAIN_RESCAN_AFTER if client is not None else None)
    if counts["more"]:
        drain_inbox.apply_async()
    return counts


@shared_task(name="payments.sweep_inbox")
def sweep_inbox() -> dict:
    """Safety net (beat, every minute): events stored a while ago and still unprocessed, because their wake-up
    was lost (broker down, message lost, worker killed before it finished), are processed now."""
    return drain(received_before=utcnow() - SWEEP_AFTER)


# telling the investor --------------------------------------------------------------------------------------------
def _tell(user_id: int, event: str, context: dict) -> str:
    user = db.session.get(User, user_id)
    if user is None:
        return "missing"
    notifications.notify(user, event, **context)
    return "sent"


@shared_task(name="payments.notify_outcome")
@unit_of_work
def notify_outcome(user_id: int, event: str, context: dict) -> str:
    return _tell(user_id, event, context)


@shared_task(name="payments.notify_outcomes")
def notify_outcomes(notices: list) -> dict:
    """The notices of a drainer's batch, recorded in one unit of work (so a redelivered message sends none of them
    twice unless it was committed, as for one notice). A notice that fails rolls back alone and is retried as a
    task of its own."""
    counts: dict = {}
    failed = []
    with unit_of_work():
        for user_id, event, context in notices:
            try:
                with db.session.begin_nested():
                    result = _tell(user_id, event, context)
            except Exception:
                log.exception("notice %s for user %s failed; retrying it alone", event, user_id)
                failed.append((user_id, event, context))
                result = "retried"
            counts[result] = counts.get(result, 0) + 1
    for notice in failed:
        notify_outcome.apply_async(notice, countdown=60)
    return counts


# housekeeping ----------------------------------------------------------------------------------------------------
@shared_task(name="payments.expire_abandoned")
@unit_of_work
def expire_abandoned_deposits() -> int:
    return payments.expire_abandoned()


@shared_task(name="payments.reconcile")
@unit_of_work
def reconcile_payments() -> int:
    return payments.reconcile()
