"""Scheduled proof of the ledger: a violation is logged as an error for the on-call to see."""
import logging
from typing import Any

from celery import shared_task

from app.core.db import discard
from app.core.metrics import record_ledger_verify
from app.ledger.checks import verify

log = logging.getLogger(__name__)


@shared_task(name="ledger.verify")  # type: ignore[untyped-decorator]  # Celery ships no type hints
def verify_ledger() -> dict[str, Any]:
    report = verify()
    discard()  # the proof only reads: its transaction ends here
    record_ledger_verify(len(report.violations))
    if report.ok:
        log.info("ledger ok: %s entries, %s accounts", report.entries, report.accounts)
    else:
        for violation in report.violations:
            log.error("ledger violation: %s", violation)
    return {"ok": report.ok, "entries": report.entries, "accounts": report.accounts,
            "violations": report.violations}
