"""What accounts announce to the layers above them. Auth sits below notifications: it never calls them, it sends
these signals (blinker) with the user as sender and what a message needs as keyword arguments; the
notifications domain subscribes (app/notifications/handlers.py) and turns each into the same mails as ever.

Receivers run in the sender's transaction: what they record is committed or rolled back with it."""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# sender: the new User.
user_registered = _signals.signal("user-registered")
# sender: the User who already has the address someone just tried to register with (nothing was changed).
registration_attempted = _signals.signal("registration-attempted")
# sender: the User; token: the signed e-mail verification token.
verification_requested = _signals.signal("verification-requested")
# sender: the User; token: the signed password reset token.
password_reset_requested = _signals.signal("password-reset-requested")
# sender: the User; failures: failed attempts in a row; until: the end of the lock ("YYYY-MM-DD HH:MM UTC");
# scope: "source" (one address is locked out of the account, with source its address) or "account" (everywhere).
account_locked = _signals.signal("account-locked")
# sender: the User; what: the change in one sentence; ip, user_agent: the client; when: "YYYY-MM-DD HH:MM UTC".
# Sent for every password or two-factor change: the notice cannot be turned off.
security_changed = _signals.signal("security-changed")
# sender: the User; token: the signed link token; new_email: the address it goes to (never the account's own).
email_change_requested = _signals.signal("email-change-requested")
# sender: the User (already at new_email); old_email: the address it had, which is told of the change.
email_changed = _signals.signal("email-changed")
