from celery import shared_task

from app.extensions import db
from app.kyc.services import flag_overdue


@shared_task(name="kyc.flag_overdue")
def flag_overdue_cases() -> int:
    flagged = flag_overdue()
    db.session.commit()
    return flagged
