"""Funding a property's distributions: the money an operator or sponsor sends to the platform's bank so that its
investors can be paid.

A property's distributions account (`returns_funding:<property id>`) pays returns and declared distributions and
may never go below zero: it pays only what was funded into it. Funding it is four-eyes work:

- a finance user proposes a funding (property, amount, the bank reference of the money received, a note): a
  `distribution_fundings` row, and nothing in the ledger;
- a different finance user (admins too: nobody approves their own) approves it: in the same unit of work the row
  moves proposed -> approved by a conditional UPDATE and the ledger posts operator funding -> the property's
  distributions account with the key `funding:<id>`, so a replayed or concurrent approval applies once;
- or rejects it, with a reason; the proposer may cancel it while it waits. The proposer hears of the decision.

Rows of kind `migrated` were posted by the migration that brought negative distributions accounts to zero: a
finance user confirms the money came in, giving its bank reference. Services flush and never commit.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from app.auth.models import User
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, IllegalTransition, NotFound, ValidationError
from app.core.money import Money
from app.core.security import has_permission
from app.core.states import transition
from app.extensions import db
from app.investing.accounts import distributions_account
from app.investing.declared import parse_amount as declared_amount
from app.investing.models import (
    FUNDING_APPROVED,
    FUNDING_CANCELLED,
    FUNDING_KIND,
    FUNDING_PROPOSED,
    FUNDING_REJECTED,
    FUNDING_TO_CONFIRM,
    FUNDING_TRANSITIONS,
    MIGRATED_KIND,
    DistributionFunding,
)
from app.ledger import services as ledger
from app.ledger.models import OPERATOR_FUNDING, RETURNS_FUNDING, Account
from app.notifications.services import notify, recipients_for
from app.properties.models import Property

__all__ = [
    "BANK_REFERENCE_MAX", "ENTRY_KIND", "FUNDING_APPROVED", "FUNDING_CANCELLED", "FUNDING_PROPOSED",
    "FUNDING_REJECTED", "FUNDING_TO_CONFIRM", "MAX_FUNDING_MAJOR", "NOTE_MAX", "FundableProperty", "approve",
    "cancel", "confirm", "distributions_balance", "fundable_properties", "fundings_for", "get", "operator_account",
    "parse_amount", "propose", "reject",
]

PERMISSION = "distributions.fund"
ENTRY_KIND = "distribution_funding"
BANK_REFERENCE_MAX = 140  # a SEPA remittance line; the column's length
NOTE_MAX = 2000
REASON_MAX = 1000
MAX_FUNDING_MAJOR = 1_000_000_000  # per funding, in major units: more is a typing mistake
UNFUNDABLE = ("draft", "cancelled")  # nothing to pay from a property never offered or withdrawn before closing


def _require(actor) -> None:
    if actor is None or not has_permission(actor, PERMISSION):
        raise Forbidden(f"this needs the {PERMISSION} permission")


def _snapshot(f: DistributionFunding) -> dict:
    return {"status": f.status, "kind": f.kind, "property_id": f.property_id,
            "amount": Money(f.amount, f.currency).amount_str(), "currency": f.currency,
            "bank_reference": f.bank_reference}


def _move(f: DistributionFunding, target: str, *, extra_where=(), **values) -> None:
    """Conditional status update: exactly one request moves the funding from the status it was read in."""
    transition(f, target, FUNDING_TRANSITIONS, what=f"funding #{f.id}", extra_where=extra_where, conflict=Conflict,
               **values)


def operator_account() -> Account:
    """The platform's operator-funding account (one per platform, a clearing account: below zero by what
    operators sent to the bank)."""
    return ledger.platform_account(OPERATOR_FUNDING)


def distributions_balance(property_id: int) -> int:
    """What the property's distributions account holds now, in minor units (0 before its first movement)."""
    code = ledger.account_code(RETURNS_FUNDING, ref=str(property_id))
    return int(db.session.scalar(select(Account.balance).where(Account.code == code)) or 0)


def fundings_for(property_id: int) -> list[DistributionFunding]:
    """The property's fundings, newest first, whatever their status."""
    return list(db.session.scalars(select(DistributionFunding).where(DistributionFunding.property_id == property_id)
                                   .order_by(DistributionFunding.id.desc())))


