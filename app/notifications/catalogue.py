"""The catalogue of events: the one place that says, per event, who receives it, on which channels, in which
preference group, and whether the recipient may turn it off. Every domain adds its events here."""
from __future__ import annotations

from dataclasses import dataclass, field

from app.core.money import Money
from app.core.urls import base_url
from app.notifications.models import EMAIL, IN_APP, PUSH, SMS

INVESTOR = "investor"  # the user the event is about
STAFF = "staff"  # staff holding one of `roles`


@dataclass(frozen=True)
class Event:
    key: str
    group: str
    channels: tuple[str, ...]
    description: str
    audience: str = INVESTOR
    roles: tuple[str, ...] = ()
    mandatory: bool = False  # security notices: always sent, preferences do not apply
    sample: dict = field(default_factory=dict)  # context for the console's preview
    # a security message: its wording is the code's alone, staff cannot override its templates
    security: bool = False
    # its link grants access (verification, password reset, e-mail change): never stored readable, see
    # app/notifications/secrets.py; a secret event is always a security one
    secret: bool = False
    # its e-mail goes to the address in this context key instead of the account's (an e-mail change)
    email_to: str | None = None
    # its SMS goes to the account's number before it is verified (the verification code itself); every other SMS
    # waits for a verified number
    to_unverified_phone: bool = False

    @property
    def locked(self) -> bool:
        """Whether staff may not override its templates."""
        return self.security or self.secret


# preference groups an investor sees on their notifications page (mandatory events are listed, locked on)
GROUPS = {
    "account": "Account",
    "security": "Security notices",
    "money": "Deposits, investments and payouts",
    "returns": "Returns",
    "kyc": "Identity verification",
    "properties": "Properties you follow",
    "market": "Market: listings, offers and trades",
    "staff_alerts": "Staff alerts",
}

def _usd(text: str) -> dict:
    """A sample amount as contexts carry it: Money or {amount, currency} (JSON, as here), written in the reader's
    language when the message is rendered (app/notifications/rendering.py)."""
    return Money.parse(text, "USD", grouping=True).as_dict()


SAMPLE_HOST = "https://freehold.example"  # replaced by BASE_URL in the preview
_SAMPLE_USER = {"first_name": "Iris", "last_name": "Investor", "email": "investor@example.com",
                "full_name": "Iris Investor"}

# what an operations alert's messages are given (app/ops/alerts.py)
_ALERT_SAMPLE = {"key": "webhook_inbox_stale", "kind": "webhook_inbox_stale",
                 "title": "Gateway events wait unprocessed in the webhook inbox",
                 "summary": "3 gateway event(s) received more than 10 minutes ago are not processed",
                 "details": "The oldest was received at 2026-12-03 08:41 UTC.", "since": "2026-12-03 08:41 UTC",
                 "raised_at": "2026-12-03 08:52 UTC", "resolved_at": "",
                 "where": "Money → Webhook inbox (status received, processing or failed)",
                 "action": "Check that the Celery workers run and read the failed events' errors."}

# what the market's messages are given (app/market/notices.py)
_MARKET = {"title": "Harbour Lofts", "listing_id": 7, "units": 10, "price": "101.50", "currency": "USD"}

# what a staff message gives its templates (app/support/messages.py)
_STAFF_MESSAGE = {"subject": "Scheduled maintenance on Sunday",
                  "body": "The portal will be unavailable on Sunday from 06:00 to 08:00 UTC.\nYour money is safe."}

