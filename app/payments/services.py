"""Deposits: start one through a gateway, keep it in step with what the gateway says (credit once, fail, expire,
refund with a receivable when the money is already spent), bank transfers approved by finance (two people above a
threshold), the webhook inbox, expiry and reconciliation. Services flush and never commit."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import Text, bindparam, cast, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from app.core import audit
from app.core.db import after_commit, enqueue_after_commit, utcnow
from app.core.errors import Conflict, Forbidden, IllegalTransition, NotFound, ValidationError
from app.core.money import Money, round_half_even
from app.core.security import has_permission
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import FEE_REVENUE, GATEWAY_CLEARING, RECEIVABLES, USER_WALLET, Account
from app.payments.gateways.base import EXPIRED, FAILED, PAID, Payment
from app.payments.models import (
    DEPOSIT_FAILED,
    DEPOSIT_PENDING,
    DEPOSIT_REFUNDED,
    DEPOSIT_SUCCEEDED,
    DEPOSIT_TRANSITIONS,
    Deposit,
    DepositEvent,
    GatewaySetting,
    Receivable,
    ReconciliationItem,
    WebhookInbox,
)

GATEWAYS = ("stripe", "bank_transfer", "razorpay")
GATEWAY_LABELS = {"stripe": "card (Stripe)", "bank_transfer": "bank transfer", "razorpay": "Razorpay"}
ABANDONED_AFTER = timedelta(hours=48)


# settings and fees -------------------------------------------------------------------------------------------------
def settings_for(gateway: str) -> GatewaySetting:
    setting = db.session.scalar(select(GatewaySetting).where(GatewaySetting.gateway == gateway))
    if setting is None:
        setting = GatewaySetting(gateway=gateway, enabled=True, min_amount=1_000, max_amount=10_000_000, fee_bps=0,
                                 fee_fixed=0, instructions="",
                                 second_approval_above=1_000_000 if gateway == "bank_transfer" else None)
        try:
            with db.session.begin_nested():
                db.session.add(setting)
        except IntegrityError:
            setting = db.session.scalar(select(GatewaySetting).where(GatewaySetting.gateway == gateway))
    return setting


def fee_for(setting: GatewaySetting, amount: int) -> int:
    return round_half_even(amount * setting.fee_bps, 10_000) + setting.fee_fixed


def quote(gateway: str, amount: Money) -> dict:
    setting = settings_for(gateway)
    fee = fee_for(setting, amount.minor)
    return {"amount": amount, "fee": Money(fee, amount.currency), "total": Money(amount.minor + fee, amount.currency)}


# timeline and state ------------------------------------------------------------------------------------------------
def log(deposit: Deposit, kind: str, detail: dict | None = None, *, actor_id: int | None = None) -> None:
    """Add to the deposit's timeline (written with the rest of the unit of work)."""
    batch = db.session.info.get(_TIMELINE_BATCH)
    if batch is not None:
        batch.append({"deposit_id": deposit.id, "kind": kind, "detail": detail, "actor_id": actor_id,
                      "created_at": utcnow()})
        return
    db.session.add(DepositEvent(deposit_id=deposit.id, kind=kind, detail=detail, actor_id=actor_id))


_TIMELINE_BATCH = "freehold_deposit_timeline"


@contextmanager
def timeline_batch():
    """Timeline rows logged inside are written together at the end, by one statement (a webhook logs three)."""
    rows = db.session.info[_TIMELINE_BATCH] = []
    try:
        yield
        if rows:  # executemany: SQLAlchemy sends them as one multi-row INSERT, its SQL compiled once
            db.session.connection().execute(DepositEvent.__table__.insert(), rows)
    finally:
        db.session.info.pop(_TIMELINE_BATCH, None)


def _transition(deposit: Deposit, target: str, **values) -> None:
    """Claim the transition with a conditional UPDATE: two callers at once cannot both win."""
    if target not in DEPOSIT_TRANSITIONS[deposit.status]:
        raise IllegalTransition(f"deposit #{deposit.id} cannot go from {deposit.status} to {target}")
    values = {"status": target, "updated_at": utcnow(), **values}
    db.session.flush()  # changes made to the deposit so far go first (a no-op when there are none)
    table = Deposit.__table__
    changed = db.session.connection().execute(
        update(table).where(table.c.id == deposit.id, table.c.status == deposit.status).values(**values)
    ).rowcount
    if changed != 1:
        db.session.refresh(deposit)
        raise IllegalTransition(f"deposit #{deposit.id} is already {deposit.status}")
    for key, value in values.items():  # the row now holds exactly these: no need to read it back
        set_committed_value(deposit, key, value)


