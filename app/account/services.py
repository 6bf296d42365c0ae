"""The investor's own account: "Download my data" and closing the account (by the investor, or by staff on request
with a second approval). The faces (portal, API, console) import these names from here."""
from __future__ import annotations

from app.account.closing import Blocker, blockers, close_own_account, placeholder_email
from app.account.data_export import (
    Gone,
    check_downloadable,
    export_for_owner,
    exports_of,
    filename,
    in_progress,
    request_export,
)
from app.account.staff_closing import (
    approve_closure,
    closure_request,
    decline_closure,
    pending_count,
    pending_for,
    propose_closure,
)

__all__ = [
    "Blocker",
    "Gone",
    "approve_closure",
    "blockers",
    "check_downloadable",
    "close_own_account",
    "closure_request",
    "decline_closure",
    "export_for_owner",
    "exports_of",
    "filename",
    "in_progress",
    "pending_count",
    "pending_for",
    "placeholder_email",
    "propose_closure",
    "request_export",
]
