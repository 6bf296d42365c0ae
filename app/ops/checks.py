"""The checks behind the alerts. Each check looks at the state of one part of the platform and names the problems it
sees now; `run_checks` opens an alert for each problem (once) and resolves the open alerts of that check that it no
longer sees. Every check is cheap when nothing is wrong (a few indexed queries), so workers run them every minute.

The two verifications (ledger, audit chain) are too heavy for a minute: their outcome is recorded when they run
(`record_ledger_verify`, `record_audit_verify`, fed by the nightly tasks and by `flask ledger verify` /
`flask audit verify`), and the alert keeps it until the next clean run.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from app.core import metrics
from app.core.db import unit_of_work, utcnow
from app.core.money import Money
from app.extensions import db
from app.investing import returns
from app.investing.models import APPROVED, FAILED, RUNNING, DeclaredDistribution, DistributionRun
from app.ops import alerts
from app.ops.models import OPEN, FailedTask
from app.ops.schedule import overdue_jobs
from app.payments.inbox import INBOX_DONE
from app.payments.models import ReconciliationItem, WebhookInbox
from app.properties.models import Property

log = logging.getLogger(__name__)

WEBHOOK_STALE_AFTER = timedelta(minutes=10)
UNFUNDED_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Problem:
    key: str
    kind: str
    summary: str
    details: str = ""
    since: datetime | None = None


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "unknown"


# 1. returns run ------------------------------------------------------------------------------------------------------
def returns_run(now: datetime) -> list[Problem]:
    """The latest finished returns run failed (a run still going is not judged)."""
    run = db.session.scalar(select(DistributionRun).where(DistributionRun.status != RUNNING)
                            .order_by(DistributionRun.started_at.desc(), DistributionRun.id.desc()).limit(1))
    if run is None or run.status != FAILED:
        return []
    return [Problem("returns_run_failed", alerts.RETURNS_RUN_FAILED,
                    f"The returns run #{run.id} (as of {run.as_of}, started by {run.trigger}) failed",
                    f"Error: {run.error or 'none recorded'}", since=run.finished_at or run.started_at)]


# 3. reconciliation ---------------------------------------------------------------------------------------------------
def reconciliation(now: datetime) -> list[Problem]:
    """Reconciliation items nobody has resolved yet."""
    count, oldest = db.session.execute(select(func.count(ReconciliationItem.id), func.min(ReconciliationItem.detected_at))
                                       .where(ReconciliationItem.resolved_at.is_(None))).one()
    if not count:
        return []
    kinds = db.session.execute(select(ReconciliationItem.provider, ReconciliationItem.kind,
                                      func.count(ReconciliationItem.id))
                               .where(ReconciliationItem.resolved_at.is_(None))
                               .group_by(ReconciliationItem.provider, ReconciliationItem.kind)
                               .order_by(ReconciliationItem.provider, ReconciliationItem.kind)).all()
    details = "; ".join(f"{provider}: {n} {kind.replace('_', ' ')}" for provider, kind, n in kinds)
    return [Problem("reconciliation_mismatch", alerts.RECONCILIATION,
                    f"{count} reconciliation difference(s) wait to be resolved", details, since=oldest)]


# 4. webhook inbox ----------------------------------------------------------------------------------------------------
def webhook_inbox(now: datetime) -> list[Problem]:
    """Gateway events stored more than WEBHOOK_STALE_AFTER ago and still not processed."""
    count, oldest = db.session.execute(select(func.count(WebhookInbox.id), func.min(WebhookInbox.received_at))
                                       .where(WebhookInbox.status.not_in(INBOX_DONE),
                                              WebhookInbox.received_at < now - WEBHOOK_STALE_AFTER)).one()
    if not count:
        return []
    return [Problem("webhook_inbox_stale", alerts.WEBHOOK_INBOX_STALE,
                    f"{count} gateway event(s) received more than {int(WEBHOOK_STALE_AFTER.total_seconds() // 60)} "
                    f"minutes ago are not processed", f"The oldest was received at {_when(oldest)}.", since=oldest)]


# 5. failed tasks -----------------------------------------------------------------------------------------------------
def failed_tasks(now: datetime) -> list[Problem]:
    """Tasks that failed for good and were neither retried nor discarded, one problem per task name."""
    rows = db.session.execute(select(FailedTask.task_name, func.count(FailedTask.id), func.min(FailedTask.first_failed_at),
                                     func.max(FailedTask.last_failed_at))
                              .where(FailedTask.status == OPEN).group_by(FailedTask.task_name)
                              .order_by(FailedTask.task_name)).all()
    out = []
    for name, count, first, last in rows:
        latest = db.session.scalar(select(FailedTask.exception).where(FailedTask.status == OPEN,
                                                                      FailedTask.task_name == name)
                                   .order_by(FailedTask.last_failed_at.desc(), FailedTask.id.desc()).limit(1))
        out.append(Problem(f"failed_task:{name}", alerts.FAILED_TASK,
                           f"The task {name} failed for good ({count} run(s) wait for Retry or Discard)",
                           f"Latest failure at {_when(last)}: {(latest or '')[:500]}", since=first))
    return out


# 6. unfunded returns -------------------------------------------------------------------------------------------------
def unfunded_returns(now: datetime) -> list[Problem]:
    """Per property: return periods due for more than UNFUNDED_AFTER, or declared distributions asked to be paid
    that long ago, that wait because the property's distributions account does not cover them."""
    cutoff = now - UNFUNDED_AFTER
    found: dict[int, list[str]] = {}
    since: dict[int, datetime] = {}
    titles: dict[int, str] = {}
    # periods due yesterday or earlier only: those due today are not a day late, and a quarter's periods due today
    # (possibly many, until the night's run pays them) are not read every minute
    for s in returns.shortfalls((now - UNFUNDED_AFTER).date()):
        oldest = datetime.combine(s.oldest_due, datetime.min.time(), tzinfo=now.tzinfo)
        if oldest > cutoff:
            continue
        titles[s.property_id] = s.title
        found.setdefault(s.property_id, []).append(
            f"{s.periods} return period(s) due since {s.oldest_due} wait; "
            f"{Money(s.to_fund, s.currency).display()} to fund")
        since[s.property_id] = oldest
    declared = db.session.execute(
        select(DeclaredDistribution.property_id, func.count(DeclaredDistribution.id),
               func.min(DeclaredDistribution.payment_requested_at), func.sum(DeclaredDistribution.amount),
               func.min(DeclaredDistribution.currency))
        .where(DeclaredDistribution.status == APPROVED, DeclaredDistribution.payment_requested_at.is_not(None),
               DeclaredDistribution.payment_requested_at < cutoff)
        .group_by(DeclaredDistribution.property_id)).all()
    for property_id, count, asked, amount, currency in declared:
        found.setdefault(property_id, []).append(
            f"{count} declared distribution(s) of {Money(int(amount), currency).display()} asked to be paid since "
            f"{_when(asked)} wait")
        first: datetime = asked or cutoff
        since[property_id] = min(since.get(property_id, first), first)
    missing = [pid for pid in found if pid not in titles]
    if missing:
        titles.update(db.session.execute(select(Property.id, Property.title).where(Property.id.in_(missing))).tuples())
    return [Problem(f"returns_unfunded:{pid}", alerts.RETURNS_UNFUNDED,
                    f"Returns of {titles.get(pid, f'property #{pid}')} wait for funding for more than a day",
                    "; ".join(lines), since=since[pid])
            for pid, lines in sorted(found.items())]