EVENTS: dict[str, Event] = {e.key: e for e in (
    Event("verify_email", "account", (EMAIL,), "Link to verify the e-mail address", mandatory=True, secret=True,
          sample={"link": "https://freehold.example/verify-email/TOKEN"}),
    Event("confirm_email_change", "security", (EMAIL,), "Link to confirm a new e-mail address (sent to it)",
          mandatory=True, secret=True, email_to="new_email",
          sample={"link": "https://freehold.example/account/email/confirm/TOKEN", "new_email": "new@example.com"}),
    Event("email_changed", "security", (EMAIL, IN_APP), "The account's e-mail address was changed (told to the old one)",
          mandatory=True, security=True, email_to="old_email",
          sample={"old_email": "investor@example.com", "new_email": "new@example.com", "when": "2026-11-25 09:00 UTC"}),
    Event("phone_code", "security", (SMS,), "Code to verify a phone number", mandatory=True, secret=True,
          to_unverified_phone=True, sample={"link": "123456", "minutes": 10}),
    Event("name_change_decided", "kyc", (EMAIL, IN_APP), "A change of name was approved or rejected by compliance",
          mandatory=True, sample={"decision": "approved", "new_name": "Iris Newname", "reason": None}),
    Event("profile_updated_by_staff", "security", (EMAIL, IN_APP), "Support changed the profile on the investor's "
          "behalf (name, phone, language)", mandatory=True, security=True,
          sample={"fields": ["name", "phone"], "name_review": True}),
    Event("welcome", "account", (EMAIL, IN_APP), "Welcome after registration",
          sample={"link": "https://freehold.example/"}),
    Event("reset_password", "security", (EMAIL,), "Link to choose a new password", mandatory=True, secret=True,
          sample={"link": "https://freehold.example/password/reset/TOKEN"}),
    Event("registration_attempted", "security", (EMAIL,),
          "Someone tried to open an account with an address that already has one", mandatory=True, security=True,
          sample={"link": "https://freehold.example/login", "reset_link": "https://freehold.example/password/forgot"}),
    Event("security_notice", "security", (EMAIL, IN_APP, SMS, PUSH),
          "Password, two-factor or sign-in change on the account", mandatory=True, security=True,
          sample={"what": "Your password was changed.", "when": "2026-11-25 09:00 UTC", "ip": "203.0.113.7"}),
    Event("account_locked", "security", (EMAIL, IN_APP), "Account locked after failed sign-ins", mandatory=True,
          security=True,
          sample={"until": "2026-11-25 09:05 UTC", "failures": 10}),
    Event("staff_account_locked", "staff_alerts", (IN_APP, EMAIL), "An account was locked (for support staff)",
          audience=STAFF, roles=("support", "admin"), security=True,
          sample={"subject_email": "investor@example.com", "failures": 10, "until": "2026-11-25 09:05 UTC"}),
    Event("kyc_received", "kyc", (EMAIL, IN_APP), "Identity documents received",
          sample={"form": "Identity"}),
    Event("kyc_approved", "kyc", (EMAIL, IN_APP, PUSH), "Identity verification approved", mandatory=True,
          sample={"form": "Identity", "reason": None, "comment": None, "documents": []}),
    Event("kyc_rejected", "kyc", (EMAIL, IN_APP, PUSH), "Identity verification rejected", mandatory=True,
          sample={"form": "Identity", "reason": "Document appears altered", "comment": "Please contact support.",
                  "documents": []}),
    Event("kyc_resubmission_requested", "kyc", (EMAIL, IN_APP, PUSH), "New identity documents needed",
          mandatory=True,
          sample={"form": "Identity", "reason": "Document unreadable", "comment": "The photo is blurred.",
                  "documents": [{"label": "Front of the document", "reason": "Document unreadable",
                                 "comment": "Too dark"}]}),
    Event("deposit_received", "money", (EMAIL, IN_APP, PUSH), "A deposit reached your wallet",
          sample={"deposit_id": 12, "amount": _usd("1,000.00"), "gateway": "card (Stripe)"}),
    Event("deposit_failed", "money", (EMAIL, IN_APP), "A deposit did not go through",
          sample={"deposit_id": 12, "amount": _usd("1,000.00"), "gateway": "card (Stripe)", "reason": "expired"}),
    Event("deposit_refunded", "money", (EMAIL, IN_APP), "A deposit was refunded", mandatory=True,
          sample={"deposit_id": 12, "amount": _usd("1,000.00"), "gateway": "card (Stripe)",
                  "refunded": _usd("1,000.00")}),
    Event("deposit_attention_staff", "staff_alerts", (IN_APP, EMAIL), "A deposit needs finance's attention",
          audience=STAFF, roles=("finance",),
          sample={"deposit_id": 12, "amount": _usd("1,000.00"), "reason": "paid 900 instead of 1000"}),
    Event("payout_method_added", "security", (EMAIL, IN_APP), "A payout bank account was added or changed",
          mandatory=True, security=True, sample={"change": "added", "bank": "First Demo Bank", "account": "••••••••6789",
                                  "usable_from": "2026-11-26 09:00 UTC"}),
    Event("payout_requested", "money", (EMAIL, IN_APP), "A payout was requested",
          sample={"payout_id": 7, "amount": _usd("1,000.00"), "fee": _usd("6.00"), "bank": "First Demo Bank",
                  "account": "••••••••6789"}),
    Event("payout_approved", "money", (EMAIL, IN_APP, PUSH), "A payout was approved",
          sample={"payout_id": 7, "amount": _usd("1,000.00"), "fee": _usd("6.00"), "bank": "First Demo Bank",
                  "account": "••••••••6789"}),
    Event("payout_paid", "money", (EMAIL, IN_APP, PUSH), "A payout was sent to your bank", mandatory=True,
          sample={"payout_id": 7, "amount": _usd("1,000.00"), "fee": _usd("6.00"), "bank": "First Demo Bank",
                  "account": "••••••••6789", "bank_reference": "TRF-2026-1125-001"}),
    Event("payout_rejected", "money", (EMAIL, IN_APP, PUSH), "A payout was rejected", mandatory=True,
          sample={"payout_id": 7, "amount": _usd("1,000.00"), "fee": _usd("6.00"), "bank": "First Demo Bank",
                  "account": "••••••••6789", "reason": "The account holder's name does not match."}),
    Event("payout_failed", "money", (EMAIL, IN_APP, PUSH), "A payout could not be delivered", mandatory=True,
          sample={"payout_id": 7, "amount": _usd("1,000.00"), "fee": _usd("6.00"), "bank": "First Demo Bank",
                  "account": "••••••••6789", "reason": "The bank returned the transfer: account closed."}),
    Event("payout_cancelled", "money", (EMAIL, IN_APP), "A payout was cancelled",
          sample={"payout_id": 7, "amount": _usd("1,000.00"), "fee": _usd("6.00"), "bank": "First Demo Bank",
                  "account": "••••••••6789"}),
    Event("payouts_waiting_staff", "staff_alerts", (IN_APP, EMAIL), "Payouts waiting longer than the target",
          audience=STAFF, roles=("finance",), sample={"count": 3, "hours": 24}),
    Event("property_status", "properties", (EMAIL, IN_APP, PUSH), "A property you follow changed status",
          sample={"title": "Harbour Lofts", "slug": "harbour-lofts", "status": "funded", "previous": "active"}),
    Event("investment_confirmed", "money", (EMAIL, IN_APP, PUSH), "An investment was made",
          sample={"title": "Harbour Lofts", "amount": "5000.00", "paid": "5000.00", "currency": "USD",
                  "installments": 1}),
    Event("investment_refunded", "money", (EMAIL, IN_APP, PUSH), "An investment was refunded (offering cancelled)",
          mandatory=True,
          sample={"title": "Harbour Lofts", "amount": "5000.00", "currency": "USD", "reason": "Permit refused"}),
    Event("investment_defaulted", "money", (EMAIL, IN_APP), "An investment was cancelled for unpaid installments",
          mandatory=True,
          sample={"title": "Harbour Lofts", "refunded": "1950.00", "fees": "50.00", "currency": "USD",
                  "reason": "Installment 2 unpaid for 45 days"}),
    Event("property_funded", "properties", (EMAIL, IN_APP, PUSH), "A property you invested in is fully funded",
          sample={"title": "Harbour Lofts"}),
    Event("property_funded_staff", "staff_alerts", (IN_APP, EMAIL), "A property reached its funding target",
          audience=STAFF, roles=("finance", "property_manager"),
          sample={"title": "Harbour Lofts", "target": "250000.00", "currency": "USD"}),
    Event("property_publication_approved", "staff_alerts", (IN_APP, EMAIL),
          "Your request to publish a property was approved", audience=STAFF, roles=("property_manager",),
          mandatory=True, sample={"title": "Harbour Lofts", "kind": "publication", "request_id": 4,
                                  "link": "https://freehold.example/admin/properties/details/?id=1"}),
    Event("property_terms_change_approved", "staff_alerts", (IN_APP, EMAIL),
          "Your change of a published offering's terms was approved", audience=STAFF, roles=("property_manager",),
          mandatory=True, sample={"title": "Harbour Lofts", "kind": "terms change", "request_id": 4,
                                  "link": "https://freehold.example/admin/properties/details/?id=1"}),
    Event("property_request_rejected", "staff_alerts", (IN_APP, EMAIL),
          "Your request to publish a property, or to change its terms, was rejected", audience=STAFF,
          roles=("property_manager",), mandatory=True,
          sample={"title": "Harbour Lofts", "kind": "publication", "request_id": 4,
                  "reason": "The fixed return is above what the rent supports.",
                  "link": "https://freehold.example/admin/properties/details/?id=1"}),
    Event("kyc_overdue_staff", "staff_alerts", (IN_APP,), "KYC cases waiting longer than the target",
          audience=STAFF, roles=("compliance",), sample={"count": 3, "hours": 48}),
    Event("market.flagged", "staff_alerts", (IN_APP, EMAIL), "A market trade was flagged for compliance's review",
          audience=STAFF, roles=("compliance",),
          sample={"trade_id": 17, "count": 2, "kinds": ["Buyer and seller share a sign-in address",
                                                        "Price far from the last trade"],
                  "link": "https://freehold.example/admin/market_flags/details/?id=5"}),
    Event("installment_due_soon", "money", (EMAIL, IN_APP, PUSH), "An installment falls due in a few days",
          sample={"title": "Harbour Lofts", "investment_id": 42, "index": 2, "count": 3, "amount": _usd("333.33"),
                  "due_on": "2026-12-01", "late_fee": _usd("25.00"), "late_fee_from": "2026-12-05"}),
    Event("installment_overdue", "money", (EMAIL, IN_APP, PUSH), "An installment was not paid on its due date",
          sample={"title": "Harbour Lofts", "investment_id": 42, "index": 2, "count": 3, "amount": _usd("333.33"),
                  "due_on": "2026-12-01", "late_fee": _usd("25.00"), "late_fee_from": "2026-12-05",
                  "default_on": "2026-12-31"}),
    Event("setting_change_decided", "staff_alerts", (IN_APP, EMAIL),
          "A change you proposed to a setting that guards money was approved or rejected", audience=STAFF,
          roles=("finance", "admin"),
          sample={"label": "Largest payout", "key": "payout.max", "status": "applied", "old_value": _usd("50,000.00"),
                  "new_value": _usd("40,000.00"), "decided_by": "finance2@example.com", "reason": ""}),
    Event("returns_paid", "returns", (EMAIL, IN_APP, PUSH),
          "Scheduled returns were paid into your wallet (one message per distribution run)",
          sample={"lines": [{"title": "Northgate Logistics Park", "amount": "$66.70", "capital": "",
                             "period": "November 2026"},
                            {"title": "Harbour Lofts", "amount": "$12.50", "capital": "$1,000.00",
                             "period": "October 2026, November 2026"}],
                  "count": 3, "properties": 2, "total": "$1,079.20", "next_on": "December 1, 2026",
                  "next_amount": "$79.20"}),
    Event("declared_distribution_paid", "returns", (EMAIL, IN_APP, PUSH),
          "A distribution (e.g. rent) was paid into your wallet",
          sample={"title": "Harbour Lofts", "label": "Rent Q1 2026", "amount": _usd("412.50"),
                  "period": "2026-01-01 to 2026-03-31"}),
    Event("declared_distribution_pending_staff", "staff_alerts", (IN_APP, EMAIL),
          "A declared distribution awaits a second finance user's approval", audience=STAFF, roles=("finance",),
          sample={"title": "Harbour Lofts", "label": "Rent Q1 2026", "amount": _usd("12,000.00"),
                  "period": "2026-01-01 to 2026-03-31", "declared_by": "finance@example.com"}),
    Event("distribution_funding_pending_staff", "staff_alerts", (IN_APP, EMAIL),
          "A funding of a property's distributions awaits a second finance user's approval", audience=STAFF,
          roles=("finance",), sample={"title": "Harbour Lofts", "amount": _usd("40,000.00"),
                                      "bank_reference": "OPS-2026-0412", "proposed_by": "finance@example.com"}),
    Event("distribution_funding_decided", "staff_alerts", (IN_APP, EMAIL),
          "A funding of a property's distributions you proposed was approved or rejected", audience=STAFF,
          roles=("finance",), sample={"title": "Harbour Lofts", "amount": _usd("40,000.00"), "decision": "approved",
                                      "bank_reference": "OPS-2026-0412", "decided_by": "finance2@example.com",
                                      "reason": ""}),
    Event("market.listed", "market", (EMAIL, IN_APP), "Your units were listed on the market",
          sample={**_MARKET, "expires": "2027-01-02 09:00 UTC", "net": "1004.85", "fee": "10.15"}),
    Event("market.offer_received", "market", (EMAIL, IN_APP), "Someone made an offer on your listing",
          sample={**_MARKET, "message": "Would you take a little less?"}),
    Event("market.offer_countered", "market", (EMAIL, IN_APP), "An offer was countered", sample=_MARKET),
    Event("market.offer_accepted", "market", (EMAIL, IN_APP), "An offer was accepted and the trade settled",
          mandatory=True, sample=_MARKET),
    Event("market.offer_rejected", "market", (EMAIL, IN_APP), "An offer was rejected or declined",
          sample={**_MARKET, "reason": "the listing was cancelled"}),
    Event("market.offer_withdrawn", "market", (EMAIL, IN_APP), "A buyer withdrew an offer on your listing",
          sample=_MARKET),
    Event("market.offer_expired", "market", (EMAIL, IN_APP), "An offer expired and its money was released",
          sample={**_MARKET, "held": "1025.15"}),
    Event("market.listing_expired", "market", (EMAIL, IN_APP), "A listing expired; its unsold units are free again",
          sample={**_MARKET, "expires": "2027-01-02 09:00 UTC"}),
    Event("market.listing_cancelled", "market", (EMAIL, IN_APP), "A listing was cancelled",
          sample={**_MARKET, "reason": "cancelled by the seller"}),
    Event("market.sold", "market", (EMAIL, IN_APP), "Units were sold on the market", mandatory=True,
          sample={**_MARKET, "amount": "1015.00", "fee": "10.15", "net": "1004.85", "remaining": 5}),
    Event("market.bought", "market", (EMAIL, IN_APP), "Units were bought on the market", mandatory=True,
          sample={**_MARKET, "amount": "1015.00", "fee": "10.15", "total": "1025.15"}),
    Event("wallet_adjusted", "money", (EMAIL, IN_APP), "Your wallet balance was corrected", mandatory=True,
          sample={"direction": "credit", "amount": _usd("25.00"), "note": "Refund of a duplicated withdrawal fee"}),
    Event("adjustment_pending_staff", "staff_alerts", (IN_APP, EMAIL),
          "A balance adjustment awaits a second finance user's approval", audience=STAFF, roles=("finance",),
          sample={"adjustment_id": 12, "direction": "credit", "amount": _usd("25.00"), "email": "investor@example.com",
                  "proposed_by": "finance@example.com"}),
    Event("adjustment_decided", "staff_alerts", (IN_APP, EMAIL),
          "A balance adjustment you proposed was approved or rejected", audience=STAFF, roles=("finance",),
          sample={"adjustment_id": 12, "direction": "credit", "amount": _usd("25.00"), "email": "investor@example.com",
                  "decision": "approved", "decided_by": "finance2@example.com", "reason": ""}),
    Event("dispute_opened", "money", (EMAIL, IN_APP), "Money held because a card or PayPal payment is disputed",
          mandatory=True,
          sample={"deposit_id": 12, "dispute_id": 3, "amount": _usd("1,000.00"), "gateway": "card (Stripe)",
                  "disputed": _usd("1,000.00"), "held": _usd("400.00"), "owed": _usd("600.00")}),
    Event("dispute_won", "money", (EMAIL, IN_APP), "A disputed payment was decided for you: the money is released",
          mandatory=True,
          sample={"deposit_id": 12, "dispute_id": 3, "amount": _usd("1,000.00"), "gateway": "card (Stripe)",
                  "held": _usd("400.00"), "owed": None}),
    Event("dispute_lost", "money", (EMAIL, IN_APP), "A disputed payment was returned to the payer", mandatory=True,
          sample={"deposit_id": 12, "dispute_id": 3, "amount": _usd("1,000.00"), "gateway": "card (Stripe)",
                  "held": _usd("400.00"), "owed": _usd("600.00")}),
    Event("dispute_opened_staff", "staff_alerts", (IN_APP, EMAIL), "A payment was disputed (chargeback)",
          audience=STAFF, roles=("finance",), mandatory=True,
          sample={"dispute_id": 3, "provider": "stripe", "external_id": "du_123", "deposit_id": 12,
                  "amount": _usd("1,000.00"), "held": _usd("400.00"), "receivable": _usd("600.00"),
                  "reason": "fraudulent", "attention": None}),
    Event("market.halted", "market", (EMAIL, IN_APP), "Trading was halted in a property",
          sample={"title": "Harbour Lofts", "reason": "Valuation under review"}),
    Event("market.resumed", "market", (EMAIL, IN_APP), "Trading resumed in a property",
          sample={"title": "Harbour Lofts", "reason": "Valuation confirmed"}),
    Event("ops.alert_raised", "staff_alerts", (EMAIL, IN_APP),
          "A problem in the platform's own running (jobs, verifications, gateways, returns) was found",
          audience=STAFF, roles=("admin", "finance"), mandatory=True, sample=_ALERT_SAMPLE),
    Event("ops.alert_resolved", "staff_alerts", (EMAIL, IN_APP),
          "A problem in the platform's own running is no longer seen", audience=STAFF, roles=("admin", "finance"),
          mandatory=True, sample={**_ALERT_SAMPLE, "resolved_at": "2026-12-03 09:12 UTC"}),
    # the investor's own account (app.account): the archive's link needs the investor signed in (not secret)
    Event("data_export_ready", "account", (EMAIL, IN_APP), "The archive of your data is ready to download",
          mandatory=True,
          sample={"export_id": 4, "expires_at": "2026-12-12 09:00 UTC",
                  "link": "https://freehold.example/account/data"}),
    # a message staff wrote to one investor or a segment (app/support/messages.py): its subject and body are theirs,
    # in one language; the frame around them is translated. In-app only, or in-app and e-mail.
    Event("staff_message", "account", (IN_APP,), "A message from the Freehold team (in the portal)", mandatory=True,
          sample=_STAFF_MESSAGE),
    Event("staff_message_email", "account", (EMAIL, IN_APP), "A message from the Freehold team (also by e-mail)",
          mandatory=True, sample=_STAFF_MESSAGE),
    Event("staff_message_approval_staff", "staff_alerts", (IN_APP,),
          "A message to more than 100 investors awaits a second person's approval", audience=STAFF,
          roles=("support", "admin"),
          sample={"message_id": 9, "count": 240, "subject": "Scheduled maintenance on Sunday",
                  "audience": "Not signed in for 90 days", "proposed_by": "support@example.com",
                  "link": "https://freehold.example/admin/staff_messages/details/?id=9"}),
    Event("account_closed", "account", (EMAIL,), "Goodbye: the account is closed (sent to the address it had)",
          mandatory=True, security=True, sample={"closed_by": "you"}),
    # support tickets (app.support): support answered; the text itself is read in the portal, never in the message
    Event("ticket_replied", "account", (EMAIL, IN_APP), "Support replied to your ticket",
          sample={"ticket_id": 7, "subject": "Where is my deposit?",
                  "link": "https://freehold.example/support/7"}),
    Event("ticket_opened_staff", "staff_alerts", (IN_APP,), "An investor opened a support ticket",
          audience=STAFF, roles=("support",),
          sample={"ticket_id": 7, "category": "deposits", "email": "investor@example.com",
                  "link": "https://freehold.example/admin/tickets/details/?id=7"}),
)}


def get(event: str) -> Event:
    try:
        return EVENTS[event]
    except KeyError:
        raise KeyError(f"unknown notification event {event!r}: add it to app/notifications/catalogue.py") from None


def sample_context(event: str) -> dict:
    """The console preview's data; sample links point at this site (BASE_URL), as real ones do."""
    own = base_url()
    sample = {key: value.replace(SAMPLE_HOST, own) if isinstance(value, str) else value
              for key, value in get(event).sample.items()}
    return {"user": dict(_SAMPLE_USER), **sample}


def locked_events() -> list[str]:
    """Events whose templates staff may not override (security messages)."""
    return sorted(key for key, spec in EVENTS.items() if spec.locked)
