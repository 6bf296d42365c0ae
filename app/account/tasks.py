"""The account layer's task: preparing a "Download my data" archive (queued after the request commits)."""
from __future__ import annotations

from celery import shared_task

from app.account import data_export


@shared_task(name=data_export.BUILD_TASK, acks_late=True)
def build_export(export_id: int) -> str:
    """Idempotent: only a queued export is claimed; a redelivered task finds it running or done."""
    return data_export.build(export_id)
