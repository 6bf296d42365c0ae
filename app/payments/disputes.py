"""Disputes and chargebacks: a payer disputes a deposit's payment with their card issuer or PayPal.

The stable interface (gateways' event processing calls these; services flush and never commit):

- `open_dispute(*, provider, external_id, deposit, amount, currency, reason, actor_id=None, provider_status=None,
  evidence_due_at=None) -> Dispute`
  Record the dispute once per (provider, external_id) and, when `deposit` is credited, book it: the disputed
  `amount` (minor units, in `currency`) is held from the investor's wallet as far as the wallet goes (a ledger
  hold: wallet -> the investor's held account) and the rest is booked as a receivable (RECEIVABLES account
  `user-<id>` against the gateway's clearing account, with a Receivable row) flagged to finance. Idempotent: a
  repeated open changes nothing but the provider's status and evidence date. `deposit=None` (no deposit matches)
  records the dispute for finance and moves nothing.
- `close_dispute(*, provider, external_id, outcome, actor_id=None, deposit=None, amount=None, currency=None,
  reason="", provider_status=None) -> Dispute`
  outcome "won": the hold is released to the wallet and the receivable reversed; "lost": the hold is settled to
  the gateway's clearing account and the receivable stays for finance to collect. Idempotent (the same outcome
  again changes nothing; another outcome afterwards is refused to the ledger and flagged to finance). A close that
  arrives before the open opens the dispute first (give deposit, amount and currency then).
- `update_dispute(*, provider, external_id, provider_status=None, evidence_due_at=None, reason=None)
  -> Dispute | None`: the provider's status, evidence deadline and reason; no money moves (None when unknown).
- `dispute_for(provider, external_id) -> Dispute | None`.
- `add_note(dispute, *, actor, body) -> DisputeNote`: finance's note, audited (console).
- `sync_stripe_dispute(dispute_id, *, event_type) -> Dispute | None`: a Stripe `charge.dispute.*` event, processed
  by re-reading the dispute from Stripe (GET /v1/disputes/{id}); the inbox calls it.

Exactly once: the dispute row is created by INSERT ... ON CONFLICT DO NOTHING and then locked (SELECT ... FOR
UPDATE) for the rest of the unit of work, so duplicated or concurrent events for one dispute take turns and each
sees what the previous one did; every ledger entry has a key naming the dispute (`dispute:<id>:...`), and the
dispute's status moves by a conditional UPDATE (app.core.states)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, case, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from app.core import audit
from app.core.db import utcnow
from app.core.errors import Forbidden, ValidationError
from app.core.money import Money
from app.core.states import transition
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import (
    GATEWAY_CLEARING,
    HOLD_PENDING,
    HOLD_RELEASED,
    HOLD_SETTLED,
    RECEIVABLES,
    USER_WALLET,
    Account,
    Hold,
    JournalEntry,
)
from app.notifications import services as notifications
from app.payments import card_funds, timeline
from app.payments.gateways.registry import get_gateway
from app.payments.models import (
    DEPOSIT_SUCCEEDED,
    DISPUTE_LOST,
    DISPUTE_OPEN,
    DISPUTE_TRANSITIONS,
    DISPUTE_WON,
    Deposit,
    Dispute,
    DisputeNote,
    Receivable,
)

OUTCOMES = (DISPUTE_WON, DISPUTE_LOST)
NOTE_MAX = 4000

__all__ = ["OUTCOMES", "add_note", "close_dispute", "dispute_for", "disputes_match_the_ledger", "is_dispute_event",
           "open_dispute", "sync_stripe_dispute", "update_dispute"]


# finding and creating ------------------------------------------------------------------------------------------------
def dispute_for(provider: str, external_id: str) -> Dispute | None:
    return db.session.scalar(select(Dispute).where(Dispute.provider == provider,
                                                   Dispute.external_id == external_id))


def _locked(provider: str, external_id: str) -> Dispute | None:
    """The dispute's row, locked for the rest of the unit of work (PostgreSQL) and read afresh."""
    dispute = db.session.scalar(select(Dispute).where(Dispute.provider == provider,
                                                      Dispute.external_id == external_id)
                                .with_for_update().execution_options(populate_existing=True))
    return dispute


