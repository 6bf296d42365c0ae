"""The return distribution engine: pays the scheduled return periods that are due and funded, set-based, in batches.

engine.py is the run (funded periods, batches, the run record), funded.py which due periods the distributions
accounts cover (one SQL statement), batch.py what every batch does alike (its journal entries, posted through the
ledger), postgres.py and sqlite.py a batch on each database, reports.py what the console and the command line show
(the preview, the funding shortfalls). Callers use the names below.
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