def get(funding_id: int) -> DistributionFunding:
    f = db.session.get(DistributionFunding, funding_id)
    if f is None:
        raise NotFound("no such funding")
    return f


@dataclass(frozen=True)
class FundableProperty:
    id: int
    title: str
    currency: str
    balance: int


def fundable_properties() -> list[FundableProperty]:
    """The properties whose distributions may be funded, with what their account holds."""
    rows = db.session.execute(select(Property.id, Property.title, Property.currency)
                              .where(Property.status.notin_(UNFUNDABLE)).order_by(Property.title)).all()
    balances = ledger.balances_of_kind(RETURNS_FUNDING)  # one query, whatever the number of properties
    return [FundableProperty(pid, title, currency,
                             int(balances.get(ledger.account_code(RETURNS_FUNDING, ref=str(pid)), 0)))
            for pid, title, currency in rows]


def parse_amount(raw, currency: str) -> int:
    """A decimal string in major units (or an int of minor units, or Money of the currency) -> minor units, more
    than zero and at most MAX_FUNDING_MAJOR."""
    minor = declared_amount(raw, currency, grouping=True)
    limit = Money.parse(str(MAX_FUNDING_MAJOR), currency)
    if minor > limit.minor:
        raise ValidationError(f"the amount is above the limit of one funding ({limit.display()})",
                              {"amount": [f"At most {limit.display()}."]})
    return minor


def _bank_reference(raw) -> str:
    reference = " ".join(str(raw or "").split())  # trimmed, inner runs of spaces (and control characters) as one
    if not reference:
        raise ValidationError("the bank reference of the money received is required",
                              {"bank_reference": ["Required: the reference on the bank statement."]})
    if len(reference) > BANK_REFERENCE_MAX:
        raise ValidationError("the bank reference is too long",
                              {"bank_reference": [f"At most {BANK_REFERENCE_MAX} characters."]})
    if not reference.isprintable():
        raise ValidationError("the bank reference holds characters that cannot be printed",
                              {"bank_reference": ["Letters, digits and punctuation only."]})
    return reference


def propose(property_id: int, *, amount, bank_reference: str, note: str = "", actor) -> DistributionFunding:
    """A finance user records money an operator sent to fund a property's distributions. Nothing moves in the
    ledger until a second finance user approves it."""
    _require(actor)
    p = db.session.get(Property, property_id) if isinstance(property_id, int) and property_id > 0 else None
    if p is None:
        raise NotFound("no such property", {"property_id": ["Choose a property."]})
    if p.status in UNFUNDABLE:
        raise ValidationError(f"a {p.status} property has no distributions to fund",
                              {"property_id": ["Choose a property that is or was offered."]})
    minor = parse_amount(amount, p.currency)
    reference = _bank_reference(bank_reference)
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ValidationError("the note is too long", {"note": [f"At most {NOTE_MAX} characters."]})
    f = DistributionFunding(property_id=p.id, amount=minor, currency=p.currency, bank_reference=reference, note=note,
                            status=FUNDING_PROPOSED, kind=FUNDING_KIND, proposed_by_id=actor.id, proposed_at=utcnow())
    db.session.add(f)
    db.session.flush()
    audit.record("distributions.funding_proposed", actor=actor, target=f, after=_snapshot(f), reason=note or None)
    checkers = [u for u in recipients_for("role:finance") if u.id != actor.id]
    if checkers:
        notify(checkers, "distribution_funding_pending_staff", link=f"/admin/distribution-funding/details/?id={f.id}",
               title=p.title, amount=Money(minor, p.currency).display(), bank_reference=reference,
               proposed_by=actor.email)
    return f


