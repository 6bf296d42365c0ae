"""The webhook inbox: a verified gateway event is stored once (UNIQUE provider + event id) before anything else,
announced once it is committed, then claimed and processed: the payment is read again from the gateway and the
deposit brought in step with it. Services flush and never commit: the tasks run each claim and its processing as
one unit of work.

Announcing: on a Redis broker a stored event only wakes the inbox drainer (a SET NX on one key; the caller whose
SET wins publishes one `payments.drain_inbox`); elsewhere (the embedded broker, eager tasks) each event gets its
own `payments.process_webhook`. Tasks are named, not imported: the tasks module imports this one."""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from datetime import datetime

import redis
from celery import current_app as celery_current_app
from flask import current_app
from sqlalchemy import Text, bindparam, cast, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.core import audit
from app.core.db import after_commit, enqueue_after_commit, utcnow
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import FEE_REVENUE, GATEWAY_CLEARING, USER_WALLET, Account
from app.payments import disputes
from app.payments.deposits import LOCKED_ACCOUNTS, reference_of, sync
from app.payments.gateways.base import Payment, WebhookEvent
from app.payments.gateways.registry import get_gateway
from app.payments.models import Deposit, WebhookInbox
from app.payments.timeline import log, notices_batch, timeline_batch

logger = logging.getLogger(__name__)
INBOX_DONE = ("processed", "ignored")
WAKE_TTL_MS = 10_000  # a wake-up whose drainer never ran (lost message) stops suppressing new ones after this
WAKE_FRESH = 0.02  # seconds: a process that saw the wake-up set this recently does not ask Redis again, because a
# woken drainer reads the whole inbox once more a while after clearing it (tasks.DRAIN_RESCAN_AFTER)


# storing -----------------------------------------------------------------------------------------------------------
def store_event(provider: str, event, *, connection=None) -> int | None:
    """Keep a verified event once (UNIQUE provider + event id) and have it processed after the session commits.
    A duplicate is a no-op (returns None). With `connection`, see store_events."""
    if connection is not None:
        return store_events([(provider, event)], connection=connection)[0]
    [inserted] = store_events([(provider, event)], connection=db.session.connection())
    if inserted is not None:
        after_commit(announce_events, [inserted])
    return inserted


def store_events(events: list[tuple[str, WebhookEvent]], *, connection) -> list[int | None]:
    """Keep verified (provider, event) pairs once each, with one INSERT ... ON CONFLICT (provider, event_id) DO
    NOTHING for all of them: each one's new row id, or None for a duplicate (of a stored event or of an earlier
    one in the list). On a connection in autocommit mode (the webhook view's) the statement is its own
    transaction: the events are durable when this returns, and the caller announces them (announce_events)."""
    now = utcnow()
    rows = [{"provider": provider, "event_id": event.event_id[:200], "type": event.type[:100],
             "reference": (event.reference or "")[:200] or None, "payload": event.payload, "status": "received",
             "attempts": 0, "received_at": now} for provider, event in events]
    dialect = connection.dialect.name
    as_sent = dialect == "postgresql" and all(event.body for _, event in events)
    if as_sent:  # the verified body itself: byte for byte what the gateway signed, and no re-encoding
        for row, (_, event) in zip(rows, events):
            row["payload"] = event.body
    statement = _inbox_insert(dialect, as_sent)
    # a duplicate delivery (even a concurrent one) inserts nothing and returns no row
    result = connection.execute(statement, rows if len(rows) > 1 else rows[0])
    inserted = {(provider, event_id): inbox_id for inbox_id, provider, event_id in result}
    return [inserted.pop((row["provider"], row["event_id"]), None) for row in rows]


_INBOX_INSERTS: dict = {}


def _inbox_insert(dialect: str, as_sent: bool = False):
    """INSERT ... ON CONFLICT (provider, event_id) DO NOTHING RETURNING id, provider, event_id, built once per
    dialect (the values are bound per call). as_sent: the payload is bound as the body's text and cast to JSON
    by PostgreSQL."""
    statement = _INBOX_INSERTS.get((dialect, as_sent))
    if statement is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        table = WebhookInbox.__table__
        statement = insert(table)
        if as_sent:
            statement = statement.values(payload=cast(bindparam("payload", type_=Text()), table.c.payload.type))
        statement = (statement.on_conflict_do_nothing(index_elements=["provider", "event_id"])
                     .returning(table.c.id, table.c.provider, table.c.event_id))
        _INBOX_INSERTS[dialect, as_sent] = statement
    return statement


# claiming ----------------------------------------------------------------------------------------------------------
def claim_event(inbox_id: int):
    """The inbox row's id, provider, event id, type and reference, the row locked for this transaction, unless it
    is done or another transaction holds it (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite has one writer at a time
    anyway). None then."""
    rows = claim_events([inbox_id])
    return rows[0] if rows else None


