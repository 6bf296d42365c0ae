"""The card-funds hold: money credited by a card deposit (CARD_GATEWAYS, not bank transfers) stays inside a hold
for `card_funds.hold_days` days, so that a chargeback cannot follow money already gone. During the hold it can be
invested in offerings, but not paid out and not spent on the market (which would let it leave through an
accomplice).

Each credited card deposit writes one CardFundLock (amount, remaining, releases_at) in the credit's transaction.
Investing consumes the oldest unreleased locks first (invested money is no longer inside the hold); a refund or a
dispute of the deposit takes what left from its lock; proceeds of selling on the market put back what had been
invested during the hold. What may leave the wallet now:

    withdrawable = max(0, wallet available - sum(remaining of the locks not released yet))

Every change to the locks and every check runs with the user's wallet row locked (the ledger's posting locks it,
payout requests lock it first), so two requests at once cannot together take more than is withdrawable.
Services flush and never commit."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, case, func, select, update

from app.core.db import utcnow
from app.core.errors import Conflict, InsufficientFunds
from app.core.money import Money
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import USER_WALLET, Account
from app.payments.models import CardFundLock, Deposit
from app.settings import services as money_settings

__all__ = ("CARD_GATEWAYS", "Withdrawable", "consume", "guard", "held_minor", "hold_days", "is_card", "lock_deposit",
           "locks_of", "relock", "take_back", "withdrawable")

# the one place that says which gateways take card (or card-like, reversible) payments
CARD_GATEWAYS = frozenset({"stripe", "razorpay", "paypal"})
MAX_DATES_SAID = 3


def is_card(gateway: str) -> bool:
    return gateway in CARD_GATEWAYS


def hold_days() -> int:
    """The hold in force (the four-eyes setting, never above CARD_FUNDS_HOLD_DAYS: the settings service caps it)."""
    return int(money_settings.value("card_funds.hold_days"))


# writing -----------------------------------------------------------------------------------------------------------
def lock_deposit(deposit: Deposit, *, now: datetime | None = None) -> CardFundLock | None:
    """Put a card deposit's credit inside the hold (None for a bank transfer). Called by the credit itself, once
    (the deposit's transition to succeeded is claimed once), in its transaction; flushed with it."""
    if not is_card(deposit.gateway) or deposit.amount <= 0:
        return None
    now = now or utcnow()
    lock = CardFundLock(user_id=deposit.user_id, deposit_id=deposit.id, amount=deposit.amount,
                        remaining=deposit.amount, invested=0, currency=deposit.currency,
                        releases_at=now + timedelta(days=hold_days()), created_at=now)
    db.session.add(lock)
    return lock


def _unreleased(user_id: int, now: datetime):
    return (CardFundLock.user_id == user_id, CardFundLock.releases_at > now)


def consume(user_id: int, amount: int, *, now: datetime | None = None) -> int:
    """Money that left the wallet for an offering: it comes out of the oldest unreleased locks first (it is no
    longer inside the hold). Each lock moves by a conditional UPDATE on its remaining. Returns how much of
    `amount` was card money inside the hold."""
    if amount <= 0:
        return 0
    now = now or utcnow()
    rows = db.session.execute(select(CardFundLock.id, CardFundLock.remaining)
                              .where(*_unreleased(user_id, now), CardFundLock.remaining > 0)
                              .order_by(CardFundLock.releases_at, CardFundLock.id)).all()
    if not rows:
        return 0
    left = amount
    for lock_id, remaining in rows:
        take = min(left, remaining)
        moved = cast("CursorResult[Any]", db.session.execute(
            update(CardFundLock).where(CardFundLock.id == lock_id, CardFundLock.remaining >= take)
            .values(remaining=CardFundLock.remaining - take, invested=CardFundLock.invested + take)
            .execution_options(synchronize_session=False))).rowcount
        if moved != 1:
            raise Conflict("your card deposits changed meanwhile: please try again")
        left -= take
        if not left:
            break
    _expire_locks()
    return amount - left


def relock(user_id: int, amount: int, *, now: datetime | None = None) -> int:
    """Money coming back to the wallet from something bought with held card money (the proceeds of selling on
    the market): as much of it as was invested out of unreleased locks goes back inside them, so card money
    cannot leave before its hold ends by going round through a holding. Returns how much was put back."""
    if amount <= 0:
        return 0
    now = now or utcnow()
    rows = db.session.execute(select(CardFundLock.id, CardFundLock.invested)
                              .where(*_unreleased(user_id, now), CardFundLock.invested > 0)
                              .order_by(CardFundLock.releases_at, CardFundLock.id)).all()
    left = amount
    for lock_id, invested in rows:
        put = min(left, invested)
        moved = cast("CursorResult[Any]", db.session.execute(
            update(CardFundLock).where(CardFundLock.id == lock_id, CardFundLock.invested >= put,
                                       CardFundLock.remaining + put <= CardFundLock.amount)
            .values(remaining=CardFundLock.remaining + put, invested=CardFundLock.invested - put)
            .execution_options(synchronize_session=False))).rowcount
        if moved != 1:
            continue  # taken back meanwhile (refunded): nothing to refill there
        left -= put
        if not left:
            break
    if left != amount:
        _expire_locks()
    return amount - left


def take_back(deposit_id: int, amount: int) -> None:
    """`amount` of a card deposit left again (refunded, or held or lost in a dispute): its lock keeps only the
    rest (never below zero). Nothing for a deposit without a lock. For the refund and dispute services."""
    if amount <= 0:
        return
    db.session.execute(update(CardFundLock).where(CardFundLock.deposit_id == deposit_id)
                       .values(remaining=case((CardFundLock.remaining > amount, CardFundLock.remaining - amount),
                                              else_=0))
                       .execution_options(synchronize_session=False))
    _expire_locks()


def _expire_locks() -> None:
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, CardFundLock):
            db.session.expire(obj, ["remaining"])


