"""The payments domain's public face: what the portal, the console, the API, the tasks and other domains call.

Deposits through a gateway, kept in step with what the gateway says (credit once, fail, expire, refund with a
receivable when the money is already spent), bank transfers approved by finance (two people above a threshold),
the webhook inbox, reconciliation, the gateways' settings and the card-funds hold (what may be withdrawn now). The work lives in one module per use case; this
module only gathers their public functions. Services flush and never commit."""
from __future__ import annotations

from app.core.money import Money
from app.payments.bank_transfers import approve_bank_transfer, attach_proof, reject_bank_transfer
from app.payments.card_funds import Withdrawable, withdrawable
from app.payments.card_funds import consume as consume_card_funds
from app.payments.card_funds import guard as guard_card_funds
from app.payments.card_funds import locks_of as card_fund_locks
from app.payments.card_funds import relock as relock_card_funds
from app.payments.checkout import begin_deposit
from app.payments.deposits import (
    ABANDONED_AFTER,
    apply_refund,
    complete_deposit,
    confirm_redirect,
    create_deposit,
    expire_abandoned,
    fail_deposit,
    open_payment,
    refund,
    start_deposit,
    sync,
    transition_deposit,
)
from app.payments.gateway_settings import (
    GATEWAY_LABELS,
    GATEWAYS,
    GatewayTerms,
    fee_for,
    gateway_row,
    quote,
    settings_for,
    update_gateway_settings,
)
from app.payments.inbox import (
    INBOX_DONE,
    announce_events,
    backlog,
    claim_event,
    claim_events,
    deposit_for_reference,
    mark_failed,
    pending_events,
    process_event,
    process_events,
    reprocess_event,
    store_event,
    store_events,
)
from app.payments.reconciliation import reconcile, resolve_item
from app.payments.timeline import flag, log, notices_batch, resolve_attention, tell_investor, timeline_batch

__all__ = [
    "ABANDONED_AFTER",
    "GATEWAYS",
    "GATEWAY_LABELS",
    "INBOX_DONE",
    "GatewayTerms",
    "Money",
    "Withdrawable",
    "announce_events",
    "apply_refund",
    "approve_bank_transfer",
    "attach_proof",
    "backlog",
    "begin_deposit",
    "card_fund_locks",
    "claim_event",
    "claim_events",
    "complete_deposit",
    "confirm_redirect",
    "consume_card_funds",
    "create_deposit",
    "deposit_for_reference",
    "expire_abandoned",
    "fail_deposit",
    "fee_for",
    "flag",
    "gateway_row",
    "guard_card_funds",
    "log",
    "mark_failed",
    "notices_batch",
    "open_payment",
    "pending_events",
    "process_event",
    "process_events",
    "quote",
    "reconcile",
    "refund",
    "reject_bank_transfer",
    "relock_card_funds",
    "reprocess_event",
    "resolve_attention",
    "resolve_item",
    "settings_for",
    "start_deposit",
    "store_event",
    "store_events",
    "sync",
    "tell_investor",
    "timeline_batch",
    "transition_deposit",
    "update_gateway_settings",
    "withdrawable",
]