# 7. beat jobs --------------------------------------------------------------------------------------------------------
def beat_jobs(now: datetime) -> list[Problem]:
    """Scheduled jobs that did not start when they should have."""
    return [Problem(f"beat_late:{job.name}", alerts.BEAT_LATE,
                    f"The scheduled job {job.name} ({job.task}) did not start at {_when(job.due_at)}",
                    f"It last started at {_when(job.last_started_at)}.", since=job.due_at)
            for job in overdue_jobs(now)]


@dataclass(frozen=True)
class Check:
    name: str
    kinds: tuple[str, ...]  # the alert kinds it owns: their open alerts it no longer sees are resolved
    find: Callable[[datetime], list[Problem]]


CHECKS: tuple[Check, ...] = (
    Check("returns_run", (alerts.RETURNS_RUN_FAILED,), returns_run),
    Check("reconciliation", (alerts.RECONCILIATION,), reconciliation),
    Check("webhook_inbox", (alerts.WEBHOOK_INBOX_STALE,), webhook_inbox),
    Check("failed_tasks", (alerts.FAILED_TASK,), failed_tasks),
    Check("unfunded_returns", (alerts.RETURNS_UNFUNDED,), unfunded_returns),
    Check("beat_jobs", (alerts.BEAT_LATE,), beat_jobs),
)
CHECK_BY_NAME = {check.name: check for check in CHECKS}