def _notify(deposit: Deposit, event: str, **context) -> None:
    """Tell the investor, once the outcome is committed (its own task: rendering and delivery rows stay off the
    path that credits the money)."""
    from app.payments.tasks import notify_outcome

    money = Money(deposit.amount, deposit.currency)
    notice = (deposit.user_id, event, {"deposit_id": deposit.id, "amount": money.display(),
                                       "gateway": GATEWAY_LABELS.get(deposit.gateway, deposit.gateway), **context})
    batch = db.session.info.get(_NOTICE_BATCH)
    if batch is not None:
        batch.append(notice)
        return
    enqueue_after_commit(notify_outcome, *notice)


_NOTICE_BATCH = "freehold_deposit_notices"


@contextmanager
def notices_batch():
    """Outcome notices given inside go out as one task once the unit of work commits (the drainer's batch):
    one message for the batch instead of one per deposit."""
    from app.payments.tasks import notify_outcomes

    notices = db.session.info[_NOTICE_BATCH] = []
    try:
        yield
        if notices:
            enqueue_after_commit(notify_outcomes, notices)
    finally:
        db.session.info.pop(_NOTICE_BATCH, None)


def flag(deposit: Deposit, reason: str) -> None:
    """Never credit what does not match: put it in front of finance instead."""
    from app.notifications.services import notify

    if deposit.attention_reason == reason:
        return
    deposit.attention_reason = reason[:500]
    deposit.attention_at = utcnow()
    db.session.flush()
    log(deposit, "flagged", {"reason": reason})
    notify(None, "deposit_attention_staff", deposit_id=deposit.id, reason=reason,
           amount=Money(deposit.amount, deposit.currency).display())


# creating ------------------------------------------------------------------------------------------------------------
def create_deposit(user_id: int, amount: Money, gateway: str, *, fee: Money | None = None,
                   reference: str | None = None) -> Deposit:
    from app.auth.models import User
    from app.auth.services import require_verified

    user = db.session.get(User, user_id)
    if user is None:
        raise ValidationError("unknown user")
    require_verified(user)
    if gateway not in GATEWAYS:
        raise ValidationError("unknown gateway", {"gateway": [f"Must be one of: {', '.join(GATEWAYS)}."]})
    if amount.currency != ledger.platform_currency():
        raise ValidationError("deposits are taken in the platform currency",
                              {"amount": [f"Deposits are in {ledger.platform_currency()}."]})
    if not amount.is_positive():
        raise ValidationError("amount must be positive", {"amount": ["Must be greater than zero."]})
    deposit = Deposit(user_id=user_id, gateway=gateway, amount=amount.minor, fee=(fee.minor if fee else 0),
                      currency=amount.currency, status=DEPOSIT_PENDING, gateway_reference=reference,
                      refunded_amount=0)
    db.session.add(deposit)
    db.session.flush()
    log(deposit, "created", {"amount": amount.minor, "fee": deposit.fee, "gateway": gateway})
    return deposit


def start_deposit(user, amount: Money, gateway: str) -> Deposit:
    """A pending deposit within the gateway's limits, its fee fixed now (shown before paying)."""
    from app.payments.gateways.registry import get_gateway

    if gateway not in GATEWAYS:
        raise ValidationError("unknown gateway", {"gateway": [f"Must be one of: {', '.join(GATEWAYS)}."]})
    setting = settings_for(gateway)
    if not setting.enabled or not get_gateway(gateway).enabled():
        raise ValidationError("this payment method is not available", {"gateway": ["Not available now."]})
    if not setting.min_amount <= amount.minor <= setting.max_amount:
        low, high = Money(setting.min_amount, amount.currency), Money(setting.max_amount, amount.currency)
        raise ValidationError("amount outside the limits",
                              {"amount": [f"Between {low.amount_str()} and {high.amount_str()}."]})
    return create_deposit(user.id, amount, gateway, fee=Money(fee_for(setting, amount.minor), amount.currency))


def open_payment(deposit: Deposit, *, success_url: str, cancel_url: str) -> Deposit:
    """Ask the gateway for a checkout (idempotent on the deposit): call after the deposit row is committed."""
    from app.payments.gateways.registry import get_gateway

    if deposit.gateway_reference:
        return deposit
    checkout = get_gateway(deposit.gateway).create_payment(
        deposit_id=deposit.id, amount=deposit.amount + deposit.fee, currency=deposit.currency,
        customer_email=deposit.user.email, success_url=success_url, cancel_url=cancel_url,
        idempotency_key=f"freehold-deposit-{deposit.id}")
    deposit.gateway_reference = checkout.reference
    deposit.checkout_url = checkout.redirect_url
    deposit.instructions = checkout.instructions
    deposit.checkout_data = dict(checkout.data) or None
    db.session.flush()
    log(deposit, "checkout_opened", {"reference": checkout.reference})
    return deposit


