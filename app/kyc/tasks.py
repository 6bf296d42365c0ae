from celery import shared_task

from app.core.db import unit_of_work
from app.kyc.services import flag_overdue


@shared_task(name="kyc.flag_overdue")
@unit_of_work
def flag_overdue_cases() -> int:
    return flag_overdue()
