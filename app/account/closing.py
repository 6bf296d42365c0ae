"""Closing an account: possible only with nothing left on it, then one transaction that ends the account's access
and erases its personal data while the ledger and the audit trail stay whole.

What blocks a closing (each named, so the investor knows what to do first): money in the wallet or held for a
payout, live holdings (investments paying or active), open market listings, live offers (money held), payouts
waiting for approval or payment, deposits still pending (money that could still arrive).

Closing, under a lock on the user row (FOR UPDATE: it also waits for any transaction that inserted a row naming
the user, a deposit, payout, investment, listing or offer, since such an insert holds a key-share lock on it) and
then on the user's ledger accounts (a credit or a debit in progress holds those rows), so nothing slips in between
the check and the closing: the goodbye e-mail is queued to the
address on file; the account becomes `closed` (no sign-in, no password reset, no link); names, e-mail (a unique
`closed-<id>@closed.invalid`), phone, two-factor secret, push devices, social identities, payout methods' holder
and numbers, identity details are erased; sessions end and API tokens are revoked; archives of "Download my data"
are deleted. Identity documents are kept for KYC_RETENTION_DAYS after the closing (app.account.retention). The
audit trail keeps what it recorded (a legal record inside its hash chain); ledger accounts carry no personal data
in their names (their label is derived from the user when shown)."""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import delete, func, select, update

from app.account import data_export
from app.account.export_sections import table
from app.auth import passwords
from app.auth import sessions as user_sessions
from app.auth.models import USER_ACTIVE, USER_CLOSED, SocialIdentity, User
from app.auth.tokens import revoke_all_tokens
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, IllegalTransition, ValidationError
from app.core.money import Money
from app.extensions import db
from app.ledger.models import USER_KINDS, USER_WALLET, Account
from app.notifications import services as notifications

CLOSED_NAME = "Closed account"
LIVE_INVESTMENTS = ("paying", "active")
LIVE_OFFERS = ("open", "countered")
PENDING_PAYOUTS = ("requested", "approved")
DONE_DELIVERIES = ("sent", "logged", "failed")


def placeholder_email(user_id: int) -> str:
    """A unique address that can never receive mail (.invalid is reserved, RFC 2606)."""
    return f"closed-{user_id}@closed.invalid"


@dataclass(frozen=True)
class Blocker:
    key: str  # money, holdings, listings, offers, payouts, deposits
    count: int
    message: str


def _count(name: str, column: str, user_id: int, statuses: tuple[str, ...]) -> int:
    t = table(name)
    return db.session.execute(select(func.count()).select_from(t).where(
        t.c[column] == user_id, t.c.status.in_(statuses))).scalar_one()


def _lock_accounts(user_id: int) -> dict[str, int]:
    """The user's wallet and held balances, their rows locked (FOR UPDATE) until the transaction ends."""
    rows = db.session.execute(select(Account.kind, Account.balance).where(
        Account.user_id == user_id, Account.kind.in_(USER_KINDS)).order_by(Account.id).with_for_update()).all()
    return {kind: balance for kind, balance in rows}


def blockers(user: User, *, lock: bool = False) -> list[Blocker]:
    """What must go before the account can close; empty when nothing is left. With lock=True the user's ledger
    accounts are locked first (the closing itself)."""
    if lock:
        balances = _lock_accounts(user.id)
    else:
        balances = {kind: balance for kind, balance in db.session.execute(select(Account.kind, Account.balance)
                    .where(Account.user_id == user.id, Account.kind.in_(USER_KINDS))).all()}
    found = []
    money = sum(balances.values())
    if money:
        amount = Money(money, db.session.scalar(select(Account.currency).where(
            Account.user_id == user.id, Account.kind == USER_WALLET)) or "USD")
        found.append(Blocker("money", money, _(
            "Your wallet still holds %(amount)s (available or held for a payout): withdraw it first.",
            amount=amount.local())))
    checks = (
        ("holdings", "investments", "user_id", LIVE_INVESTMENTS,
         _("You still own live holdings: sell them on the market or wait until they complete.")),
        ("listings", "market_listings", "seller_id", ("open",),
         _("You have open market listings: cancel them first.")),
        ("offers", "market_offers", "buyer_id", LIVE_OFFERS,
         _("You have open market offers: withdraw them first.")),
        ("payouts", "payouts", "user_id", PENDING_PAYOUTS,
         _("A payout is still being processed: wait until it is paid or cancel it.")),
        ("deposits", "deposits", "user_id", ("pending",),
         _("A deposit is still pending: wait until it arrives or fails.")),
    )
    for key, name, column, statuses, message in checks:
        count = _count(name, column, user.id, statuses)
        if count:
            found.append(Blocker(key, count, message))
    return found


