"""Examples of the account operations: registration and tokens, /me, the wallet, notifications and KYC."""
from __future__ import annotations

from app.api.examples import error, money, page, success

# auth ---------------------------------------------------------------------------------------------------------------
REGISTER_REQUEST = {"email": "ana.pereira@example.com", "password": "Harbour-view-2026", "first_name": "Ana",
                    "last_name": "Pereira", "accept_terms": True}
REGISTERED = success({"email": "ana.pereira@example.com"},
                     message="Check your e-mail: the message we sent tells you what to do next.")
TOKEN_REQUEST = {"email": "ana.pereira@example.com", "password": "Harbour-view-2026", "otp": "492039"}
TOKEN = success({"token": "oR3m9VQh2yK8fTq1Zp4xWc7LbN0sJd6uEa5GiHk2Y8M", "expires_at": "2027-01-03T09:15:00+00:00"})
TOKEN_REVOKED = success(None, message="Token revoked.")
STAFF_NEEDS_2FA = error("Staff accounts need two-factor authentication for an API token: turn it on in the console, "
                        "then send a code as otp.")

# me -----------------------------------------------------------------------------------------------------------------
ME = success({"id": 42, "email": "ana.pereira@example.com", "first_name": "Ana", "last_name": "Pereira",
              "roles": ["investor"], "email_verified": True, "kyc_status": "approved", "two_factor_enabled": True,
              "created_at": "2026-03-18T10:42:07+00:00"})

# wallet -------------------------------------------------------------------------------------------------------------
WALLET = success({"available": money("12480.50"), "held": money("503.50"), "currency": "USD",
                  "withdrawable": money("11480.50"),
                  "withdrawable_later": [{"amount": money("1000.00"), "from": "2026-12-09"}]})
TRANSACTIONS = page([
    {"id": 9214, "entry_id": 3102, "kind": "returns", "memo": "Return from Harbour Lofts, October 2026",
     "account": "wallet", "direction": "credit", "amount": money("50.00"), "created_at": "2026-11-15T06:00:12+00:00"},
    {"id": 9188, "entry_id": 3090, "kind": "hold", "memo": "Payout to First Demo Bank ••••6789 (held)",
     "account": "wallet", "direction": "debit", "amount": money("-503.50"), "created_at": "2026-11-12T14:31:55+00:00"},
    {"id": 9189, "entry_id": 3090, "kind": "hold", "memo": "Payout to First Demo Bank ••••6789 (held)",
     "account": "held", "direction": "credit", "amount": money("503.50"), "created_at": "2026-11-12T14:31:55+00:00"},
], total=57)

# notifications ------------------------------------------------------------------------------------------------------
NOTIFICATION = {"id": 311, "event": "market.offer_received", "title": "Offer received: Northgate Logistics Park",
                "body": "150 units at USD 1.02 per unit.", "link": "/market/offers", "read": False, "read_at": None,
                "created_at": "2026-12-03T16:20:41+00:00"}
NOTIFICATIONS = page([NOTIFICATION, {
    "id": 305, "event": "deposit_received", "title": "Deposit received: USD 2,500.00",
    "body": "Deposit #61 by bank transfer is in your wallet.",
    "link": "/wallet", "read": True, "read_at": "2026-12-01T08:02:13+00:00",
    "created_at": "2026-11-30T19:44:02+00:00"}], total=14, unread=3)
NOTIFICATION_READ = success({**NOTIFICATION, "read": True, "read_at": "2026-12-04T09:12:30+00:00"})
MARKED = success({"marked": 3})
DEVICE_REQUEST = {"token": "fcm:dQw4w9WgXcQ:APA91bH-example-push-token", "platform": "android"}
DEVICE = success({"id": 17, "platform": "android", "created_at": "2026-12-04T09:14:02+00:00"})
DEVICE_REMOVED = success(None, message="Device removed.")

# kyc ----------------------------------------------------------------------------------------------------------------
_DOCUMENT_TYPES = {"name": "document_type", "label": "Document type", "type": "select", "required": True,
                   "help_text": "", "options": ["passport", "id_card", "driving_licence"]}
IDENTITY_FORM = {
    "id": 1, "name": "Identity", "description": "A government photo ID and a selfie, to confirm who you are.",
    "required_for_investing": True, "required_for_withdrawing": True, "status": "pending",
    "fields": [
        _DOCUMENT_TYPES,
        {"name": "document_number", "label": "Document number", "type": "text", "required": True,
         "help_text": "As printed on the document.", "options": None},
        {"name": "date_of_birth", "label": "Date of birth", "type": "date", "required": True, "help_text": "",
         "options": None},
        {"name": "front_image", "label": "Front of the document", "type": "file", "required": True,
         "help_text": "A sharp photo or scan, all four corners visible.", "options": None},
        {"name": "selfie", "label": "Selfie", "type": "file", "required": True,
         "help_text": "Your face, well lit, no sunglasses.", "options": None},
    ],
}
SUBMISSION = {
    "id": 88, "form_id": 1, "status": "pending", "submitted_at": "2026-12-04T09:20:11+00:00", "decided_at": None,
    "reason": None, "comment": None,
    "values": {"document_type": "passport", "document_number": "••••4567", "date_of_birth": "1988-04-12"},
    "documents": [
        {"id": 301, "field": "front_image", "content_type": "image/jpeg", "decision": "pending", "reason_code": None,
         "comment": None},
        {"id": 302, "field": "selfie", "content_type": "image/jpeg", "decision": "pending", "reason_code": None,
         "comment": None},
    ],
}
KYC = success({"status": "pending", "missing_for_investing": ["Identity"],
               "missing_for_withdrawing": ["Identity", "Proof of address"],
               "forms": [IDENTITY_FORM], "submissions": [SUBMISSION]})
SUBMIT_REQUEST = {"form_id": "1", "document_type": "passport", "document_number": "P1234567",
                  "date_of_birth": "1988-04-12", "front_image": "(a JPEG, PNG, WebP or PDF file)",
                  "selfie": "(a JPEG, PNG, WebP or PDF file)"}
SUBMITTED = success(SUBMISSION, message="Submitted for review.")