# crediting, failing, refunding -----------------------------------------------------------------------------------
def complete_deposit(deposit: Deposit, *, actor_id: int | None = None, charge_reference: str | None = None,
                     locked: bool = False) -> Deposit:
    """Mark the deposit succeeded and credit the wallet, once. The payer paid amount + fee into clearing.
    charge_reference: the gateway's payment id, recorded with the same UPDATE. locked: the caller holds the
    deposit's row lock (SELECT ... FOR UPDATE), so nobody else can be crediting it meanwhile.

    The entry is posted first, then the deposit claims the transition with its entry id in one conditional UPDATE:
    a concurrent second credit either finds the entry's key taken (the ledger returns the first entry) or loses
    the claim, and its whole unit of work rolls back."""
    if deposit.status == DEPOSIT_SUCCEEDED:
        return deposit  # already credited: a repeated confirmation changes nothing
    if DEPOSIT_SUCCEEDED not in DEPOSIT_TRANSITIONS[deposit.status]:
        raise IllegalTransition(f"deposit #{deposit.id} cannot go from {deposit.status} to {DEPOSIT_SUCCEEDED}")
    wallet, clearing, revenue = _credit_accounts(deposit)
    lines = [(clearing, -(deposit.amount + deposit.fee)), (wallet, deposit.amount)]
    if deposit.fee:
        lines.append((revenue, deposit.fee))
    entry = ledger.post(lines, key=f"deposit:{deposit.id}:credit", kind="deposit",
                        memo=f"Deposit #{deposit.id} by {GATEWAY_LABELS[deposit.gateway]}", actor_id=actor_id,
                        exclusive=locked)  # under the lock the key is ours and a credit cannot overdraw
    extra = {"charge_reference": charge_reference} if charge_reference else {}
    _transition(deposit, DEPOSIT_SUCCEEDED, completed_at=utcnow(), ledger_entry_id=entry.id, **extra)
    log(deposit, "credited", {"entry": entry.id, "amount": deposit.amount, "fee": deposit.fee}, actor_id=actor_id)
    _notify(deposit, "deposit_received")
    return deposit


def _credit_accounts(deposit: Deposit) -> tuple[Account, Account, Account | None]:
    """The wallet, the gateway's clearing account and (with a fee) fee revenue, read in one query."""
    codes = {ledger.account_code(USER_WALLET, user_id=deposit.user_id): None,
             ledger.account_code(GATEWAY_CLEARING, ref=deposit.gateway): None}
    if deposit.fee:
        codes[ledger.account_code(FEE_REVENUE)] = None
    locked = db.session.info.get(_LOCKED_ACCOUNTS, {})
    if all(code in locked for code in codes):  # the drainer's batch locked them all already
        codes = {code: locked[code] for code in codes}
    else:
        for account in db.session.scalars(select(Account).where(Account.code.in_(list(codes)))):
            codes[account.code] = account
    wallet, clearing, *revenue = codes.values()
    if wallet is None:
        wallet = ledger.user_account(deposit.user_id, USER_WALLET)  # raises NotFound
    clearing = clearing or ledger.platform_account(GATEWAY_CLEARING, deposit.gateway)  # created on first use
    if deposit.fee and revenue[0] is None:
        revenue = [ledger.platform_account(FEE_REVENUE)]
    return wallet, clearing, (revenue[0] if revenue else None)


def fail_deposit(deposit: Deposit, reason: str, *, actor_id: int | None = None) -> Deposit:
    if deposit.status == DEPOSIT_FAILED:
        return deposit
    _transition(deposit, DEPOSIT_FAILED, failure_reason=reason[:300])
    log(deposit, "failed", {"reason": reason}, actor_id=actor_id)
    _notify(deposit, "deposit_failed", reason=reason)
    return deposit


