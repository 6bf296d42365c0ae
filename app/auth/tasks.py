"""Jobs of the accounts domain."""
from celery import shared_task

from app.auth.lockout import prune
from app.core.db import unit_of_work


@shared_task(name="auth.prune_signin_failures")
@unit_of_work
def prune_signin_failures() -> int:
    return prune()
