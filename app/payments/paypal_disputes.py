"""PayPal disputes: a `CUSTOMER.DISPUTE.*` event (created, updated, resolved) is processed by reading the dispute
again from PayPal (GET /v1/customer/disputes/{id}) and bringing the dispute record in step with it once, through
app.payments.disputes (open: the disputed money held from the wallet as far as it goes, the rest a receivable;
won: released; lost: settled to PayPal's clearing account).

A dispute is resolved when PayPal says RESOLVED with an outcome: the seller's favour (or the buyer cancelling, or
PayPal denying the claim) is won; the buyer's favour (or the claim accepted) is lost. Any other outcome keeps the
dispute open and flags it for finance. A chargeback's reversal of the capture is the dispute's, not a refund (the
gateway reports it so; see PayPalGateway.fetch_payment). Services flush and never commit."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.ledger import services as ledger
from app.payments import timeline
from app.payments.disputes import close_dispute, open_dispute
from app.payments.gateways.registry import get_gateway
from app.payments.models import DISPUTE_LOST, DISPUTE_WON, Deposit, Dispute

OUTCOMES = {"RESOLVED_SELLER_FAVOUR": DISPUTE_WON, "CANCELED_BY_BUYER": DISPUTE_WON, "DENIED": DISPUTE_WON,
            "RESOLVED_BUYER_FAVOUR": DISPUTE_LOST, "ACCEPTED": DISPUTE_LOST}


def sync_paypal_dispute(external_id: str, *, event_type: str) -> Dispute:
    found = get_gateway("paypal").fetch_dispute(external_id)
    deposit = None
    if found.charge_reference:
        deposit = db.session.scalar(select(Deposit).where(
            Deposit.gateway == "paypal", Deposit.charge_reference == found.charge_reference).with_for_update())
    if deposit is not None:
        timeline.log(deposit, "dispute_event", {"type": event_type, "dispute": external_id, "status": found.status})
    currency = found.currency or ledger.platform_currency()
    resolved = found.raw.get("status") == "RESOLVED"
    outcome = OUTCOMES.get(found.status) if resolved else None
    if outcome is None:
        dispute = open_dispute(provider="paypal", external_id=found.external_id, deposit=deposit,
                               amount=found.amount, currency=currency, reason=found.reason,
                               provider_status=found.status, evidence_due_at=found.evidence_due_at)
        if resolved and deposit is not None:
            timeline.flag(deposit, f"PayPal resolved dispute {external_id} as {found.status}: decide whether it "
                                   "was won or lost.")
        return dispute
    return close_dispute(provider="paypal", external_id=found.external_id, outcome=outcome, deposit=deposit,
                         amount=found.amount, currency=currency, reason=found.reason, provider_status=found.status)
