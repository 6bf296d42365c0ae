"""The console's background list export, as a Celery task (registered by app/tasks.py)."""
from __future__ import annotations

from celery import shared_task

from app.admin import export_runner
from app.admin.export_jobs import RUN_TASK


@shared_task(name=RUN_TASK, acks_late=True)
def run_export(job_id: int) -> str:
    """Idempotent: a done or failed job is left as it is; a job found running is written again, over its own file."""
    return export_runner.run(job_id)
