"""Operations tasks: the every-minute watch (the alert checks) and the nightly proof of the audit trail's chain."""
from __future__ import annotations

import logging

from celery import shared_task

from app.core import audit
from app.core.db import discard, unit_of_work
from app.ops import checks

log = logging.getLogger(__name__)


@shared_task(name="ops.watch")
def watch() -> dict[str, str]:
    """Run every alert check (each in its own unit of work): beat's copy of what every worker also runs on its own
    timer (app/ops/worker.py), so either one keeps watching when the other is down."""
    return checks.run_checks()


@shared_task(name="ops.audit_verify")
def audit_verify() -> dict:
    """Recompute the audit trail's hash chain; a broken record opens an alert, a clean run resolves it."""
    checked, broken, problem = audit.verify_chain()
    broken_id = broken.id if broken is not None else None
    discard()  # the proof only read: its transaction ends here
    if broken_id is None:
        log.info("audit ok: %s records", checked)
    else:
        log.error("audit chain broken at record #%s: %s", broken_id, problem)
    with unit_of_work():
        checks.record_audit_verify(checked, broken_id, problem)
    return {"ok": broken_id is None, "checked": checked, "broken_id": broken_id, "problem": problem}
