"""The return distribution engine: pays every scheduled return period that is due, set-based, in batches.

engine.py is the run (due periods, batches, the run record), batch.py what every batch does alike (its journal
entries, posted through the ledger), postgres.py and sqlite.py a batch on each database, reports.py what the
console and the command line show. Callers use the names below.
"""
from app.investing.returns.batch import ENTRY_KIND, PaidElsewhere
from app.investing.returns.engine import (
    BATCH_SIZE,
    ENTRY_SIZE,
    STALE_AFTER,
    TRIGGERS,
    dialect,
    distribute,
    due_ids,
    today,
)
from app.investing.returns.postgres import RUN_LOCK_KEY
from app.investing.returns.reports import PreviewLine, Shortfall, preview, recent_runs, shortfalls, summary

__all__ = [
    "BATCH_SIZE", "ENTRY_KIND", "ENTRY_SIZE", "RUN_LOCK_KEY", "STALE_AFTER", "TRIGGERS", "PaidElsewhere",
    "PreviewLine", "Shortfall", "dialect", "distribute", "due_ids", "preview", "recent_runs", "shortfalls", "summary",
    "today",
]
