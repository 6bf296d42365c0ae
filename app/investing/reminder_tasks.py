"""The daily installment reminders (beat): before and after each due date, once each, in committed batches."""
from __future__ import annotations

from datetime import date

from celery import shared_task

from app.core.db import unit_of_work
from app.investing import reminders


def run_reminders(today: date | None = None, *, batch: int = reminders.BATCH) -> dict[str, int]:
    """Remind every installment that is due: each batch is claimed and committed on its own, so a crash halfway
    keeps what was sent and the next run carries on."""
    sent = {}
    for kind in (reminders.BEFORE, reminders.AFTER):
        total = 0
        while True:
            with unit_of_work():
                count = reminders.remind(kind, today, limit=batch)
            total += count
            if count < batch:
                break
        sent[kind] = total
    return sent


@shared_task(name="investing.installment_reminders")
def installment_reminders(as_of: str | None = None) -> dict[str, int]:
    return run_reminders(date.fromisoformat(as_of) if as_of else None)
