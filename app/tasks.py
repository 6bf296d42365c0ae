"""Every Celery task module, imported so the worker registers them, and the beat schedule."""
from celery.schedules import crontab

from app.account import tasks as account_tasks  # noqa: F401
from app.admin import export_tasks  # noqa: F401
from app.auth import tasks as auth_tasks  # noqa: F401
from app.investing import reminder_tasks as installment_reminder_tasks  # noqa: F401
from app.investing import tasks as investing_tasks  # noqa: F401
from app.kyc import tasks as kyc_tasks  # noqa: F401
from app.ledger import tasks as ledger_tasks  # noqa: F401
from app.market import surveillance_tasks as market_surveillance_tasks  # noqa: F401
from app.market import tasks as market_tasks  # noqa: F401
from app.notifications import tasks as notification_tasks  # noqa: F401
from app.ops import tasks as ops_tasks  # noqa: F401
from app.payments import tasks as payment_tasks  # noqa: F401
from app.payouts import tasks as payout_tasks  # noqa: F401
from app.properties import tasks as property_tasks  # noqa: F401
from app.retention import retention  # noqa: F401
from app.support import message_tasks as staff_message_tasks  # noqa: F401

BEAT_SCHEDULE = {
    "ledger-verify-nightly": {"task": "ledger.verify", "schedule": crontab(hour=2, minute=30)},
    "notifications-requeue-stuck": {"task": "notifications.requeue_stuck", "schedule": 300.0},
    "kyc-flag-overdue": {"task": "kyc.flag_overdue", "schedule": crontab(minute=5)},
    "deposits-expire-abandoned": {"task": "payments.expire_abandoned", "schedule": crontab(minute=15)},
    "payments-reconcile-daily": {"task": "payments.reconcile", "schedule": crontab(hour=3, minute=10)},
    "payments-sweep-inbox": {"task": "payments.sweep_inbox", "schedule": 60.0},
    "payouts-remind-finance": {"task": "payouts.remind_finance", "schedule": crontab(hour="8-18", minute=0)},
    "installments-remind-daily": {"task": "investing.installment_reminders", "schedule": crontab(hour=7, minute=0)},
    "signin-failures-prune-daily": {"task": "auth.prune_signin_failures", "schedule": crontab(hour=4, minute=20)},
    "returns-distribute-daily": {"task": "investing.distribute_returns", "schedule": crontab(hour=1, minute=0)},
    "returns-notices-sweep": {"task": "investing.send_return_notices", "schedule": crontab(minute=25)},
    "retention-nightly": {"task": "ops.retention", "schedule": crontab(hour=4, minute=40)},
    "ops-watch": {"task": "ops.watch", "schedule": 60.0},
    "audit-verify-nightly": {"task": "ops.audit_verify", "schedule": crontab(hour=2, minute=50)},
    "market-expire": {"task": "market.expire", "schedule": 60.0},
}
