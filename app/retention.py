"""The nightly retention job: each domain deletes (or, for webhook bodies, empties) the rows it no longer needs,
each kind with one set-based statement, and the counts are logged and returned. Nothing the ledger or the audit
trail needs is touched: journal entries, postings, balances, audit records, deposits and payouts are never pruned.

It sits with the task modules (above every domain) because it calls the API layer's idempotency keys too."""
from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task

from app.account import retention as account_retention
from app.admin import export_jobs
from app.api import idempotency
from app.auth import retention as auth_retention
from app.core.db import unit_of_work, utcnow
from app.notifications import retention as notification_retention
from app.ops import retention as ops_retention
from app.payments import retention as payment_retention

logger = logging.getLogger(__name__)


def prune(now: datetime | None = None) -> dict[str, int]:
    """Run every domain's pruning at one `now`; one log line per kind with its count. Flushes, never commits."""
    now = now or utcnow()
    counts: dict[str, int] = {}
    for step in (account_retention.prune, auth_retention.prune, idempotency.prune, notification_retention.prune,
                 payment_retention.prune, ops_retention.prune, export_jobs.prune):
        counts.update(step(now))
    for kind, count in counts.items():
        logger.info("retention: %s pruned: %d", kind, count)
    return counts


@shared_task(name="ops.retention")
@unit_of_work
def retention() -> dict[str, int]:
    return prune()