def _insert_once(provider: str, external_id: str, *, deposit: Deposit | None, amount: int, currency: str,
                 reason: str, provider_status: str | None, evidence_due_at: datetime | None) -> bool:
    """INSERT ... ON CONFLICT (provider, external_id) DO NOTHING: True when this call created the row. A
    concurrent insert of the same dispute waits for the first to commit and then inserts nothing."""
    dialect = db.session.connection().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    statement = (insert(Dispute.__table__).values(
        provider=provider, external_id=external_id, deposit_id=deposit.id if deposit else None,
        user_id=deposit.user_id if deposit else None, amount=amount, currency=currency, reason=reason[:100],
        status=DISPUTE_OPEN, provider_status=(provider_status or None) and provider_status[:40],
        evidence_due_at=evidence_due_at, held=0, receivable=0, opened_at=now, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["provider", "external_id"]).returning(Dispute.__table__.c.id))
    return db.session.execute(statement).first() is not None


def _check(provider: str, external_id: str, amount: int, currency: str | None) -> None:
    if not provider or not external_id or not isinstance(provider, str) or not isinstance(external_id, str):
        raise ValidationError("a dispute needs its provider and its id")
    if len(provider) > 30 or len(external_id) > 200:
        raise ValidationError("a dispute's provider or id is too long")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValidationError("a disputed amount is a whole number of minor units, not negative")
    if currency is not None and (not isinstance(currency, str) or len(currency) != 3):
        raise ValidationError("a currency is an ISO 4217 code")


# opening -------------------------------------------------------------------------------------------------------------
def open_dispute(*, provider: str, external_id: str, deposit: Deposit | None, amount: int, currency: str,
                 reason: str = "", actor_id: int | None = None, provider_status: str | None = None,
                 evidence_due_at: datetime | None = None) -> Dispute:
    """See the module's docstring. Returns the dispute, locked for the rest of the unit of work."""
    _check(provider, external_id, amount, currency)
    currency = currency.upper()
    created = _insert_once(provider, external_id, deposit=deposit, amount=amount, currency=currency,
                           reason=reason or "", provider_status=provider_status, evidence_due_at=evidence_due_at)
    dispute = _locked(provider, external_id)
    if dispute is None:  # inserted above, by this call or an earlier one
        raise RuntimeError(f"{provider} dispute {external_id} vanished")
    if not created:
        _refresh_details(dispute, provider_status=provider_status, evidence_due_at=evidence_due_at, reason=reason)
        _attach(dispute, deposit, actor_id=actor_id)
        if dispute.status == DISPUTE_OPEN:
            _book(dispute, actor_id=actor_id)  # a deposit credited since the dispute opened
        return dispute
    deposit = dispute.deposit
    if deposit is not None:
        timeline.log(deposit, "dispute_opened", {"dispute": dispute.id, "provider": provider,
                                                 "external_id": external_id, "amount": amount,
                                                 "currency": currency, "reason": reason}, actor_id=actor_id)
    _book(dispute, actor_id=actor_id)
    _alert_finance(dispute)
    return dispute


def _attach(dispute: Dispute, deposit: Deposit | None, *, actor_id: int | None) -> None:
    """A dispute first recorded without its deposit (its payment not known yet) gets it when a later event names
    it; a dispute is never moved from one deposit to another."""
    if deposit is None or dispute.deposit_id is not None:
        return
    dispute.deposit_id, dispute.user_id = deposit.id, deposit.user_id
    db.session.flush()
    db.session.refresh(dispute, ["deposit"])
    timeline.log(deposit, "dispute_opened", {"dispute": dispute.id, "provider": dispute.provider,
                                             "external_id": dispute.external_id, "amount": dispute.amount,
                                             "currency": dispute.currency, "reason": dispute.reason,
                                             "found_later": True}, actor_id=actor_id)


def _refresh_details(dispute: Dispute, *, provider_status: str | None, evidence_due_at: datetime | None,
                     reason: str | None) -> None:
    if provider_status:
        dispute.provider_status = provider_status[:40]
    if evidence_due_at is not None:
        dispute.evidence_due_at = evidence_due_at
    if reason:
        dispute.reason = reason[:100]
    db.session.flush()


def _attention(dispute: Dispute, reason: str) -> None:
    if dispute.attention_reason == reason[:500]:
        return
    dispute.attention_reason = reason[:500]
    dispute.attention_at = utcnow()
    db.session.flush()
    if dispute.deposit is not None:
        timeline.log(dispute.deposit, "dispute_flagged", {"dispute": dispute.id, "reason": reason})


