"""The former home of the return distribution engine, kept so that `from app.investing import distribution` goes on
working: the engine is the package app.investing.returns."""
from app.investing.returns import (  # noqa: F401 - re-exported
    BATCH_SIZE,
    ENTRY_SIZE,
    RUN_LOCK_KEY,
    TRIGGERS,
    PreviewLine,
    Shortfall,
    distribute,
    due_ids,
    preview,
    recent_runs,
    shortfalls,
    summary,
    today,
)
