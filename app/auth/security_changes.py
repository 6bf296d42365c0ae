"""What follows a change to an account's security (password, two-factor, roles, blocking): every other session
and API token ends, and the user is told on every channel they have."""
from __future__ import annotations

from app.auth import sessions as user_sessions
from app.auth import signals
from app.auth.models import User
from app.auth.tokens import revoke_all_tokens
from app.core import audit
from app.core.db import utcnow


def end_other_sessions(user: User, *, reason: str, keep_id: int | None) -> int:
    """End every other browser session and revoke every API token of the user."""
    ended = user_sessions.revoke_all(user.id, reason, keep_id=keep_id)
    revoke_all_tokens(user.id)
    return ended


def notify_security_change(user: User, what: str) -> None:
    """A security notice on every channel the user has: it cannot be turned off."""
    client = audit.current_client()
    signals.security_changed.send(user, what=what, ip=client.ip, user_agent=client.user_agent,
                                  when=utcnow().strftime("%Y-%m-%d %H:%M UTC"))
