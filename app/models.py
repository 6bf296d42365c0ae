"""Import every model so Alembic and the app see the whole schema."""
from app.account.models import ClosureRequest, DataExport  # noqa: F401
from app.account.statement_models import Statement  # noqa: F401
from app.account.view_as_models import ViewAsPage, ViewAsSession  # noqa: F401
from app.admin.export_jobs import ExportJob  # noqa: F401
from app.api.idempotency import IdempotencyKey  # noqa: F401
from app.auth.models import (  # noqa: F401
    ApiToken,
    EmailChange,
    LoginAttempt,
    RecoveryCode,
    Role,
    SocialIdentity,
    StaffActionRequest,
    User,
    UserSession,
)
from app.core.audit import AuditRecord  # noqa: F401
from app.finance.adjustment_models import BalanceAdjustment  # noqa: F401
from app.finance.bank_models import BankStatement, CsvMapping, StatementLine  # noqa: F401
from app.investing.models import (  # noqa: F401
    DeclaredDistribution,
    DistributionRun,
    DistributionShare,
    Installment,
    Investment,
    ReturnPayment,
    ScheduledReturn,
)
from app.kyc.models import (  # noqa: F401
    KycDocument,
    KycField,
    KycForm,
    KycSubmission,
    KycValue,
    NameChangeRequest,
    ReasonCode,
)
from app.ledger.models import Account, Hold, JournalEntry, Posting  # noqa: F401
from app.ledger.period_models import ClosedThrough, PeriodClose, PeriodReopen, TrialBalanceLine  # noqa: F401
from app.market.models import Listing, Offer, SurveillanceFlag, Trade, TradingHalt  # noqa: F401
from app.notifications.models import (  # noqa: F401
    Delivery,
    Notification,
    NotificationPreference,
    NotificationTemplate,
    PhoneVerification,
    PushDevice,
)
from app.ops.alerts import Alert  # noqa: F401
from app.ops.models import BeatJob, FailedTask  # noqa: F401
from app.payments.models import (  # noqa: F401
    Deposit,
    DepositEvent,
    Dispute,
    DisputeNote,
    GatewaySetting,
    Receivable,
    ReconciliationItem,
    WebhookInbox,
)
from app.payouts.models import Payout, PayoutBatch, PayoutEvent, PayoutMethod  # noqa: F401
from app.properties.models import (  # noqa: F401
    Amenity,
    DocumentDownload,
    Property,
    PropertyApproval,
    PropertyDocument,
    PropertyFaq,
    PropertyFollower,
    PropertyPhoto,
)
from app.settings.models import MoneySetting, SettingChange  # noqa: F401
from app.support.message_models import StaffMessage, StaffMessageRecipient  # noqa: F401
from app.support.models import Ticket, TicketAttachment, TicketMessage  # noqa: F401
