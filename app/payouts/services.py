"""Payouts: payout methods, withdrawal requests held in the ledger, finance review with two pairs of eyes above a
threshold, bank-file batches, and the states a payout moves through. Services flush and never commit.

Money: a request holds `amount + fee` (wallet -> held) in one entry. Paying settles the hold to payouts in transit
and moves the fee on to fee revenue; rejecting, cancelling or a failed transfer releases the hold exactly.

This module is the domain's public face: portal, console, API, tasks and the CLI import it. The work lives in one
module per use case:
- `terms`: the configured minimum, maximum, fee, limits and thresholds; the fee on an amount; reading inputs;
- `methods`: bank accounts (add, change, remove, cooling-off, the holder's name against KYC);
- `risk`: limits, what was requested lately, the two-approval threshold, risk flags, security events;
- `requests`: request, approve (maker-checker), reject, cancel, mark paid or failed: the state machine;
- `batches`: bank files and batches; `queries`: reading; `reminders`: finance told of waiting payouts;
- `checks`: the payouts' invariant in `flask ledger verify` (registered on import).
"""
from __future__ import annotations

from app.payouts.batches import (
    BANK_FILE_HEADER,
    bank_file,
    bank_file_rows,
    batch_file,
    create_batch,
    mark_batch_paid,
)
from app.payouts.checks import holds_match_payouts  # importing it registers the check with the ledger
from app.payouts.methods import (
    MAX_METHODS,
    add_bank_method,
    kyc_name,
    method_for_owner,
    method_in_use,
    methods_in_use,
    methods_of,
    name_check,
    names_match,
    remove_method,
    update_bank_method,
    usable_methods,
)
from app.payouts.models import (
    PAYOUT_APPROVED,
    PAYOUT_CANCELLED,
    PAYOUT_FAILED,
    PAYOUT_PAID,
    PAYOUT_REJECTED,
    PAYOUT_REQUESTED,
)
from app.payouts.queries import flag_filter, flag_labels, payout_for_owner, payouts_of, queue_counts
from app.payouts.reminders import remind_finance, waiting_longer_than
from app.payouts.requests import approve, cancel, mark_failed, mark_paid, reject, request_payout
from app.payouts.risk import (
    CREDENTIAL_ACTIONS,
    SECURITY_ACTIONS,
    SECURITY_WINDOW,
    Allowance,
    allowance,
    check_limits,
    needs_two_approvals,
    requested_since,
    risk_flags,
    security_events,
)
from app.payouts.terms import Quote, Settings, is_id, parse_amount, quote, settings

__all__ = [
    "BANK_FILE_HEADER", "CREDENTIAL_ACTIONS", "MAX_METHODS", "PAYOUT_APPROVED", "PAYOUT_CANCELLED", "PAYOUT_FAILED",
    "PAYOUT_PAID", "PAYOUT_REJECTED", "PAYOUT_REQUESTED", "SECURITY_ACTIONS", "SECURITY_WINDOW", "Allowance", "Quote",
    "Settings", "add_bank_method", "allowance", "approve", "bank_file", "bank_file_rows", "batch_file", "cancel",
    "check_limits", "create_batch", "flag_filter", "flag_labels", "holds_match_payouts", "is_id", "kyc_name",
    "mark_batch_paid", "mark_failed", "mark_paid", "method_for_owner", "method_in_use", "methods_in_use",
    "methods_of", "name_check", "names_match", "needs_two_approvals", "parse_amount", "payout_for_owner",
    "payouts_of", "queue_counts", "quote", "reject", "remind_finance", "remove_method", "request_payout",
    "requested_since", "risk_flags", "security_events", "settings", "update_bank_method", "usable_methods",
    "waiting_longer_than",
]