def apply_refund(deposit: Deposit, refunded_total: int, *, actor_id: int | None = None) -> Deposit:
    """Bring the ledger in line with `refunded_total` (what the gateway has refunded so far). Idempotent: keyed on
    the cumulative total. Money already spent is not taken from the wallet: it becomes a receivable."""
    charged = deposit.amount + deposit.fee
    refunded_total = min(refunded_total, charged)
    previous = deposit.refunded_amount
    if refunded_total <= previous:
        return deposit
    if deposit.status == DEPOSIT_PENDING:  # refunded before we ever credited it: nothing to take back
        _transition(deposit, DEPOSIT_REFUNDED, refunded_amount=refunded_total)
        log(deposit, "refunded_before_credit", {"refunded": refunded_total}, actor_id=actor_id)
        _notify(deposit, "deposit_refunded", refunded=Money(refunded_total, deposit.currency).display())
        return deposit
    if deposit.status != DEPOSIT_SUCCEEDED:
        raise IllegalTransition(f"deposit #{deposit.id} is {deposit.status}")
    wallet_delta = min(refunded_total, deposit.amount) - min(previous, deposit.amount)
    fee_delta = max(refunded_total - deposit.amount, 0) - max(previous - deposit.amount, 0)
    wallet = _locked_wallet(deposit.user_id)
    take = min(wallet.balance, wallet_delta)
    shortfall = wallet_delta - take
    clearing = ledger.platform_account(GATEWAY_CLEARING, deposit.gateway)
    lines = [(clearing, wallet_delta + fee_delta)]
    if take:
        lines.append((wallet, -take))
    if fee_delta:
        lines.append((ledger.platform_account(FEE_REVENUE), -fee_delta))
    receivable_account = None
    if shortfall:
        receivable_account = ledger.platform_account(RECEIVABLES, f"user-{deposit.user_id}")
        lines.append((receivable_account, -shortfall))
    entry = ledger.post(lines, key=f"deposit:{deposit.id}:refund:{refunded_total}", kind="deposit_refund",
                        memo=f"Refund of deposit #{deposit.id}", actor_id=actor_id)
    db.session.execute(update(Deposit).where(Deposit.id == deposit.id, Deposit.refunded_amount == previous)
                       .values(refunded_amount=refunded_total).execution_options(synchronize_session=False))
    db.session.refresh(deposit)
    log(deposit, "refunded", {"entry": entry.id, "refunded_total": refunded_total, "from_wallet": take,
                              "receivable": shortfall}, actor_id=actor_id)
    if shortfall:
        db.session.add(Receivable(user_id=deposit.user_id, deposit_id=deposit.id, amount=shortfall,
                                  currency=deposit.currency, ledger_entry_id=entry.id))
        db.session.flush()
        flag(deposit, f"Refunded {Money(wallet_delta, deposit.currency).amount_str()} but only "
                      f"{Money(take, deposit.currency).amount_str()} was left in the wallet: "
                      f"{Money(shortfall, deposit.currency).amount_str()} is owed by the investor.")
    if refunded_total >= charged:
        _transition(deposit, DEPOSIT_REFUNDED)
    _notify(deposit, "deposit_refunded", refunded=Money(wallet_delta + fee_delta, deposit.currency).display())
    return deposit


def _locked_wallet(user_id: int) -> Account:
    """The wallet row, locked for the rest of the transaction (PostgreSQL), so nothing spends it meanwhile."""
    code = ledger.account_code(USER_WALLET, user_id=user_id)
    account = db.session.scalar(select(Account).where(Account.code == code).with_for_update())
    db.session.refresh(account)
    return account


def sync(deposit: Deposit, payment: Payment, *, source: str, locked: bool = False) -> Deposit:
    """Make the deposit agree with what the gateway says, whatever order events came in. Credits only a payment
    that is this deposit's, for its exact amount and currency. locked: as for complete_deposit."""
    log(deposit, "gateway_state", {"source": source, "status": payment.status, "amount": payment.amount,
                                   "currency": payment.currency, "refunded": payment.refunded_amount})
    problems = []
    if payment.deposit_id is not None and payment.deposit_id != deposit.id:
        problems.append(f"the payment belongs to deposit #{payment.deposit_id}")
    if payment.reference != deposit.gateway_reference:
        problems.append("the payment reference differs")
    if payment.amount != deposit.amount + deposit.fee:
        problems.append(f"paid {payment.amount} instead of {deposit.amount + deposit.fee}")
    if payment.currency.upper() != deposit.currency:
        problems.append(f"paid in {payment.currency} instead of {deposit.currency}")
    if problems:
        flag(deposit, "; ".join(problems))
        return deposit
    new_charge = payment.charge_reference if payment.charge_reference and not deposit.charge_reference else None
    if payment.status == PAID and not payment.refunded_amount and deposit.status != DEPOSIT_SUCCEEDED:
        return complete_deposit(deposit, charge_reference=new_charge, locked=locked)  # one UPDATE for both
    if new_charge:
        deposit.charge_reference = new_charge
        db.session.flush()
    if payment.refunded_amount:
        return apply_refund(deposit, payment.refunded_amount)
    if payment.status == PAID:
        return complete_deposit(deposit, locked=locked)
    if payment.status in (FAILED, EXPIRED) and deposit.status == DEPOSIT_PENDING:
        return fail_deposit(deposit, "expired" if payment.status == EXPIRED else "the payment failed")
    return deposit


# the webhook inbox -------------------------------------------------------------------------------------------------
INBOX_DONE = ("processed", "ignored")