def approve(f: DistributionFunding, *, actor) -> DistributionFunding:
    """A second finance user (never the proposer, admins included) approves: the money moves from operator
    funding to the property's distributions account, once."""
    _require(actor)
    if f.kind != FUNDING_KIND:
        raise IllegalTransition("a migrated funding is confirmed, not approved")
    if f.proposed_by_id == actor.id:
        raise Forbidden("a funding is approved by a second person: you proposed this one")
    if f.status != FUNDING_PROPOSED:
        raise IllegalTransition(f"funding #{f.id} is {f.status}: it cannot be approved")
    before = _snapshot(f)
    _move(f, FUNDING_APPROVED, extra_where=(DistributionFunding.proposed_by_id != actor.id,),
          approved_by_id=actor.id, approved_at=utcnow())  # the claim: a replay or a concurrent approval stops here
    p = db.session.get_one(Property, f.property_id)
    entry = ledger.post([(operator_account(), -f.amount), (distributions_account(f.property_id), f.amount)],
                        key=f"funding:{f.id}", kind=ENTRY_KIND, actor_id=actor.id,
                        memo=f"{p.title}: distributions funded by the operator (bank reference {f.bank_reference})")
    f.entry_id = entry.id
    db.session.flush()
    audit.record("distributions.funding_approved", actor=actor, target=f, before=before,
                 after=_snapshot(f) | {"entry_id": entry.id})
    _tell_proposer(f, p, actor, "approved")
    return f


def reject(f: DistributionFunding, *, actor, reason: str | None) -> DistributionFunding:
    """A second finance user refuses a proposed funding (the money is not in the bank, the amount is wrong), with a
    reason. Nothing moves in the ledger."""
    _require(actor)
    if f.proposed_by_id == actor.id:
        raise Forbidden("a funding is decided by a second person: cancel your own proposal instead")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("a reason is required", {"reason": ["Say why it is rejected."]})
    if f.status != FUNDING_PROPOSED:
        raise IllegalTransition(f"funding #{f.id} is {f.status}: it cannot be rejected")
    before = _snapshot(f)
    _move(f, FUNDING_REJECTED, approved_by_id=actor.id, approved_at=utcnow(), reason=reason[:REASON_MAX])
    audit.record("distributions.funding_rejected", actor=actor, target=f, before=before, after=_snapshot(f),
                 reason=reason[:REASON_MAX])
    _tell_proposer(f, db.session.get_one(Property, f.property_id), actor, "rejected", reason[:REASON_MAX])
    return f


def cancel(f: DistributionFunding, *, actor, reason: str | None = None) -> DistributionFunding:
    """The proposer withdraws their proposal while it waits."""
    _require(actor)
    if f.proposed_by_id != actor.id:
        raise Forbidden("only the finance user who proposed a funding may cancel it: reject it instead")
    if f.status != FUNDING_PROPOSED:
        raise IllegalTransition(f"funding #{f.id} is {f.status}: it cannot be cancelled")
    before = _snapshot(f)
    reason = (reason or "").strip()[:REASON_MAX] or None
    _move(f, FUNDING_CANCELLED, reason=reason)
    audit.record("distributions.funding_cancelled", actor=actor, target=f, before=before, after=_snapshot(f),
                 reason=reason)
    return f


def confirm(f: DistributionFunding, *, actor, bank_reference: str) -> DistributionFunding:
    """A finance user confirms a migrated funding (already in the ledger): the operator's money came in, with this
    bank reference."""
    _require(actor)
    if f.kind != MIGRATED_KIND:
        raise IllegalTransition("only a migrated funding is confirmed; a funding is approved")
    reference = _bank_reference(bank_reference)
    if f.status != FUNDING_TO_CONFIRM:
        raise IllegalTransition(f"funding #{f.id} is {f.status}: it cannot be confirmed")
    before = _snapshot(f)
    _move(f, FUNDING_APPROVED, approved_by_id=actor.id, approved_at=utcnow(), bank_reference=reference)
    audit.record("distributions.funding_confirmed", actor=actor, target=f, before=before, after=_snapshot(f))
    return f


def _tell_proposer(f: DistributionFunding, p: Property, actor, decision: str, reason: str = "") -> None:
    proposer = db.session.get(User, f.proposed_by_id) if f.proposed_by_id else None
    if proposer is None:
        return
    notify(proposer, "distribution_funding_decided", link=f"/admin/distribution-funding/details/?id={f.id}",
           title=p.title, amount=Money(f.amount, f.currency).display(), decision=decision,
           bank_reference=f.bank_reference, decided_by=actor.email, reason=reason)

