"""Payout tasks: remind finance of payouts that have waited too long."""
from celery import shared_task

from app.extensions import db
from app.payouts.services import remind_finance


@shared_task(name="payouts.remind_finance")
def remind_finance_of_waiting_payouts() -> int:
    count = remind_finance()
    db.session.commit()
    return count