def store_event(provider: str, event, *, connection=None) -> int | None:
    """Keep a verified event once (UNIQUE provider + event id) and have it processed after the session commits.
    A duplicate is a no-op (returns None). With `connection`, see store_events."""
    from app.payments.tasks import announce_events

    if connection is not None:
        return store_events([(provider, event)], connection=connection)[0]
    [inserted] = store_events([(provider, event)], connection=db.session.connection())
    if inserted is not None:
        after_commit(announce_events, [inserted])
    return inserted


def store_events(events: list[tuple[str, object]], *, connection) -> list[int | None]:
    """Keep verified (provider, event) pairs once each, with one INSERT ... ON CONFLICT (provider, event_id) DO
    NOTHING for all of them: each one's new row id, or None for a duplicate (of a stored event or of an earlier
    one in the list). On a connection in autocommit mode (the webhook view's) the statement is its own
    transaction: the events are durable when this returns, and the caller announces them
    (tasks.announce_events)."""
    now = utcnow()
    rows = [{"provider": provider, "event_id": event.event_id[:200], "type": event.type[:100],
             "reference": (event.reference or "")[:200] or None, "payload": event.payload, "status": "received",
             "attempts": 0, "received_at": now} for provider, event in events]
    dialect = connection.dialect.name
    as_sent = dialect == "postgresql" and all(event.body for _, event in events)
    if as_sent:  # the verified body itself: byte for byte what the gateway signed, and no re-encoding
        for row, (_, event) in zip(rows, events):
            row["payload"] = event.body
    statement = _inbox_insert(dialect, as_sent)
    # a duplicate delivery (even a concurrent one) inserts nothing and returns no row
    result = connection.execute(statement, rows if len(rows) > 1 else rows[0])
    inserted = {(provider, event_id): inbox_id for inbox_id, provider, event_id in result}
    return [inserted.pop((row["provider"], row["event_id"]), None) for row in rows]


_INBOX_INSERTS: dict = {}


def _inbox_insert(dialect: str, as_sent: bool = False):
    """INSERT ... ON CONFLICT (provider, event_id) DO NOTHING RETURNING id, provider, event_id, built once per
    dialect (the values are bound per call). as_sent: the payload is bound as the body's text and cast to JSON
    by PostgreSQL."""
    statement = _INBOX_INSERTS.get((dialect, as_sent))
    if statement is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        table = WebhookInbox.__table__
        statement = insert(table)
        if as_sent:
            statement = statement.values(payload=cast(bindparam("payload", type_=Text()), table.c.payload.type))
        statement = (statement.on_conflict_do_nothing(index_elements=["provider", "event_id"])
                     .returning(table.c.id, table.c.provider, table.c.event_id))
        _INBOX_INSERTS[dialect, as_sent] = statement
    return statement


def claim_event(inbox_id: int):
    """The inbox row's id, provider, event id, type and reference, the row locked for this transaction, unless it
    is done or another transaction holds it (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite has one writer at a time
    anyway). None then."""
    rows = claim_events([inbox_id])
    return rows[0] if rows else None


def pending_events(after_id: int = 0, limit: int = 100, *, received_before=None) -> list[int]:
    """Ids of stored events not processed yet (never tried, or left behind by a lost wake-up or a killed
    worker), oldest first. Failed events are retried on their own schedule, not here."""
    query = select(WebhookInbox.id).where(WebhookInbox.status == "received", WebhookInbox.id > after_id)
    if received_before is not None:
        query = query.where(WebhookInbox.received_at < received_before)
    return list(db.session.scalars(query.order_by(WebhookInbox.id).limit(limit)))


_inbox = WebhookInbox.__table__
_FINISH = (update(_inbox).where(_inbox.c.id == bindparam("inbox_id"))
           .values(status=bindparam("status"), processed_at=bindparam("at"), error=bindparam("error"),
                   deposit_id=bindparam("deposit_id"), attempts=_inbox.c.attempts + 1))


def _finish(row, status: str, *, error: str | None = None, deposit_id: int | None = None) -> None:
    """Mark the row done and count the attempt (a Core UPDATE: pending timeline rows wait for the next flush)."""
    db.session.connection().execute(_FINISH, {"inbox_id": row.id, "status": status, "at": utcnow(), "error": error,
                                              "deposit_id": deposit_id})


def deposit_for_reference(provider: str, reference: str | None) -> Deposit | None:
    if not reference:
        return None
    return db.session.scalar(select(Deposit).where(
        Deposit.gateway == provider,
        (Deposit.gateway_reference == reference) | (Deposit.charge_reference == reference)).with_for_update())


