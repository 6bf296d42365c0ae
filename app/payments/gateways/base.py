"""The interface every payment gateway implements."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime

PAID, UNPAID, FAILED, EXPIRED, REFUNDED = "paid", "unpaid", "failed", "expired", "refunded"


@dataclass(frozen=True)
class Checkout:
    """Where the investor goes to pay: a gateway reference, and a redirect URL or instructions."""

    reference: str  # the gateway's id for this payment (Stripe: checkout session id; Razorpay: order id)
    redirect_url: str | None = None
    instructions: str | None = None
    data: dict = field(default_factory=dict)  # extra for the client (Razorpay: key id, order id for its widget)


@dataclass(frozen=True)
class Payment:
    """What the gateway says about a payment when asked (never what a browser or a webhook body claims)."""

    reference: str
    status: str  # paid | unpaid | failed | expired | refunded
    amount: int  # minor units actually paid (or to be paid)
    currency: str  # ISO 4217, upper case
    deposit_id: int | None  # from the metadata we attached when creating it
    charge_reference: str | None = None  # Stripe payment intent / Razorpay payment id, needed for refunds
    refunded_amount: int = 0
    created_at: datetime | None = None
    raw: dict = field(default_factory=dict)


@dataclass(frozen=True)
class GatewayDispute:
    """What the gateway says about a dispute (chargeback) of a payment when asked."""

    external_id: str  # the gateway's dispute id
    status: str  # the gateway's own status (Stripe: needs_response, under_review, won, lost, warning_closed ...)
    amount: int  # minor units disputed
    currency: str  # ISO 4217, upper case
    charge_reference: str | None  # the payment it disputes, as Deposit.charge_reference holds it
    reason: str = ""
    evidence_due_at: datetime | None = None
    raw: dict = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookEvent:
    event_id: str
    type: str
    reference: str | None  # the payment reference the event is about, when it says
    payload: dict
    body: str | None = None  # the verified body as the gateway sent it (stored as is where the database can)


class WebhookRejected(Exception):
    """Bad signature, stale or future timestamp, unparsable body: answer 400 and store nothing."""


class GatewayError(Exception):
    # what the provider answered, when the gateway knows it (Stripe's errors carry it)
    http_status: int | None = None
    code: str | None = None
    request_id: str | None = None

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class Gateway(ABC):
    name: str = ""
    label: str = ""
    automatic: bool = True  # False for manual gateways (bank transfer): finance confirms

    @abstractmethod
    def enabled(self) -> bool:
        """Configured (secrets in the environment)."""

    @abstractmethod
    def create_payment(self, *, deposit_id: int, amount: int, currency: str, customer_email: str,
                       success_url: str, cancel_url: str, idempotency_key: str) -> Checkout:
        """Open a payment for amount (minor units, fee included) with the deposit id in its metadata."""

    @abstractmethod
    def fetch_payment(self, reference: str) -> Payment:
        """Ask the gateway for the truth about a payment."""

    def fetch_payments(self, references: list[str]) -> dict[str, Payment]:
        """fetch_payment for several references (the webhook drainer's batch): reference -> Payment. Raises the
        first GatewayError met. Gateways that can ask side by side override this."""
        return {reference: self.fetch_payment(reference) for reference in references}

    @abstractmethod
    def refund(self, payment: Payment, amount: int, *, idempotency_key: str) -> str:
        """Refund amount (minor units) of a paid payment; returns the gateway's refund id."""

    @abstractmethod
    def parse_webhook(self, body: bytes, headers) -> WebhookEvent:
        """Verify the signature on the raw body and parse it; raise WebhookRejected otherwise."""

    @abstractmethod
    def list_paid(self, since: datetime) -> list[Payment]:
        """Payments completed since `since`, for reconciliation."""

    def fetch_dispute(self, external_id: str) -> GatewayDispute:
        """Ask the gateway for the truth about a dispute (gateways whose disputes arrive as events override it)."""
        raise GatewayError(f"{self.name} does not report disputes this way", retryable=False)