# reading -----------------------------------------------------------------------------------------------------------
def held_minor(user_id: int, *, now: datetime | None = None) -> int:
    """Card money of the user still inside its hold, in minor units."""
    now = now or utcnow()
    return int(db.session.scalar(select(func.coalesce(func.sum(CardFundLock.remaining), 0))
                                 .where(*_unreleased(user_id, now), CardFundLock.remaining > 0)) or 0)


def locks_of(user_id: int, *, now: datetime | None = None) -> list[CardFundLock]:
    """The user's locks still inside the hold with money in them, soonest released first (the console)."""
    now = now or utcnow()
    return list(db.session.scalars(select(CardFundLock).where(*_unreleased(user_id, now), CardFundLock.remaining > 0)
                                   .order_by(CardFundLock.releases_at, CardFundLock.id)))


class Withdrawable:
    """What may leave the wallet now, and what more becomes free on which day (UTC), as the holds end."""

    def __init__(self, now: Money, later: list[tuple[date, Money]], held: Money):
        self.now, self.later, self.held = now, later, held

    @property
    def hold_days(self) -> int:
        return hold_days()

    def __iter__(self):  # (now, later), as a pair
        return iter((self.now, self.later))

    def sentence(self, verb: str = "withdraw", where: str = "") -> str:
        """"You can withdraw USD 120.00 now; USD 300.00 more from 10 Dec 2026 (card deposits are held for 7
        days)"."""
        text = f"You can {verb} {self.now.display()}{where} now"
        if self.later:
            parts = [f"{amount.display()} more from {day.day} {day:%b %Y}" for day, amount in
                     self.later[:MAX_DATES_SAID]]
            text += "; " + ", ".join(parts)
            if len(self.later) > MAX_DATES_SAID:
                text += " and the rest later"
            text += f" (card deposits are held for {self.hold_days} days)"
        return text


def _balance(user_id: int, *, lock: bool = False) -> tuple[int, str]:
    code = ledger.account_code(USER_WALLET, user_id=user_id)
    query = select(Account.balance, Account.currency).where(Account.code == code)
    row = db.session.execute(query.with_for_update() if lock else query).first()
    if row is None:
        return 0, ledger.platform_currency()
    return int(row[0]), row[1]


def _split(available: int, currency: str, user_id: int, now: datetime) -> Withdrawable:
    locks = db.session.execute(select(CardFundLock.releases_at, CardFundLock.remaining)
                               .where(*_unreleased(user_id, now), CardFundLock.remaining > 0)
                               .order_by(CardFundLock.releases_at)).all()
    held = sum(int(remaining) for _, remaining in locks)
    free_now = max(0, available - held)
    later: dict[date, int] = {}
    still, free = held, free_now
    for releases_at, remaining in locks:
        still -= int(remaining)
        after = max(0, available - still)
        if after > free:
            day = releases_at.date()
            later[day] = later.get(day, 0) + after - free
        free = after
    return Withdrawable(Money(free_now, currency), [(day, Money(v, currency)) for day, v in later.items()],
                        Money(held, currency))


def withdrawable(user_id: int, *, now: datetime | None = None) -> Withdrawable:
    """The wallet's withdrawable amount now and the (day, amount) that become free later. Unpacks as
    (Money now, [(date, Money)])."""
    available, currency = _balance(user_id)
    return _split(available, currency, user_id, now or utcnow())


def guard(user_id: int, cost: int, *, debited: bool = False, field: str = "amount", market: bool = False,
          now: datetime | None = None) -> None:
    """Refuse (422, nothing written once the unit of work rolls back) a payout or a market purchase of `cost`
    minor units above what is withdrawable. The wallet row is locked here (if the caller has not already), so the
    check and the debit are one step for concurrent requests. debited: the caller has already taken `cost` from
    the wallet in this transaction (the check is then that the held card money is still covered)."""
    available, currency = _balance(user_id, lock=True)
    if debited:
        available += cost
    now = now or utcnow()
    if cost <= max(0, available - held_minor(user_id, now=now)):
        return
    room = _split(available, currency, user_id, now)
    sentence = room.sentence("spend", " on the market") if market else room.sentence()
    raise InsufficientFunds(sentence, {field: [sentence + "."]})
