"""Alerts: a problem the platform found in its own running, told to every active admin and finance user once when it
appears and once when it is gone.

An alert is keyed by its problem (`beat_late:ledger-verify-nightly`, `webhook_inbox_stale`,
`failed_task:<task name>`, ...). At most one alert per key is open at a time (a unique index on the key of the open
rows), so two workers that see the same problem at the same moment open it once: the second one's insert fails
inside its savepoint and it finds the first one's row. `raise_alert` notifies only when it opens an alert;
`resolve_alert` notifies "resolved" only when it closes an open one. Services flush and never commit.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Index, String, Text, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import IdMixin, UTCDateTime, utcnow
from app.extensions import Model, db
from app.notifications.services import notify

log = logging.getLogger(__name__)

RAISED_EVENT = "ops.alert_raised"
RESOLVED_EVENT = "ops.alert_resolved"

# kinds of alert
RETURNS_RUN_FAILED = "returns_run_failed"
LEDGER_VERIFY = "ledger_verify"
AUDIT_VERIFY = "audit_verify"
RECONCILIATION = "reconciliation_mismatch"
WEBHOOK_INBOX_STALE = "webhook_inbox_stale"
FAILED_TASK = "failed_task"
RETURNS_UNFUNDED = "returns_unfunded"
BEAT_LATE = "beat_late"


@dataclass(frozen=True)
class Kind:
    title: str  # what is wrong, in a few words
    where: str  # where to look in the console
    action: str  # what to do


KINDS: dict[str, Kind] = {
    RETURNS_RUN_FAILED: Kind(
        "A returns run failed",
        "Returns → Return runs (the latest run shows its error)",
        "Read the run's error, fix its cause, then run returns again from the console or with "
        "`flask returns distribute`. Nothing was paid twice: a run is all or nothing per batch."),
    LEDGER_VERIFY: Kind(
        "The ledger check found a violation",
        "Ledger → Journal entries, and `flask ledger verify` on a server for the full list",
        "Stop manual money movements, find the entries named in the violations and correct them by reversal "
        "entries. The alert closes when the next ledger check is clean."),
    AUDIT_VERIFY: Kind(
        "The audit trail's hash chain is broken",
        "Security → Audit trail, and `flask audit verify` on a server",
        "A record was changed, removed or inserted outside the application. Keep a copy of the database, find "
        "out who had write access, and treat it as a security incident."),
    RECONCILIATION: Kind(
        "Reconciliation found differences between a gateway and the ledger",
        "Money → Reconciliation (the open items)",
        "Check each open item against the gateway's dashboard and resolve it (credit, refund or explain). The "
        "alert closes when no item is open any more."),
    WEBHOOK_INBOX_STALE: Kind(
        "Gateway events wait unprocessed in the webhook inbox",
        "Money → Webhook inbox (status received, processing or failed)",
        "Check that the Celery workers run and read the failed events' errors; reprocess them once the cause is "
        "fixed. Deposits wait until their events are processed."),
    FAILED_TASK: Kind(
        "A background task failed for good",
        "Operations → Jobs (its failed tasks)",
        "Read the task's error. Retry it once the cause is fixed, or discard it if it is no longer needed."),
    RETURNS_UNFUNDED: Kind(
        "Due returns wait because a property's distributions are not funded",
        "Returns → Distribution shortfalls, then Returns → Distribution funding",
        "Ask the operator to send the money, then record the funding (a second finance user approves it). The "
        "next returns run pays what waits."),
    BEAT_LATE: Kind(
        "A scheduled job did not run when it should have",
        "Operations → Jobs (the job's last run and error) and Operations → Alerts",
        "Check that the Celery beat process runs (only one) and that the workers take its tasks; look at the "
        "job's last error. The alert closes when the job runs again."),
}


class Alert(IdMixin, Model):
    """A problem seen by the checks: open (resolved_at empty) while it lasts, then resolved."""

    __tablename__ = "alerts"
    __table_args__ = (
        # at most one open alert per problem: two workers seeing it at once open it once
        Index("uq_alerts_open_key", "key", unique=True, postgresql_where=text("resolved_at IS NULL"),
              sqlite_where=text("resolved_at IS NULL")),
    )

    key: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    summary: Mapped[str] = mapped_column(String(300), nullable=False)
    details: Mapped[str] = mapped_column(Text, nullable=False, default="")
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow, index=True)
    since: Mapped[datetime | None] = mapped_column(UTCDateTime())  # when the problem started, when known
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def title(self) -> str:
        return KINDS[self.kind].title if self.kind in KINDS else self.kind

    def __repr__(self) -> str:
        return f"<Alert {self.key} {'open' if self.is_open else 'resolved'}>"


def open_alert(key: str) -> Alert | None:
    return db.session.scalar(select(Alert).where(Alert.key == key, Alert.resolved_at.is_(None)))


def open_alerts(kind: str | None = None) -> list[Alert]:
    query = select(Alert).where(Alert.resolved_at.is_(None))
    if kind is not None:
        query = query.where(Alert.kind == kind)
    return list(db.session.scalars(query.order_by(Alert.raised_at, Alert.id)))


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else ""


def _context(alert: Alert) -> dict:
    kind = KINDS.get(alert.kind, Kind(alert.kind, "Operations → Alerts", "Look at the alert's details."))
    return {"key": alert.key, "kind": alert.kind, "title": kind.title, "summary": alert.summary,
            "details": alert.details, "since": _when(alert.since or alert.raised_at),
            "raised_at": _when(alert.raised_at), "resolved_at": _when(alert.resolved_at), "where": kind.where,
            "action": kind.action}


def raise_alert(key: str, kind: str, summary: str, details: str = "", *, since: datetime | None = None,
                now: datetime | None = None) -> tuple[Alert, bool]:
    """Open the alert of `key` unless one is open already (then note it was seen again). Returns the alert and
    whether it was opened now; only then are admins and finance told."""
    if kind not in KINDS:
        raise ValueError(f"unknown alert kind {kind!r}")
    now = now or utcnow()
    summary = summary[:300]
    existing = open_alert(key)
    if existing is None:
        alert = Alert(key=key, kind=kind, summary=summary, details=details, raised_at=now, since=since,
                      last_seen_at=now)
        try:
            with db.session.begin_nested():  # another worker opening the same alert at the same moment wins
                db.session.add(alert)
        except IntegrityError:
            existing = open_alert(key)
            if existing is None:
                raise
        else:
            log.warning("alert raised: %s: %s", key, summary)
            notify(None, RAISED_EVENT, **_context(alert))
            return alert, True
    db.session.execute(update(Alert).where(Alert.id == existing.id)
                       .values(last_seen_at=now, summary=summary, details=details)
                       .execution_options(synchronize_session="fetch"))
    return existing, False


def resolve_alert(key: str, *, now: datetime | None = None) -> Alert | None:
    """Close the open alert of `key`, if any, and tell admins and finance it is resolved. Returns the alert closed
    now, or None when none was open (or another worker closed it first)."""
    alert = open_alert(key)
    if alert is None:
        return None
    now = now or utcnow()
    closed = cast("CursorResult[Any]", db.session.execute(
        update(Alert).where(Alert.id == alert.id, Alert.resolved_at.is_(None))
        .values(resolved_at=now).execution_options(synchronize_session=False))).rowcount
    if not closed:
        return None
    db.session.refresh(alert)
    log.warning("alert resolved: %s", key)
    notify(None, RESOLVED_EVENT, **_context(alert))
    return alert
