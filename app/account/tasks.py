"""The account's tasks: preparing a statement."""
from celery import shared_task

from app.account import statements


@shared_task(name="account.generate_statement", acks_late=True)
def generate_statement(statement_id: int) -> str:
    """Idempotent: a redelivered task writes the same files again under the same keys, or does nothing once ready."""
    return statements.generate(statement_id)
