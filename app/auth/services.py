"""The accounts domain's public face: registration, sign-in with lockout, e-mail verification, password reset and
change, blocking, roles, API tokens. Other layers import these names from here; each lives in the module of its
use case. Services flush and never commit; every security event is audited. What other domains should hear of
(a registration, a lock, a security change) is sent as a signal (app.auth.signals), never called upward."""
from __future__ import annotations

from app.auth.accounts import (
    create_user,
    ensure_roles,
    normalize_email,
    register,
    require_verified,
    send_verification,
    user_by_email,
    verify_email,
)
from app.auth.email_changes import (
    cancel_email_change,
    change_for_token,
    confirm_email_change,
    fresh_email_change_token,
    open_email_change,
    request_email_change,
)
from app.auth.footprints import SharedSignIns, shared_sign_ins
from app.auth.hierarchy import record_refusal, require_may_act
from app.auth.links import reset_token, verification_token
from app.auth.password_changes import change_password, request_password_reset, reset_password, user_for_reset
from app.auth.security_changes import end_other_sessions, notify_security_change
from app.auth.signin import (
    SignIn,
    check_password,
    complete_sign_in,
    is_locked,
    recent_sign_ins,
    register_failure,
)
from app.auth.staff import (
    block_user,
    end_sessions,
    need_reason,
    set_roles,
    staff_resend_verification,
    unblock_user,
)
from app.auth.staff_requests import (
    approve_staff_request,
    break_glass_reset_2fa,
    decline_staff_request,
    pending_staff_count,
    pending_staff_requests,
    propose_staff_change,
    reset_2fa,
    staff_request,
)
from app.auth.tokens import issue_token, revoke_all_tokens, revoke_token, token_for

__all__ = [
    "SharedSignIns",
    "SignIn",
    "approve_staff_request",
    "block_user",
    "break_glass_reset_2fa",
    "cancel_email_change",
    "change_for_token",
    "change_password",
    "check_password",
    "complete_sign_in",
    "confirm_email_change",
    "create_user",
    "decline_staff_request",
    "end_other_sessions",
    "end_sessions",
    "ensure_roles",
    "fresh_email_change_token",
    "is_locked",
    "issue_token",
    "need_reason",
    "normalize_email",
    "notify_security_change",
    "open_email_change",
    "pending_staff_count",
    "pending_staff_requests",
    "propose_staff_change",
    "recent_sign_ins",
    "record_refusal",
    "register",
    "register_failure",
    "request_email_change",
    "request_password_reset",
    "require_may_act",
    "require_verified",
    "reset_2fa",
    "reset_password",
    "reset_token",
    "revoke_all_tokens",
    "revoke_token",
    "send_verification",
    "set_roles",
    "shared_sign_ins",
    "staff_request",
    "staff_resend_verification",
    "token_for",
    "unblock_user",
    "user_by_email",
    "user_for_reset",
    "verification_token",
    "verify_email",
]