def process_event(row) -> str:
    """Re-read the payment from the gateway and sync the deposit (idempotent: safe to run again). Marks the row
    done and counts the attempt; the caller commits."""
    from app.payments.gateways.registry import get_gateway

    deposit = deposit_for_reference(row.provider, row.reference)
    if deposit is None:
        _finish(row, "ignored", error="no deposit for this reference")
        return "ignored"
    with timeline_batch():
        log(deposit, "webhook", {"provider": row.provider, "type": row.type, "event": row.event_id})
        payment = get_gateway(row.provider).fetch_payment(deposit.gateway_reference)
        # the row first: a credit's ledger entry, which locks shared accounts, is then the last write before commit
        _finish(row, "processed", deposit_id=deposit.id)
        sync(deposit, payment, source=f"webhook {row.type}", locked=True)
    return "processed"


def claim_events(inbox_ids: list[int]) -> list:
    """claim_event for several rows at once (one statement): the rows not done and not held by another
    transaction, in id order, locked."""
    table = WebhookInbox.__table__
    return list(db.session.connection().execute(
        select(table.c.id, table.c.provider, table.c.event_id, table.c.type, table.c.reference)
        .where(table.c.id.in_(inbox_ids), table.c.status.not_in(INBOX_DONE))
        .order_by(table.c.id).with_for_update(skip_locked=True)))


_LOCKED_ACCOUNTS = "freehold_batch_accounts"


def process_events(rows) -> list[str]:
    """process_event for several claimed rows (the drainer's batch) as one unit of work; the caller commits.
    The same steps, gathered: the deposits are locked by one statement, then the ledger accounts their credits
    touch by another (both in id order, so two batches cannot deadlock), the gateway is asked about all the
    payments at once, the rows are marked done by one statement, and the timeline rows and the investors'
    notices go out together. All or nothing: any error propagates, and the caller rolls the whole batch back
    (the drainer then processes its events one by one). Returns processed | ignored for each row."""
    from app.payments.gateways.registry import get_gateway

    deposits = _lock_deposits(rows)
    found = list({deposit.id: deposit for deposit in deposits.values()}.values())
    db.session.info[_LOCKED_ACCOUNTS] = _lock_credit_accounts(found)
    try:
        references: dict[str, list[str]] = {}
        for deposit in found:
            references.setdefault(deposit.gateway, []).append(deposit.gateway_reference)
        payments = {}
        for gateway, refs in references.items():
            for reference, payment in get_gateway(gateway).fetch_payments(refs).items():
                payments[gateway, reference] = payment
        todo = [(row, deposits.get((row.provider, row.reference)) if row.reference else None) for row in rows]
        now = utcnow()
        # the rows first: the credits' ledger writes are then the last before commit
        db.session.connection().execute(_FINISH, [
            {"inbox_id": row.id, "status": "processed" if deposit else "ignored", "at": now,
             "error": None if deposit else "no deposit for this reference",
             "deposit_id": deposit.id if deposit else None} for row, deposit in todo])
        with timeline_batch(), notices_batch():
            for row, deposit in todo:
                if deposit is None:
                    continue
                log(deposit, "webhook", {"provider": row.provider, "type": row.type, "event": row.event_id})
                sync(deposit, payments[deposit.gateway, deposit.gateway_reference], source=f"webhook {row.type}",
                     locked=True)
    finally:
        db.session.info.pop(_LOCKED_ACCOUNTS, None)
    return ["processed" if deposit else "ignored" for _, deposit in todo]


def _lock_deposits(rows) -> dict[tuple[str, str], Deposit]:
    """The deposits the rows are about, locked in id order: (provider, reference) -> deposit, by its checkout
    reference and by its charge reference (as deposit_for_reference matches them)."""
    wanted: dict[str, set[str]] = {}
    for row in rows:
        if row.reference:
            wanted.setdefault(row.provider, set()).add(row.reference)
    found: dict[tuple[str, str], Deposit] = {}
    for provider, refs in wanted.items():
        refs = sorted(refs)
        for deposit in db.session.scalars(select(Deposit).where(
                Deposit.gateway == provider,
                Deposit.gateway_reference.in_(refs) | Deposit.charge_reference.in_(refs))
                .order_by(Deposit.id).with_for_update()):
            for reference in (deposit.gateway_reference, deposit.charge_reference):
                if reference in refs:
                    found.setdefault((provider, reference), deposit)
    return found


def _lock_credit_accounts(deposits: list[Deposit]) -> dict[str, Account]:
    """The wallets, clearing accounts and fee revenue that crediting these deposits would post to, locked in id
    order (those that exist; the rest are created on first use): code -> account."""
    codes = set()
    for deposit in deposits:
        codes.add(ledger.account_code(USER_WALLET, user_id=deposit.user_id))
        codes.add(ledger.account_code(GATEWAY_CLEARING, ref=deposit.gateway))
        if deposit.fee:
            codes.add(ledger.account_code(FEE_REVENUE))
    if not codes:
        return {}
    return {account.code: account for account in db.session.scalars(
        select(Account).where(Account.code.in_(sorted(codes))).order_by(Account.id).with_for_update())}


