"""Sending a staff message in the background: batch after batch, each its own unit of work, until no recipient is
left (app/support/messages.py send_batch). A retried task, or a second one at the same time, sends nobody twice:
each recipient is claimed by a conditional UPDATE with its notification."""
from __future__ import annotations

import logging

from celery import shared_task

from app.core.db import unit_of_work
from app.support import messages

log = logging.getLogger(__name__)


@shared_task(name=messages.TASK)
def send_staff_message(message_id: int) -> str:
    try:
        while True:
            with unit_of_work():
                claimed = messages.send_batch(message_id)
            if not claimed:
                break
        with unit_of_work():
            finished = messages.finish(message_id)
    except Exception as exc:
        log.exception("staff message %s stopped sending", message_id)
        with unit_of_work():
            messages.fail(message_id, f"{type(exc).__name__}: {exc}")
        return "failed"
    return "sent" if finished else "nothing to do"