def claim_events(inbox_ids: list[int]) -> list:
    """claim_event for several rows at once (one statement): the rows not done and not held by another
    transaction, in id order, locked."""
    table = WebhookInbox.__table__
    return list(db.session.connection().execute(
        select(table.c.id, table.c.provider, table.c.event_id, table.c.type, table.c.reference)
        .where(table.c.id.in_(inbox_ids), table.c.status.not_in(INBOX_DONE))
        .order_by(table.c.id).with_for_update(skip_locked=True)))


def pending_events(after_id: int = 0, limit: int = 100, *, received_before=None) -> list[int]:
    """Ids of stored events not processed yet (never tried, or left behind by a lost wake-up or a killed
    worker), oldest first. Failed events are retried on their own schedule, not here."""
    query = select(WebhookInbox.id).where(WebhookInbox.status == "received", WebhookInbox.id > after_id)
    if received_before is not None:
        query = query.where(WebhookInbox.received_at < received_before)
    return list(db.session.scalars(query.order_by(WebhookInbox.id).limit(limit)))


def backlog() -> tuple[int, datetime | None]:
    """How many stored events are not processed yet (received, being processed, or failed and waiting for their
    retry), and when the oldest of them arrived (None: none waits). One query on the indexed status."""
    count, oldest = db.session.execute(select(func.count(WebhookInbox.id), func.min(WebhookInbox.received_at))
                                       .where(WebhookInbox.status.not_in(INBOX_DONE))).one()
    return int(count or 0), oldest


def mark_failed(inbox_id: int, error: Exception) -> int:
    """Record why processing failed and count the attempt (after the processing was rolled back): the attempts
    made so far."""
    return db.session.execute(
        update(WebhookInbox).where(WebhookInbox.id == inbox_id)
        .values(status="failed", error=f"{type(error).__name__}: {error}"[:500], attempts=WebhookInbox.attempts + 1)
        .returning(WebhookInbox.attempts).execution_options(synchronize_session=False)).scalar_one()


def reprocess_event(row: WebhookInbox, *, actor) -> None:
    """Finance has an event processed again (processing is idempotent), once this is committed."""
    row.status = "received"
    audit.record("webhooks.reprocess", actor=actor, target=row)
    enqueue_after_commit("payments.process_webhook", row.id)


# processing --------------------------------------------------------------------------------------------------------
_inbox = WebhookInbox.__table__
_FINISH = (update(_inbox).where(_inbox.c.id == bindparam("inbox_id"))
           .values(status=bindparam("status"), processed_at=bindparam("at"), error=bindparam("error"),
                   deposit_id=bindparam("deposit_id"), attempts=_inbox.c.attempts + 1))


def _finish(row, status: str, *, error: str | None = None, deposit_id: int | None = None) -> None:
    """Mark the row done and count the attempt (a Core UPDATE: pending timeline rows wait for the next flush)."""
    db.session.connection().execute(_FINISH, {"inbox_id": row.id, "status": status, "at": utcnow(), "error": error,
                                              "deposit_id": deposit_id})


def deposit_for_reference(provider: str, reference: str | None) -> Deposit | None:
    if not reference:
        return None
    return db.session.scalar(select(Deposit).where(
        Deposit.gateway == provider,
        (Deposit.gateway_reference == reference) | (Deposit.charge_reference == reference)).with_for_update())


def process_event(row) -> str:
    """Re-read the payment from the gateway and sync the deposit (idempotent: safe to run again). Marks the row
    done and counts the attempt; the caller's unit of work commits. A dispute event re-reads the dispute instead
    (app.payments.disputes)."""
    if disputes.is_dispute_event(row.provider, row.type):
        return _process_dispute_event(row)
    deposit = deposit_for_reference(row.provider, row.reference)
    if deposit is None:
        _finish(row, "ignored", error="no deposit for this reference")
        return "ignored"
    with timeline_batch():
        log(deposit, "webhook", {"provider": row.provider, "type": row.type, "event": row.event_id})
        payment = get_gateway(row.provider).fetch_payment(reference_of(deposit))
        # the row first: a credit's ledger entry, which locks shared accounts, is then the last write before commit
        _finish(row, "processed", deposit_id=deposit.id)
        sync(deposit, payment, source=f"webhook {row.type}", locked=True)
    return "processed"


def _process_dispute_event(row) -> str:
    if not row.reference:
        _finish(row, "ignored", error="the event names no dispute")
        return "ignored"
    with timeline_batch():
        dispute = disputes.sync_stripe_dispute(row.reference, event_type=row.type)
        _finish(row, "processed", deposit_id=dispute.deposit_id,
                error=None if dispute.deposit_id else "no deposit for this dispute: recorded for finance")
    return "processed"