def apply(problems: Iterable[Problem], kinds: Iterable[str], now: datetime) -> tuple[int, int]:
    """Open an alert for each problem and resolve the open alerts of `kinds` not among them: (opened, resolved)."""
    seen = set()
    opened = resolved = 0
    for p in problems:
        seen.add(p.key)
        _, new = alerts.raise_alert(p.key, p.kind, p.summary, p.details, since=p.since, now=now)
        opened += new
    for kind in kinds:
        for alert in alerts.open_alerts(kind):
            if alert.key not in seen and alerts.resolve_alert(alert.key, now=now) is not None:
                resolved += 1
    return opened, resolved


def run_check(check: Check, now: datetime | None = None) -> tuple[int, int]:
    """One check, in a unit of work of its own."""
    now = now or utcnow()
    with unit_of_work():
        return apply(check.find(now), check.kinds, now)


def run_checks(now: datetime | None = None) -> dict[str, str]:
    """Every check, each in its own unit of work: one that fails is logged and the others still run. Returns what
    each did."""
    outcome = {}
    for check in CHECKS:
        try:
            opened, resolved = run_check(check, now)
        except Exception as exc:  # one broken check must not stop the others, nor the worker running them
            log.exception("ops check %s failed", check.name)
            outcome[check.name] = f"error: {type(exc).__name__}"
        else:
            outcome[check.name] = f"{opened} raised, {resolved} resolved"
    return outcome


# the verifications ---------------------------------------------------------------------------------------------------
def record_ledger_verify(ok: bool, violations: list[str] | None = None, *, entries: int = 0, accounts: int = 0,
                         now: datetime | None = None) -> None:
    """The outcome of a ledger check (the nightly task or the command): a violation opens the alert, a clean run
    resolves it."""
    now = now or utcnow()
    if ok:
        alerts.resolve_alert("ledger_verify", now=now)
        return
    violations = list(violations or [])
    shown = "\n".join(violations[:20]) + (f"\n... and {len(violations) - 20} more" if len(violations) > 20 else "")
    alerts.raise_alert("ledger_verify", alerts.LEDGER_VERIFY,
                       f"The ledger check found {len(violations)} violation(s) in {entries} entries, "
                       f"{accounts} accounts", shown, since=now, now=now)


def record_audit_verify(checked: int, broken_id: int | None, problem: str | None, *,
                        now: datetime | None = None) -> None:
    """The outcome of an audit chain verification: a broken record opens the alert, a clean run resolves it."""
    now = now or utcnow()
    metrics.record_audit_verify(broken_id is None)
    if broken_id is None:
        alerts.resolve_alert("audit_verify", now=now)
        return
    alerts.raise_alert("audit_verify", alerts.AUDIT_VERIFY,
                       f"The audit chain is broken at record #{broken_id}",
                       f"{problem or 'the record does not verify'} ({checked} records checked)", since=now, now=now)