def _book(dispute: Dispute, *, actor_id: int | None) -> None:
    """Move the disputed money once (the row is locked): held from the wallet as far as it goes, the rest a
    receivable. A dispute whose deposit is unknown, not credited or in another currency books nothing and waits
    for finance."""
    if dispute.booked_at is not None:
        return
    deposit = dispute.deposit
    if deposit is None:
        _attention(dispute, f"No deposit matches this {dispute.provider} dispute: nothing was held.")
        return
    db.session.refresh(deposit, with_for_update=True)  # no refund of it meanwhile
    if deposit.status != DEPOSIT_SUCCEEDED:
        _attention(dispute, f"Deposit #{deposit.id} is {deposit.status}, not credited: nothing was held.")
        return
    if dispute.currency != deposit.currency:
        _attention(dispute, f"Disputed in {dispute.currency} but deposit #{deposit.id} is in {deposit.currency}: "
                            f"nothing was held.")
        return
    dispute.attention_reason, dispute.attention_at = None, None  # an earlier refusal to book no longer holds
    left = deposit.amount + deposit.fee - deposit.refunded_amount
    disputed = min(dispute.amount, left)
    if dispute.amount > left:
        _attention(dispute, f"Disputed {Money(dispute.amount, dispute.currency).amount_str()} but only "
                            f"{Money(left, dispute.currency).amount_str()} of deposit #{deposit.id} is not refunded: "
                            f"{Money(disputed, dispute.currency).amount_str()} was booked.")
    held, owed = 0, 0
    record: Hold | None = None
    receivable: Receivable | None = None
    if disputed > 0:
        wallet = _locked_wallet(deposit.user_id)
        held = min(wallet.balance, disputed)
        owed = disputed - held
        memo = f"{dispute.provider} dispute {dispute.external_id} of deposit #{deposit.id}"
        if held:
            record = ledger.hold(deposit.user_id, held, key=f"dispute:{dispute.id}:hold", memo=memo,
                                 actor_id=actor_id)
        if owed:
            entry = ledger.post(
                [(ledger.platform_account(RECEIVABLES, f"user-{deposit.user_id}"), -owed),
                 (ledger.platform_account(GATEWAY_CLEARING, deposit.gateway), owed)],
                key=f"dispute:{dispute.id}:receivable", kind="dispute_receivable", memo=memo, actor_id=actor_id)
            receivable = Receivable(user_id=deposit.user_id, deposit_id=deposit.id, amount=owed,
                                    currency=deposit.currency, ledger_entry_id=entry.id)
            db.session.add(receivable)
            db.session.flush()
    dispute.held, dispute.receivable = held, owed
    dispute.hold_id = record.id if record else None
    dispute.receivable_id = receivable.id if receivable else None
    dispute.booked_at = utcnow()
    db.session.flush()
    timeline.log(deposit, "dispute_booked", {"dispute": dispute.id, "held": held, "receivable": owed},
                 actor_id=actor_id)
    if owed:
        timeline.flag(deposit, f"{dispute.provider} dispute {dispute.external_id}: "
                               f"{Money(owed, deposit.currency).amount_str()} was no longer in the wallet and is owed "
                               f"by the investor.")
    if disputed:
        timeline.tell_investor(deposit, "dispute_opened", dispute_id=dispute.id,
                               disputed=Money(disputed, deposit.currency).as_dict(),
                               held=Money(held, deposit.currency).as_dict(),
                               owed=Money(owed, deposit.currency).as_dict() if owed else None)


def _locked_wallet(user_id: int) -> Account:
    """The wallet row, locked for the rest of the transaction (PostgreSQL), so nothing spends it meanwhile."""
    code = ledger.account_code(USER_WALLET, user_id=user_id)
    account = db.session.execute(select(Account).where(Account.code == code).with_for_update()).scalar_one()
    db.session.refresh(account)
    return account


def _alert_finance(dispute: Dispute) -> None:
    money = Money(dispute.amount, dispute.currency)
    notifications.notify(None, "dispute_opened_staff", dispute_id=dispute.id, provider=dispute.provider,
                         external_id=dispute.external_id, deposit_id=dispute.deposit_id, amount=money.display(),
                         held=Money(dispute.held, dispute.currency).display(),
                         receivable=Money(dispute.receivable, dispute.currency).display()
                         if dispute.receivable else None,
                         reason=dispute.reason or None, attention=dispute.attention_reason)