def process_events(rows) -> list[str]:
    """process_event for several claimed rows (the drainer's batch) as one unit of work.
    The same steps, gathered: the deposits are locked by one statement, then the ledger accounts their credits
    touch by another (both in id order, so two batches cannot deadlock), the gateway is asked about all the
    payments at once, the rows are marked done by one statement, and the timeline rows and the investors'
    notices go out together. All or nothing: any error propagates, and the caller's unit rolls the whole batch
    back (the drainer then processes its events one by one). Returns processed | ignored for each row.
    Disputes are rare: a batch holding a dispute event is processed row by row, in the same unit of work."""
    if any(disputes.is_dispute_event(row.provider, row.type) for row in rows):
        return [process_event(row) for row in rows]
    deposits = _lock_deposits(rows)
    found = list({deposit.id: deposit for deposit in deposits.values()}.values())
    db.session.info[LOCKED_ACCOUNTS] = _lock_credit_accounts(found)
    try:
        deposit: Deposit | None  # a found one, then each row's (None for a row about no deposit)
        references: dict[str, list[str]] = {}
        for deposit in found:
            references.setdefault(deposit.gateway, []).append(reference_of(deposit))
        payments: dict[tuple[str, str], Payment] = {}
        for gateway, refs in references.items():
            for reference, payment in get_gateway(gateway).fetch_payments(refs).items():
                payments[gateway, reference] = payment
        todo = [(row, deposits.get((row.provider, row.reference)) if row.reference else None) for row in rows]
        now = utcnow()
        # the rows first: the credits' ledger writes are then the last before commit
        db.session.connection().execute(_FINISH, [
            {"inbox_id": row.id, "status": "processed" if deposit else "ignored", "at": now,
             "error": None if deposit else "no deposit for this reference",
             "deposit_id": deposit.id if deposit else None} for row, deposit in todo])
        with timeline_batch(), notices_batch():
            for row, deposit in todo:
                if deposit is None:
                    continue
                log(deposit, "webhook", {"provider": row.provider, "type": row.type, "event": row.event_id})
                sync(deposit, payments[deposit.gateway, reference_of(deposit)], source=f"webhook {row.type}",
                     locked=True)
    finally:
        db.session.info.pop(LOCKED_ACCOUNTS, None)
    return ["processed" if deposit else "ignored" for _, deposit in todo]


def _lock_deposits(rows) -> dict[tuple[str, str], Deposit]:
    """The deposits the rows are about, locked in id order: (provider, reference) -> deposit, by its checkout
    reference and by its charge reference (as deposit_for_reference matches them)."""
    wanted: dict[str, set[str]] = {}
    for row in rows:
        if row.reference:
            wanted.setdefault(row.provider, set()).add(row.reference)
    found: dict[tuple[str, str], Deposit] = {}
    for provider, provider_refs in wanted.items():
        refs = sorted(provider_refs)
        for deposit in db.session.scalars(select(Deposit).where(
                Deposit.gateway == provider,
                Deposit.gateway_reference.in_(refs) | Deposit.charge_reference.in_(refs))
                .order_by(Deposit.id).with_for_update()):
            for reference in (deposit.gateway_reference, deposit.charge_reference):
                if reference in refs:
                    found.setdefault((provider, reference), deposit)
    return found


def _lock_credit_accounts(deposits: list[Deposit]) -> dict[str, Account]:
    """The wallets, clearing accounts and fee revenue that crediting these deposits would post to, locked in id
    order (those that exist; the rest are created on first use): code -> account."""
    codes = set()
    for deposit in deposits:
        codes.add(ledger.account_code(USER_WALLET, user_id=deposit.user_id))
        codes.add(ledger.account_code(GATEWAY_CLEARING, ref=deposit.gateway))
        if deposit.fee:
            codes.add(ledger.account_code(FEE_REVENUE))
    if not codes:
        return {}
    return {account.code: account for account in db.session.scalars(
        select(Account).where(Account.code.in_(sorted(codes))).order_by(Account.id).with_for_update())}


# announcing --------------------------------------------------------------------------------------------------------
_redis_clients: dict[str, object] = {}
_wake_seen: dict[str, float] = {}  # wake-up key -> when this process last saw it set (time.monotonic)
_redis_lock = threading.Lock()


def tasks_eager() -> bool:
    return bool(current_app.extensions["celery"].conf.task_always_eager)


def _task(name: str):
    # the registry the tasks' own proxies resolve through (Celery's current app; app.tasks registers every module)
    return celery_current_app.tasks[name]


def wake_redis():
    """The broker's Redis when the broker is Redis (else None): the wake-up key lives beside the queue."""
    url = current_app.extensions["celery"].conf.broker_url or ""
    if tasks_eager() or not url.startswith(("redis://", "rediss://")):
        return None
    client = _redis_clients.get(url)
    if client is None:
        with _redis_lock:
            client = _redis_clients.setdefault(url, redis.Redis.from_url(url))
    return client


def wake_key() -> str:
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
        client = wake_redis()
        if client is None:
            for inbox_id in inbox_ids:
                _task("payments.process_webhook").apply_async((inbox_id,))
            return
        key = wake_key()
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
                _task("payments.drain_inbox").apply_async()
            except Exception:
                client.delete(key)  # let the next event try again
                raise
        _wake_seen[key] = asked  # the key existed from this moment (or one just after) until a drainer clears it
    except Exception:
        if tasks_eager():
            raise  # eager tasks (tests, development) surface their errors
        logger.warning("webhooks %s stored but their processing could not be queued; the sweep will pick them up",
                       inbox_ids, exc_info=True)
