"""Balance adjustments: correcting a user's wallet with a second pair of eyes.

- A finance user (`adjustments.propose`) proposes a credit or a debit of an investor's wallet: the amount, an internal
  reason (staff and the audit trail only), an optional short note the investor will read, and a supporting document
  (PDF or image, checked like KYC documents and kept in private storage). Nothing moves in the ledger.
- A second finance user (`adjustments.approve`; never the proposer, never the wallet's owner, admins included)
  approves it: in one unit of work the row moves proposed -> approved by a conditional UPDATE (the claim: a replay,
  a double click or a concurrent approval stops there) and the ledger posts ONE balanced entry between the wallet
  and the platform's adjustments account with the key `adjustment-<id>`. A debit never takes a wallet below zero:
  the ledger refuses it, the approval is refused with the wallet's balance, and the proposal stays proposed.
- Or rejects it with a reason; the proposer may cancel it while it waits.

The investor is told of an approved adjustment (`wallet_adjusted`: amount and the note, never the reason); finance
hears of a proposal waiting for approval, the proposer of the decision. Every step is audited
(`adjustments.proposed`, `.approved`, `.rejected`, `.cancelled`, `.attachment_viewed`, `.export`; a refused
self-approval or own-wallet attempt in the console: `.refused`). Services flush and never commit.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import select

from app.auth.models import User
from app.core import audit
from app.core.db import utcnow
from app.core.errors import (
    Conflict,
    Forbidden,
    IllegalTransition,
    InsufficientFunds,
    NotFound,
    ValidationError,
)
from app.core.money import Money, MoneyError
from app.core.security import has_permission
from app.core.states import transition
from app.core.storage import get_storage, new_key
from app.core.uploads import UploadRejected, clean_upload
from app.extensions import db
from app.finance.adjustment_models import (
    APPROVED,
    CANCELLED,
    CREDIT,
    DEBIT,
    DIRECTIONS,
    PROPOSED,
    REJECTED,
    STATUSES,
    TRANSITIONS,
    BalanceAdjustment,
)
from app.ledger import services as ledger
from app.ledger.models import ADJUSTMENTS, USER_WALLET
from app.notifications import template_rules
from app.notifications.services import notify, recipients_for

__all__ = [
    "APPROVED", "CANCELLED", "CREDIT", "DEBIT", "DIRECTIONS", "ENTRY_KIND", "EXPORT_HEADER", "MAX_ADJUSTMENT_MAJOR",
    "MAX_ATTACHMENT_BYTES", "NOTE_MAX", "PROPOSED", "REASON_MAX", "REJECTED", "STATUSES", "Attachment",
    "BalanceAdjustment", "approve", "attachment_of", "cancel", "export_rows", "find_user", "get", "investor_memo",
    "parse_amount", "propose", "reject",
]

PROPOSE = "adjustments.propose"
APPROVE = "adjustments.approve"
ENTRY_KIND = "adjustment"
MAX_ADJUSTMENT_MAJOR = 1_000_000  # per adjustment, in major units: more is a typing mistake or another process
NOTE_MAX = 200  # what the investor reads: one short sentence
REASON_MAX = 2000
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
LINK = "/admin/adjustments/details/?id={id}"


def _require(actor, permission: str) -> None:
    if actor is None or not has_permission(actor, permission):
        raise Forbidden(f"this needs the {permission} permission")


def _snapshot(a: BalanceAdjustment) -> dict:
    return {"status": a.status, "user_id": a.user_id, "direction": a.direction,
            "amount": Money(a.amount, a.currency).amount_str(), "currency": a.currency, "note": a.note,
            "attachment_sha256": a.attachment_sha256, "entry_id": a.entry_id}


def _move(a: BalanceAdjustment, target: str, *, extra_where=(), **values) -> None:
    """Conditional status update: exactly one request moves the adjustment from the status it was read in."""
    transition(a, target, TRANSITIONS, what=f"adjustment #{a.id}", extra_where=extra_where, conflict=Conflict,
               **values)


def get(adjustment_id: int) -> BalanceAdjustment:
    a = db.session.get(BalanceAdjustment, adjustment_id)
    if a is None:
        raise NotFound("no such adjustment")
    return a


def find_user(identifier) -> User:
    """The user named by an id (digits, or `#12`) or an e-mail address."""
    raw = str(identifier if identifier is not None else "").strip().lstrip("#")
    user = None
    if raw.isdigit() and len(raw) < 19:
        user = db.session.get(User, int(raw))
    elif "@" in raw and len(raw) <= 254:
        user = db.session.scalar(select(User).where(User.email == raw.lower()))
    if user is None:
        raise NotFound("no such user", {"user": ["No user has this e-mail address or id."]})
    return user


def parse_amount(raw, currency: str) -> int:
    """A decimal string in major units (thousands separators allowed) or Money of the currency -> minor units, more
    than zero and at most MAX_ADJUSTMENT_MAJOR."""
    if isinstance(raw, Money):
        if raw.currency != currency:
            raise ValidationError(f"the wallet is in {currency}", {"amount": [f"Use {currency}."]})
        minor = raw.minor
    else:
        if not isinstance(raw, str):
            raise ValidationError("the amount must be a decimal string", {"amount": ['A decimal, e.g. "25.00".']})
        try:
            minor = Money.parse(raw.strip(), currency, grouping=True).minor
        except MoneyError as exc:
            raise ValidationError(str(exc), {"amount": [str(exc)[:1].upper() + str(exc)[1:] + "."]}) from None
    if minor <= 0:
        raise ValidationError("the amount must be more than zero", {"amount": ["Must be more than zero."]})
    limit = Money.parse(str(MAX_ADJUSTMENT_MAJOR), currency)
    if minor > limit.minor:
        raise ValidationError(f"the amount is above the limit of one adjustment ({limit.display()})",
                              {"amount": [f"At most {limit.display()}."]})
    return minor


def _text(raw, field: str, limit: int, *, required: bool, one_line: bool) -> str:
    value = str(raw or "").strip()
    if one_line:
        value = " ".join(value.split())
    if required and not value:
        raise ValidationError(f"the {field} is required", {field: ["Required."]})
    if len(value) > limit:
        raise ValidationError(f"the {field} is too long", {field: [f"At most {limit} characters."]})
    if any(ord(c) < 32 and c not in "\n\t" for c in value) or "\x7f" in value:
        raise ValidationError(f"the {field} holds characters that cannot be printed",
                              {field: ["Letters, digits and punctuation only."]})
    return value


def investor_memo(direction: str, note: str) -> str:
    """The line the investor reads in their wallet history: plain language, their note or nothing internal."""
    base = "Balance correction (credit)" if direction == CREDIT else "Balance correction (debit)"
    return f"{base}: {note}" if note else base


def propose(user_ref, *, direction: str, amount, reason: str, note: str = "", attachment: bytes | None,
            actor) -> BalanceAdjustment:
    """A finance user proposes a credit or debit of a user's wallet. Nothing moves in the ledger until a second
    finance user approves it. `user_ref`: a User, an id or an e-mail address. Refused (nothing written, nothing
    stored): another role, the proposer's own wallet, a staff member's wallet, a bad amount, a debit above what
    the wallet holds now, no reason, a bad attachment."""
    _require(actor, PROPOSE)
    user = user_ref if isinstance(user_ref, User) else find_user(user_ref)
    if user.id == actor.id:
        raise Forbidden("nobody adjusts their own wallet", {"user": ["This is your own account."]})
    if user.is_staff:
        raise ValidationError("adjustments are made to investors' wallets, not staff accounts",
                              {"user": ["Choose an investor."]})
    if direction not in DIRECTIONS:
        raise ValidationError("the direction is credit or debit", {"direction": ["Choose credit or debit."]})
    wallet = ledger.user_account(user.id, USER_WALLET)
    minor = parse_amount(amount, wallet.currency)
    reason = _text(reason, "reason", REASON_MAX, required=True, one_line=False)
    note = _text(note, "note", NOTE_MAX, required=False, one_line=True)
    if template_rules.foreign_urls(subject=None, body=note, html=None) or template_rules.ACTIVE_SCHEME.search(note):
        raise ValidationError("the note the investor reads may not link elsewhere than this site",
                              {"note": ["No links to other sites: plain words only."]})
    if direction == DEBIT and minor > wallet.balance:
        raise InsufficientFunds(
            f"the wallet holds {Money(wallet.balance, wallet.currency).display()}: a debit of "
            f"{Money(minor, wallet.currency).display()} would take it below zero",
            {"amount": [f"At most {Money(wallet.balance, wallet.currency).display()}."]})
    if not attachment:
        raise ValidationError("a supporting document is required", {"attachment": ["Attach a PDF or an image."]})
    try:
        clean = clean_upload(attachment, max_bytes=MAX_ATTACHMENT_BYTES)
    except UploadRejected as exc:
        raise ValidationError("the supporting document is not acceptable", {"attachment": [exc.message]}) from None
    key = new_key(f"adjustments/{user.id}", clean.extension)
    get_storage().put(key, clean.data, clean.content_type)
    a = BalanceAdjustment(user_id=user.id, direction=direction, amount=minor, currency=wallet.currency,
                          reason=reason, note=note, attachment_key=key, attachment_type=clean.content_type,
                          attachment_size=clean.size, attachment_sha256=clean.sha256, status=PROPOSED,
                          proposed_by_id=actor.id, proposed_at=utcnow())
    db.session.add(a)
    db.session.flush()
    audit.record("adjustments.proposed", actor=actor, target=a, after=_snapshot(a), reason=reason)
    checkers = [u for u in recipients_for("role:finance") if u.id not in (actor.id, user.id)]
    if checkers:
        notify(checkers, "adjustment_pending_staff", link=LINK.format(id=a.id), adjustment_id=a.id,
               direction=direction, amount=Money(minor, wallet.currency).display(), email=user.email,
               proposed_by=actor.email)
    return a


def _decider_checks(a: BalanceAdjustment, actor, what: str) -> None:
    _require(actor, APPROVE)
    if a.proposed_by_id == actor.id:
        raise Forbidden(f"an adjustment is {what} by a second person: you proposed this one")
    if a.user_id == actor.id:
        raise Forbidden("nobody decides an adjustment of their own wallet")


def approve(a: BalanceAdjustment, *, actor, comment: str | None = None) -> BalanceAdjustment:
    """A second finance user approves: one entry between the wallet and the adjustments account, once."""
    _decider_checks(a, actor, "approved")
    if a.status != PROPOSED:
        raise IllegalTransition(f"adjustment #{a.id} is {a.status}: it cannot be approved")
    comment = _text(comment, "comment", REASON_MAX, required=False, one_line=False) or None
    if db.session.get_one(User, a.user_id).is_staff:  # given a staff role since the proposal
        raise ValidationError("adjustments are made to investors' wallets, not staff accounts: reject it")
    before = _snapshot(a)
    wallet = ledger.user_account(a.user_id, USER_WALLET)
    signed = a.amount if a.direction == CREDIT else -a.amount
    # the claim: a replay, a double click or a concurrent approval stops here (on PostgreSQL the row stays locked
    # until the unit of work ends, so a concurrent approver waits, then finds it approved)
    _move(a, APPROVED, extra_where=(BalanceAdjustment.proposed_by_id != actor.id, BalanceAdjustment.user_id != actor.id),
          decided_by_id=actor.id, decided_at=utcnow(), decision_reason=comment)
    try:
        entry = ledger.post([(wallet, signed), (ledger.platform_account(ADJUSTMENTS), -signed)],
                            key=f"adjustment-{a.id}", kind=ENTRY_KIND, actor_id=actor.id,
                            memo=investor_memo(a.direction, a.note))
    except InsufficientFunds:
        # the caller's unit of work rolls back (the claim with it): the proposal stays proposed
        held = ledger.user_account(a.user_id, USER_WALLET)
        raise InsufficientFunds(
            f"the wallet holds {Money(held.balance, held.currency).display()}: a debit of "
            f"{Money(a.amount, a.currency).display()} would take it below zero; the adjustment stays proposed"
        ) from None
    a.entry_id = entry.id
    db.session.flush()
    audit.record("adjustments.approved", actor=actor, target=a, before=before, after=_snapshot(a),
                 reason=comment or a.reason)
    user = db.session.get_one(User, a.user_id)
    notify(user, "wallet_adjusted", link="/wallet", direction=a.direction, amount=Money(a.amount, a.currency),
           note=a.note)
    _tell_proposer(a, actor, "approved")
    return a


def reject(a: BalanceAdjustment, *, actor, reason: str | None) -> BalanceAdjustment:
    """A second finance user refuses a proposal, with a reason. Nothing moves in the ledger."""
    _decider_checks(a, actor, "decided")
    reason = _text(reason, "reason", REASON_MAX, required=True, one_line=False)
    if a.status != PROPOSED:
        raise IllegalTransition(f"adjustment #{a.id} is {a.status}: it cannot be rejected")
    before = _snapshot(a)
    _move(a, REJECTED, decided_by_id=actor.id, decided_at=utcnow(), decision_reason=reason)
    audit.record("adjustments.rejected", actor=actor, target=a, before=before, after=_snapshot(a), reason=reason)
    _tell_proposer(a, actor, "rejected", reason)
    return a


def cancel(a: BalanceAdjustment, *, actor, reason: str | None = None) -> BalanceAdjustment:
    """The proposer withdraws their proposal while it waits."""
    _require(actor, PROPOSE)
    if a.proposed_by_id != actor.id:
        raise Forbidden("only the finance user who proposed an adjustment may cancel it: reject it instead")
    reason = _text(reason, "reason", REASON_MAX, required=False, one_line=False) or None
    if a.status != PROPOSED:
        raise IllegalTransition(f"adjustment #{a.id} is {a.status}: it cannot be cancelled")
    before = _snapshot(a)
    _move(a, CANCELLED, decided_at=utcnow(), decision_reason=reason)
    audit.record("adjustments.cancelled", actor=actor, target=a, before=before, after=_snapshot(a),
                 reason=reason or "cancelled by the proposer")
    return a


def _tell_proposer(a: BalanceAdjustment, actor, decision: str, reason: str = "") -> None:
    proposer = db.session.get(User, a.proposed_by_id)
    if proposer is None:
        return
    user = db.session.get_one(User, a.user_id)
    notify(proposer, "adjustment_decided", link=LINK.format(id=a.id), adjustment_id=a.id, direction=a.direction,
           amount=Money(a.amount, a.currency).display(), email=user.email, decision=decision,
           decided_by=actor.email, reason=reason)


@dataclass(frozen=True)
class Attachment:
    data: bytes
    content_type: str
    filename: str


def attachment_of(a: BalanceAdjustment, *, viewer) -> Attachment:
    """The supporting document, for a finance user (audited); anyone else gets NotFound."""
    if viewer is None or not (has_permission(viewer, PROPOSE) or has_permission(viewer, APPROVE)):
        raise NotFound("no such document")
    if not a.attachment_key:
        raise NotFound("this adjustment has no document")
    audit.record("adjustments.attachment_viewed", actor=viewer, target=a,
                 after={"sha256": a.attachment_sha256, "content_type": a.attachment_type})
    extension = a.attachment_key.rsplit(".", 1)[-1]
    return Attachment(get_storage().get(a.attachment_key), a.attachment_type or "application/octet-stream",
                      f"adjustment-{a.id}.{extension}")


EXPORT_HEADER = ("ID", "Proposed at (UTC)", "User", "Direction", "Amount", "Currency", "Status", "Reason",
                 "Note to the investor", "Proposed by", "Decided by", "Decided at (UTC)", "Decision reason",
                 "Ledger entry")


def export_rows(adjustments: Iterable[BalanceAdjustment]) -> Iterator[tuple]:
    """Rows for EXPORT_HEADER: amounts as Money (numbers in the file), text as text (escaped by the writer)."""
    def when(moment):
        return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""

    for a in adjustments:
        yield (a.id, when(a.proposed_at), a.user.email if a.user else "", a.direction, Money(a.amount, a.currency),
               a.currency, a.status, a.reason, a.note, a.proposed_by.email if a.proposed_by else "",
               a.decided_by.email if a.decided_by else "", when(a.decided_at), a.decision_reason or "",
               a.entry_id or "")
