"""The account layer's tasks: preparing a "Download my data" archive and a statement (each queued after the
request commits)."""
from __future__ import annotations

from celery import shared_task

from app.account import data_export, statements


@shared_task(name=data_export.BUILD_TASK, acks_late=True)
def build_export(export_id: int) -> str:
    """Idempotent: only a queued export is claimed; a redelivered task finds it running or done."""
    return data_export.build(export_id)


@shared_task(name="account.generate_statement", acks_late=True)
def generate_statement(statement_id: int) -> str:
    """Idempotent: a redelivered task writes the same files again under the same keys, or does nothing once ready."""
    return statements.generate(statement_id)