def confirm_redirect(deposit: Deposit, user, reference: str | None) -> Deposit:
    """The investor came back from checkout: ask the gateway about THIS deposit's payment. Another deposit's or
    another investor's reference changes nothing."""
    from app.payments.gateways.registry import get_gateway

    if deposit.user_id != user.id:
        raise NotFound("no such deposit")
    if deposit.status != DEPOSIT_PENDING or not deposit.gateway_reference:
        return deposit
    if reference != deposit.gateway_reference:
        log(deposit, "redirect_mismatch", {"given": (reference or "")[:200]})
        return deposit
    gateway = get_gateway(deposit.gateway)
    if not gateway.automatic:
        return deposit
    db.session.refresh(deposit, with_for_update=True)  # as a webhook does: one sync of a deposit at a time
    if deposit.status != DEPOSIT_PENDING:
        return deposit
    return sync(deposit, gateway.fetch_payment(deposit.gateway_reference), source="redirect", locked=True)


# bank transfers --------------------------------------------------------------------------------------------------
def attach_proof(deposit: Deposit, user, data: bytes) -> Deposit:
    from app.core.storage import get_storage, new_key
    from app.core.uploads import UploadRejected, clean_upload

    if deposit.user_id != user.id:
        raise NotFound("no such deposit")
    if deposit.gateway != "bank_transfer" or deposit.status != DEPOSIT_PENDING:
        raise Conflict("proof can only be added to a pending bank transfer")
    try:
        clean = clean_upload(data)
    except UploadRejected as exc:
        raise ValidationError("the proof is not acceptable", {"proof": [exc.message]}) from None
    key = new_key(f"deposits/{user.id}", clean.extension)
    get_storage().put(key, clean.data, clean.content_type)
    deposit.proof_key, deposit.proof_content_type = key, clean.content_type
    db.session.flush()
    log(deposit, "proof_added", {"content_type": clean.content_type, "size": clean.size}, actor_id=user.id)
    return deposit


def approve_bank_transfer(deposit: Deposit, *, actor) -> str:
    """Finance confirms the money arrived. Above the threshold two different people must approve."""
    if not has_permission(actor, "deposits.approve"):
        raise Forbidden("approving deposits needs deposits.approve")
    if deposit.gateway != "bank_transfer":
        raise Conflict("only bank transfers are approved by hand")
    if deposit.status != DEPOSIT_PENDING:
        raise IllegalTransition(f"deposit #{deposit.id} is {deposit.status}")
    if deposit.user_id == actor.id:
        raise Forbidden("nobody approves their own deposit")
    threshold = settings_for("bank_transfer").second_approval_above
    if threshold is not None and deposit.amount > threshold:
        if deposit.first_approver_id is None:
            claimed = db.session.execute(
                update(Deposit).where(Deposit.id == deposit.id, Deposit.first_approver_id.is_(None))
                .values(first_approver_id=actor.id, first_approved_at=utcnow())
                .execution_options(synchronize_session=False)).rowcount
            db.session.refresh(deposit)
            if claimed:
                log(deposit, "first_approval", {}, actor_id=actor.id)
                audit.record("deposits.first_approval", actor=actor, target=deposit)
                return "awaiting_second_approval"
        if deposit.first_approver_id == actor.id:
            raise Forbidden("a second finance user must approve this deposit")
    deposit.decided_by_id = actor.id
    complete_deposit(deposit, actor_id=actor.id)
    audit.record("deposits.approve", actor=actor, target=deposit,
                 after={"amount": deposit.amount, "first_approver": deposit.first_approver_id})
    return "credited"


def reject_bank_transfer(deposit: Deposit, *, actor, reason: str) -> None:
    if not has_permission(actor, "deposits.approve"):
        raise Forbidden("rejecting deposits needs deposits.approve")
    if not reason or not reason.strip():
        raise ValidationError("a reason is required", {"reason": ["Say why: the investor is told."]})
    deposit.decided_by_id = actor.id
    fail_deposit(deposit, reason.strip(), actor_id=actor.id)
    audit.record("deposits.reject", actor=actor, target=deposit, reason=reason.strip())


