"""Payout tasks: remind finance of payouts that have waited too long."""
from celery import shared_task

from app.core.db import unit_of_work
from app.payouts.services import remind_finance


@shared_task(name="payouts.remind_finance")
@unit_of_work
def remind_finance_of_waiting_payouts() -> int:
    return remind_finance()