# updating and closing ------------------------------------------------------------------------------------------------
def update_dispute(*, provider: str, external_id: str, provider_status: str | None = None,
                   evidence_due_at: datetime | None = None, reason: str | None = None) -> Dispute | None:
    dispute = _locked(provider, external_id)
    if dispute is None:
        return None
    _refresh_details(dispute, provider_status=provider_status, evidence_due_at=evidence_due_at, reason=reason)
    return dispute


def close_dispute(*, provider: str, external_id: str, outcome: str, actor_id: int | None = None,
                  deposit: Deposit | None = None, amount: int | None = None, currency: str | None = None,
                  reason: str = "", provider_status: str | None = None) -> Dispute:
    """See the module's docstring."""
    if outcome not in OUTCOMES:
        raise ValidationError(f"a dispute is won or lost, not {outcome!r}")
    dispute = _locked(provider, external_id)
    if dispute is None:  # the close came first: open it, then close it
        fallback = deposit.currency if deposit is not None else ledger.platform_currency()
        dispute = open_dispute(provider=provider, external_id=external_id, deposit=deposit,
                               amount=amount if amount is not None else 0, currency=currency or fallback,
                               reason=reason, actor_id=actor_id, provider_status=provider_status)
    else:
        _refresh_details(dispute, provider_status=provider_status, evidence_due_at=None, reason=reason)
        _attach(dispute, deposit, actor_id=actor_id)
    if dispute.status == outcome:
        return dispute  # the same close again
    if dispute.status != DISPUTE_OPEN:
        _attention(dispute, f"{provider} now says the dispute was {outcome}, after it was {dispute.status}: "
                            f"nothing moved.")
        return dispute
    _book(dispute, actor_id=actor_id)  # a deposit credited since it opened
    key = f"dispute:{dispute.id}"
    record = db.session.get(Hold, dispute.hold_id) if dispute.hold_id else None
    deposit = dispute.deposit
    memo = f"{provider} dispute {external_id} {outcome}"
    reversal: JournalEntry | None = None
    if outcome == DISPUTE_WON:
        if record is not None:
            ledger.release(record, key=f"{key}:release", memo=memo, actor_id=actor_id)
        if dispute.receivable_id:
            receivable = db.session.get_one(Receivable, dispute.receivable_id)
            entry = db.session.get_one(JournalEntry, receivable.ledger_entry_id)
            reversal = ledger.reverse(entry, key=f"{key}:receivable:reverse", memo=memo, actor_id=actor_id)
            receivable.settled_at = utcnow()
    elif record is not None and deposit is not None:
        ledger.settle(record, key=f"{key}:settle", memo=memo, actor_id=actor_id,
                      destination=ledger.platform_account(GATEWAY_CLEARING, deposit.gateway))
        # the whole disputed amount went back to the card: none of it is inside the card-funds hold any more
        card_funds.take_back(deposit.id, dispute.held + dispute.receivable)
    transition(dispute, outcome, DISPUTE_TRANSITIONS, what=f"dispute #{dispute.id}", closed_at=utcnow(),
               reversal_entry_id=reversal.id if reversal else None)
    if deposit is not None:
        timeline.log(deposit, f"dispute_{outcome}", {"dispute": dispute.id, "held": dispute.held,
                                                     "receivable": dispute.receivable}, actor_id=actor_id)
        if dispute.booked_at is not None and dispute.held + dispute.receivable:
            timeline.tell_investor(deposit, f"dispute_{outcome}", dispute_id=dispute.id,
                                   held=Money(dispute.held, dispute.currency).as_dict(),
                                   owed=Money(dispute.receivable, dispute.currency).as_dict()
                                   if dispute.receivable else None)
    return dispute


# finance's notes -----------------------------------------------------------------------------------------------------
def add_note(dispute: Dispute, *, actor, body: str | None) -> DisputeNote:
    if dispute.user_id is not None and dispute.user_id == actor.id:
        raise Forbidden("nobody acts on a dispute of their own money")
    text = (body or "").strip()
    if not text:
        raise ValidationError("write the note", {"body": ["Required."]})
    if len(text) > NOTE_MAX:
        raise ValidationError("the note is too long", {"body": [f"At most {NOTE_MAX} characters."]})
    note = DisputeNote(dispute_id=dispute.id, author_id=actor.id, body=text)
    db.session.add(note)
    db.session.flush()
    if dispute.deposit is not None:
        timeline.log(dispute.deposit, "dispute_note", {"dispute": dispute.id, "note": text}, actor_id=actor.id)
    audit.record("disputes.note", actor=actor, target=dispute, after={"note_id": note.id}, reason=text)
    return note


