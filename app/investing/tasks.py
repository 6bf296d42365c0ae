"""Investing jobs: the daily return distribution and the notices of what it paid."""
from __future__ import annotations

import logging
from datetime import date

from celery import shared_task

from app.core.db import discard, enqueue_after_commit, unit_of_work
from app.investing import declared, return_notices, returns

log = logging.getLogger(__name__)


@shared_task(name="investing.distribute_returns")
def distribute_returns(as_of: str | None = None, trigger: str = "beat", actor_id: int | None = None) -> dict:
    """Pay every return period due by `as_of` (ISO date, default today) and unpaid. Idempotent: a retried or
    duplicated task pays nothing twice (a killed worker's task is delivered again and pays what is left)."""
    run = returns.distribute(date.fromisoformat(as_of) if as_of else None, trigger=trigger, actor_id=actor_id)
    line = returns.summary(run)
    (log.info if run.status == "succeeded" else log.error)(line)
    paid = pay_declared_waiting()
    return {"run_id": run.id, "status": run.status, "payments": run.payments, "total": run.total,
            "capital": run.capital, "duration_ms": run.duration_ms, "error": run.error, "declared_paid": paid}


def pay_declared_waiting() -> int:
    """After a run: pay the declared distributions that waited for funding and are now covered (their own unit of
    work; idempotent). A failure is logged and left for the next run. Returns how many were paid."""
    try:
        discard()
        with unit_of_work():
            paid = declared.pay_waiting()
    except Exception:
        discard()
        log.exception("paying the declared distributions waiting for funding failed")
        return 0
    if paid:
        log.info("%s declared distribution(s) waiting for funding paid", len(paid))
    return len(paid)


@shared_task(name="investing.send_return_notices")
def send_return_notices() -> int:
    """Queue the sending of the return notices not yet sent (of runs that are over), CHUNK investors a task.
    Queued by every run once it is over, and swept by beat (a run whose process died). Returns how many."""
    discard()
    with unit_of_work():
        ids = return_notices.unsent_ids()
        for part in return_notices.chunks(ids):
            enqueue_after_commit(send_return_notice_chunk, part)
    return len(ids)


@shared_task(name="investing.send_return_notice_chunk")
def send_return_notice_chunk(ids: list[int]) -> int:
    """Send the notices `ids` that no one has claimed yet: a retried or duplicated task sends nothing twice."""
    discard()
    with unit_of_work():
        return return_notices.send(ids)