def refuse_if_blocked(user: User, *, lock: bool) -> None:
    found = blockers(user, lock=lock)
    if found:
        raise Conflict(_("Your account cannot be closed yet: %(what)s.", what=", ".join(b.key for b in found)),
                       {b.key: [b.message] for b in found})


def _lock_user(user: User) -> User:
    locked = db.session.execute(select(User).where(User.id == user.id).with_for_update()
                                .execution_options(populate_existing=True)).scalar_one()
    if locked.status == USER_CLOSED:
        raise IllegalTransition(_("This account is already closed."))
    return locked


def close_own_account(user: User, password: str | None) -> None:
    """The investor closes their account with their password."""
    if user.status != USER_ACTIVE or user.is_staff:  # a staff account is retired by an admin (roles, block)
        raise Forbidden(_("This account cannot be closed here."))
    if not password or not passwords.verify(user.password_hash, password):
        raise ValidationError(_("That password is not correct: the account stays open."), {"password": [_("That password is not correct: the account stays open.")]})
    close_account(user, actor=user, reason="closed by the account holder", via="self")


def close_account(user: User, *, actor: User, reason: str, via: str, extra: dict | None = None) -> None:
    """Close the account if nothing is left on it (Conflict naming each thing otherwise). Flushes, never commits."""
    user = _lock_user(user)
    refuse_if_blocked(user, lock=True)
    # the goodbye message goes to the address on file, captured on its delivery before the address is erased
    notifications.notify(user, "account_closed")
    before = {"status": user.status}
    user_id = user.id
    user.status, user.closed_at, user.block_category = USER_CLOSED, utcnow(), None
    user.first_name, user.last_name = CLOSED_NAME, ""
    user.email = placeholder_email(user_id)
    user.phone_number = None
    user.totp_secret, user.totp_enabled, user.totp_last_step = None, False, None
    user.password_hash = passwords.hash_password(secrets.token_urlsafe(32))  # no password opens it again
    user.locale = None
    db.session.flush()
    sessions_ended = user_sessions.revoke_all(user_id, "account closed")
    tokens_revoked = revoke_all_tokens(user_id)
    erased = _erase_personal_data(user_id)
    exports = data_export.end_exports_of(user_id)
    audit.record("account.close", actor=actor, target=("users", user_id), before=before,
                 after={"status": USER_CLOSED, "via": via, "sessions_ended": sessions_ended,
                        "tokens_revoked": tokens_revoked, "exports_deleted": exports, **erased, **(extra or {})},
                 reason=reason)


def _erase_personal_data(user_id: int) -> dict[str, int]:
    """Set-based erasure in the other domains' tables; returns counts for the audit record."""
    devices = table("push_devices")
    methods = table("payout_methods")
    values, submissions = table("kyc_values"), table("kyc_submissions")
    attempts = table("login_attempts")
    deliveries, notes = table("notification_deliveries"), table("notifications")
    counts = {
        "push_devices": _rowcount(delete(devices).where(devices.c.user_id == user_id)),
        "payout_methods": _rowcount(update(methods).where(methods.c.user_id == user_id).values(
            holder_name=CLOSED_NAME, account_number="", routing_number=None, iban=None, bic=None)),
        "kyc_values": _rowcount(update(values).where(values.c.submission_id.in_(
            select(submissions.c.id).where(submissions.c.user_id == user_id))).values(value=None,
                                                                                      secret_value=None)),
        "social_identities": _erase_social_identities(user_id),
    }
    _rowcount(update(attempts).where(attempts.c.user_id == user_id).values(email=placeholder_email(user_id)))
    # the outbox's copies of past messages (names, addresses); the goodbye message, still queued, goes out first
    _rowcount(update(deliveries).where(
        deliveries.c.notification_id.in_(select(notes.c.id).where(notes.c.user_id == user_id)),
        deliveries.c.status.in_(DONE_DELIVERIES)).values(to_address="closed account", body="", html=None))
    db.session.expire_all()
    return counts


def _erase_social_identities(user_id: int) -> int:
    """Delete the user's links to social sign-in providers: a closed account can never be reached through them."""
    return _rowcount(delete(SocialIdentity).where(SocialIdentity.user_id == user_id))


def _rowcount(statement) -> int:
    return int(getattr(db.session.execute(statement.execution_options(synchronize_session=False)), "rowcount", 0))
