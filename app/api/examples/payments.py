"""Examples of the money-moving operations outside the market: deposits, bank accounts and payouts."""
from __future__ import annotations

from app.api.examples import money, page, success

# deposits -----------------------------------------------------------------------------------------------------------
DEPOSIT_REQUEST = {"amount": "2500.00", "gateway": "bank_transfer"}
_REFERENCE = "FH-1X-7K2M"
DEPOSIT = {
    "id": 61, "gateway": "bank_transfer", "amount": money("2500.00"), "fee": money("0.00"),
    "total": money("2500.00"), "status": "pending", "checkout_url": None,
    "instructions": "\n".join([
        "Pay by bank transfer to:", "Beneficiary: Freehold Client Money", "IBAN: GB33BUKB20201555555555",
        "BIC: BUKBGB22", "Bank: Demo Bank plc", "Amount: 2500.00 USD", f"Use this reference: {_REFERENCE}",
        "Your deposit is credited once the transfer arrives with this reference; without it the transfer cannot "
        "be matched to you."]),
    "checkout_data": None, "reference": _REFERENCE, "failure_reason": None,
    "created_at": "2026-11-30T17:02:45+00:00", "completed_at": None,
}
DEPOSIT_STARTED = success(DEPOSIT)
DEPOSIT_SUCCEEDED = success({**DEPOSIT, "status": "succeeded", "completed_at": "2026-11-30T19:44:02+00:00"})

# bank accounts ------------------------------------------------------------------------------------------------------
METHOD_REQUEST = {"holder_name": "Ana Pereira", "bank_name": "First Demo Bank", "account_number": "000123456789",
                  "routing_number": "021000021", "iban": None, "bic": None, "country": "US"}
METHOD = {
    "id": 7, "kind": "bank", "holder_name": "Ana Pereira", "bank_name": "First Demo Bank",
    "account_number": "••••••••6789", "routing_number": "•••••0021", "iban": None, "bic": None, "country": "US",
    "usable_from": "2026-12-07T09:40:00+00:00", "usable": False, "name_matches_kyc": True,
    "created_at": "2026-12-04T09:40:00+00:00",
}
METHOD_ADDED = success(METHOD)
METHODS = success([{**METHOD, "id": 3, "usable_from": "2026-06-02T14:10:00+00:00", "usable": True,
                    "created_at": "2026-05-30T14:10:00+00:00"}, METHOD])
METHOD_ONE = success(METHOD)
METHOD_CHANGED = success({**METHOD, "bank_name": "Second Demo Bank", "usable_from": "2026-12-07T10:02:11+00:00"})
METHOD_REMOVED = success(None, message="Removed.")

# payouts ------------------------------------------------------------------------------------------------------------
PAYOUT_REQUEST = {"amount": "500.00", "payout_method_id": 3}
PAYOUT = {
    "id": 19, "amount": money("500.00"), "fee": money("3.50"), "total": money("503.50"), "status": "requested",
    "payout_method_id": 3,
    "payout_method": {"id": 3, "bank_name": "First Demo Bank", "account_number": "••••••••6789", "country": "US"},
    "awaiting_second_approval": False, "requested_at": "2026-12-04T09:45:12+00:00", "approved_at": None,
    "paid_at": None, "decided_at": None, "bank_reference": None, "reason": None,
}
PAYOUT_REQUESTED = success(PAYOUT)
PAYOUTS = page([PAYOUT, {
    **PAYOUT, "id": 12, "amount": money("1000.00"), "fee": money("3.50"), "total": money("1003.50"),
    "status": "paid", "requested_at": "2026-10-02T08:15:40+00:00", "approved_at": "2026-10-02T13:01:09+00:00",
    "paid_at": "2026-10-03T10:20:00+00:00", "decided_at": "2026-10-03T10:20:00+00:00",
    "bank_reference": "FED-20261003-88412"}], total=2)
PAYOUT_ONE = success(PAYOUT)
PAYOUT_CANCELLED = success({**PAYOUT, "status": "cancelled", "decided_at": "2026-12-04T09:52:30+00:00"})
QUOTE = success({
    "amount": money("500.00"), "fee": money("3.50"), "total": money("503.50"), "available": money("12480.50"),
    "withdrawable": money("11480.50"), "withdrawable_later": [{"amount": money("1000.00"), "from": "2026-12-09"}],
    "daily_remaining": money("25000.00"), "monthly_remaining": money("98996.50"),
})