# gateway events ------------------------------------------------------------------------------------------------------
# a gateway's own dispute status -> the outcome it means (other statuses: still open)
STRIPE_OUTCOMES = {"won": DISPUTE_WON, "warning_closed": DISPUTE_WON, "prevented": DISPUTE_WON,
                   "lost": DISPUTE_LOST}
DISPUTE_EVENTS = {"stripe": "charge.dispute.", "paypal": "CUSTOMER.DISPUTE."}


def is_dispute_event(provider: str, event_type: str) -> bool:
    prefix = DISPUTE_EVENTS.get(provider)
    return prefix is not None and event_type.startswith(prefix)


def _deposit_for_charge(provider: str, charge_reference: str | None) -> Deposit | None:
    if not charge_reference:
        return None
    return db.session.scalar(select(Deposit).where(Deposit.gateway == provider,
                                                   Deposit.charge_reference == charge_reference).with_for_update())


def sync_stripe_dispute(external_id: str, *, event_type: str) -> Dispute:
    """A Stripe `charge.dispute.*` event (created, updated, closed, funds_withdrawn, funds_reinstated): whatever the
    event says, the dispute is read again from Stripe and the record brought in step with it (opened, booked,
    closed) once. The deposit is the one whose payment intent the dispute names; none -> recorded for finance,
    nothing moves."""
    found = get_gateway("stripe").fetch_dispute(external_id)
    deposit = _deposit_for_charge("stripe", found.charge_reference)
    outcome = STRIPE_OUTCOMES.get(found.status)
    if deposit is not None:
        timeline.log(deposit, "dispute_event", {"type": event_type, "dispute": external_id,
                                                "status": found.status})
    if outcome is None:
        return open_dispute(provider="stripe", external_id=found.external_id, deposit=deposit, amount=found.amount,
                            currency=found.currency or ledger.platform_currency(), reason=found.reason,
                            provider_status=found.status, evidence_due_at=found.evidence_due_at)
    return close_dispute(provider="stripe", external_id=found.external_id, outcome=outcome, deposit=deposit,
                         amount=found.amount, currency=found.currency or None, reason=found.reason,
                         provider_status=found.status)


# `flask ledger verify` -----------------------------------------------------------------------------------------------
@ledger.register_check
def disputes_match_the_ledger() -> list[str]:
    """Each dispute's held part is its hold's amount, pending while open, released once won and settled once lost;
    its receivable part is its Receivable's, reversed once won and only then; nothing is held or owed before it is
    booked."""
    expected = case({DISPUTE_OPEN: HOLD_PENDING, DISPUTE_WON: HOLD_RELEASED}, value=Dispute.status,
                    else_=HOLD_SETTLED)
    rows = db.session.execute(
        select(Dispute.id, Dispute.status, Dispute.held, Dispute.receivable, Hold.status, Hold.amount,
               Receivable.amount, Dispute.reversal_entry_id, Dispute.booked_at)
        .outerjoin(Hold, Hold.id == Dispute.hold_id).outerjoin(Receivable, Receivable.id == Dispute.receivable_id)
        .where(or_(
            and_(Dispute.held > 0, or_(Hold.id.is_(None), Hold.amount != Dispute.held, Hold.status != expected,
                                       Hold.user_id != Dispute.user_id)),
            and_(Dispute.held == 0, Dispute.hold_id.is_not(None)),
            and_(Dispute.receivable > 0, or_(Receivable.id.is_(None), Receivable.amount != Dispute.receivable,
                                             Receivable.user_id != Dispute.user_id)),
            and_(Dispute.receivable == 0, Dispute.receivable_id.is_not(None)),
            and_(Dispute.receivable > 0, Dispute.status == DISPUTE_WON, Dispute.reversal_entry_id.is_(None)),
            and_(Dispute.status != DISPUTE_WON, Dispute.reversal_entry_id.is_not(None)),
            and_(Dispute.booked_at.is_(None), or_(Dispute.held > 0, Dispute.receivable > 0)),
        )).order_by(Dispute.id)).all()
    return [f"dispute #{did} ({status}, held {held}, receivable {owed}) does not match the ledger: hold "
            f"{hold_status or 'none'} of {hold_amount or 0}, receivable of {receivable or 0}, "
            f"reversal {reversal or 'none'}, booked {'yes' if booked else 'no'}"
            for did, status, held, owed, hold_status, hold_amount, receivable, reversal, booked in rows]