def refund(deposit: Deposit, amount: int | None, *, actor, reason: str) -> Deposit:
    """Finance refunds a deposit (all of it by default) through its gateway, then the ledger follows."""
    from app.payments.gateways.registry import get_gateway

    if not has_permission(actor, "deposits.approve"):
        raise Forbidden("refunds need deposits.approve")
    if not reason or not reason.strip():
        raise ValidationError("a reason is required", {"reason": ["Say why."]})
    if deposit.status != DEPOSIT_SUCCEEDED:
        raise IllegalTransition(f"deposit #{deposit.id} is {deposit.status}")
    charged = deposit.amount + deposit.fee
    amount = charged - deposit.refunded_amount if amount is None else amount
    if not 0 < amount <= charged - deposit.refunded_amount:
        raise ValidationError("amount outside what can be refunded", {"amount": ["Too much."]})
    gateway = get_gateway(deposit.gateway)
    total = deposit.refunded_amount + amount
    if gateway.automatic:
        gateway.refund(gateway.fetch_payment(deposit.gateway_reference), amount,
                       idempotency_key=f"freehold-refund-{deposit.id}-{total}")
    audit.record("deposits.refund", actor=actor, target=deposit, after={"amount": amount}, reason=reason.strip())
    return apply_refund(deposit, total, actor_id=actor.id)


def resolve_attention(deposit: Deposit, *, actor, note: str) -> None:
    if not note or not note.strip():
        raise ValidationError("say how it was resolved", {"note": ["Required."]})
    log(deposit, "attention_resolved", {"note": note.strip(), "was": deposit.attention_reason}, actor_id=actor.id)
    audit.record("deposits.attention_resolved", actor=actor, target=deposit,
                 before={"reason": deposit.attention_reason}, reason=note.strip())
    deposit.attention_reason, deposit.attention_at = None, None
    db.session.flush()


# housekeeping ----------------------------------------------------------------------------------------------------
def expire_abandoned(now=None) -> int:
    now = now or utcnow()
    stale = list(db.session.scalars(select(Deposit).where(
        Deposit.status == DEPOSIT_PENDING, Deposit.created_at < now - ABANDONED_AFTER,
        Deposit.proof_key.is_(None))))
    for deposit in stale:
        fail_deposit(deposit, "expired")
    return len(stale)


def reconcile(days: int = 3) -> int:
    """Match the gateways' completed payments to deposits; record each difference once for finance."""
    from app.payments.gateways.registry import get_gateway

    since = utcnow() - timedelta(days=days)
    found = 0
    for name in GATEWAYS:
        gateway = get_gateway(name)
        if not gateway.automatic or not gateway.enabled():
            continue
        paid = {p.reference: p for p in gateway.list_paid(since)}
        credited = {d.gateway_reference: d for d in db.session.scalars(select(Deposit).where(
            Deposit.gateway == name, Deposit.status.in_((DEPOSIT_SUCCEEDED, DEPOSIT_REFUNDED)),
            Deposit.completed_at >= since))}
        for reference, payment in paid.items():
            deposit = credited.get(reference) or db.session.scalar(
                select(Deposit).where(Deposit.gateway == name, Deposit.gateway_reference == reference))
            if deposit is None or deposit.status not in (DEPOSIT_SUCCEEDED, DEPOSIT_REFUNDED):
                found += _record_item(name, reference, "paid_not_credited", deposit, payment.amount, None,
                                      payment.currency)
            elif payment.amount != deposit.amount + deposit.fee:
                found += _record_item(name, reference, "amount_mismatch", deposit, payment.amount,
                                      deposit.amount + deposit.fee, payment.currency)
        for reference, deposit in credited.items():
            if reference not in paid and deposit.status == DEPOSIT_SUCCEEDED:
                found += _record_item(name, reference, "credited_not_paid", deposit, None,
                                      deposit.amount + deposit.fee, deposit.currency)
    return found


def _record_item(provider, reference, kind, deposit, gateway_amount, ledger_amount, currency) -> int:
    exists = db.session.scalar(select(ReconciliationItem.id).where(
        ReconciliationItem.provider == provider, ReconciliationItem.reference == reference,
        ReconciliationItem.kind == kind))
    if exists is not None:
        return 0
    db.session.add(ReconciliationItem(provider=provider, reference=reference, kind=kind,
                                      deposit_id=deposit.id if deposit else None, gateway_amount=gateway_amount,
                                      ledger_amount=ledger_amount, currency=currency.upper()))
    db.session.flush()
    return 1


def resolve_item(item: ReconciliationItem, *, actor, note: str) -> None:
    if item.resolved_at is not None:
        raise IllegalTransition("already resolved")
    if not note or not note.strip():
        raise ValidationError("say how it was resolved", {"note": ["Required."]})
    item.resolved_at, item.resolved_by_id, item.resolution = utcnow(), actor.id, note.strip()
    db.session.flush()
    audit.record("reconciliation.resolve", actor=actor, target=item, after={"kind": item.kind,
                                                                          "reference": item.reference},
                 reason=note.strip())
