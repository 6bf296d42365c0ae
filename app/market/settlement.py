"""Settlement: one trade, one transaction. Nothing is created, lost or spent twice:

1. the units are claimed from the listing by a conditional UPDATE (open, not expired, enough units left, no
   trading halt in force): two buyers can never take the same unit; the last units sold close the listing;
2. the seller's holding is locked (SELECT ... FOR UPDATE);
3. the Trade row is written with its unique idempotency key (a replay of the key finds the first trade);
4. one balanced ledger entry (kind `market_trade`, the trade's key): the buyer pays amount + buyer's fee (from the
   wallet, which the ledger never lets go below zero, or from the offer's hold, any excess back to the wallet);
   the seller receives amount - seller's fee; fee revenue receives both fees;
5. the units, their nominal value and their share of escrow move to a new holding of the buyer, and the return
   calendar's later periods are split (investing.transfer_units).
Lock order: the listing, the seller's holding, the listing's offers (a sell-out releases them), ledger accounts in
id order. A caller holding an offer's row lock (accepting an offer) should lock the listing row first.
Everything runs in a savepoint: a refusal leaves nothing behind."""
from __future__ import annotations

from sqlalchemy import case, exists, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import lazyload
from sqlalchemy.orm.attributes import set_committed_value

from app.core.db import UTCDateTime, after_commit, utcnow
from app.core.errors import Conflict, IdempotencyConflict, InsufficientFunds, ValidationError
from app.core.money import Money
from app.extensions import db
from app.investing import services as investing
from app.investing.models import Investment
from app.ledger import services as ledger
from app.ledger.models import FEE_REVENUE, USER_WALLET
from app.market import fees, notices, rules
from app.market.models import EXPIRED, OPEN, SOLD, Listing, Trade, TradingHalt
from app.market.releasing import release_live_offers  # not offers.py: offers import settlement
from app.payments.services import guard_card_funds, relock_card_funds

TRADE_KIND = "market_trade"
SURVEIL_TASK = "market.surveil_trade"


def trade_by_key(key: str) -> Trade | None:
    return db.session.scalar(select(Trade).where(Trade.idempotency_key == key))


def replayed(trade: Trade, listing: Listing, buyer, units: int, price: int) -> Trade:
    if (trade.listing_id, trade.buyer_id, trade.units, trade.price_per_unit) != (listing.id, buyer.id, units, price):
        raise IdempotencyConflict("this idempotency key was already used for a different trade")
    return trade


def _refusal(listing: Listing, units: int) -> Conflict:
    """Why the units could not be claimed, read after the claim failed."""
    db.session.refresh(listing)
    if listing.status != OPEN:
        return Conflict(f"this listing is {listing.status}")
    if listing.expires_at <= utcnow():
        return Conflict("this listing has expired")
    if rules.halt_in_force(listing.property_id) is not None:
        return Conflict(f"trading in {listing.property.title} is halted")
    return Conflict(f"only {listing.units_remaining} units of this listing remain",
                    {"units": [f"At most {listing.units_remaining}."]})


def _claim(listing: Listing, units: int, now) -> None:
    """The conditional UPDATE; what it left (units, status, close) is set on `listing` from its RETURNING."""
    sells_out = Listing.units_remaining == units
    halted = exists().where(TradingHalt.property_id == listing.property_id, TradingHalt.resumed_at.is_(None))
    row = db.session.execute(
        update(Listing).where(Listing.id == listing.id, Listing.status == OPEN, Listing.expires_at > now,
                              Listing.units_remaining >= units, ~halted)
        .values(units_remaining=Listing.units_remaining - units,
                status=case((sells_out, SOLD), else_=OPEN),
                closed_at=case((sells_out, literal(now, UTCDateTime())), else_=None),
                close_reason=case((sells_out, "every unit sold"), else_=None))
        .returning(Listing.units_remaining, Listing.status, Listing.closed_at, Listing.close_reason)
        .execution_options(synchronize_session=False)).first()
    if row is None:
        raise _refusal(listing, units)
    for name, value in zip(("units_remaining", "status", "closed_at", "close_reason"), row, strict=True):
        set_committed_value(listing, name, value)


def _pay(trade: Trade, quote: fees.Quote, *, buyer, hold, memo: str, buyer_wallet=None):
    """The trade's one ledger entry; returns its id. `buyer_wallet`: the buyer's wallet when already read."""
    seller_wallet = ledger.user_account(trade.seller_id, USER_WALLET)
    if buyer_wallet is None:
        buyer_wallet = ledger.user_account(buyer.id, USER_WALLET)
    fee_total = quote.buyer_fee + quote.seller_fee
    credits = [(seller_wallet, quote.seller_net)]
    if fee_total:
        credits.append((ledger.platform_account(FEE_REVENUE), fee_total))
    if hold is None:
        try:
            entry = ledger.post([(buyer_wallet, -quote.buyer_total), *credits], key=trade.idempotency_key,
                                kind=TRADE_KIND, memo=memo, actor_id=buyer.id)
        except InsufficientFunds:
            raise _short(buyer_wallet, quote) from None
        return entry.id
    if hold.user_id != buyer.id or hold.amount < quote.buyer_total:
        raise Conflict("the money held for this offer does not cover the trade")
    excess = hold.amount - quote.buyer_total
    if excess:
        credits.append((buyer_wallet, excess))
    record = ledger.settle_split(hold, credits, key=trade.idempotency_key, memo=memo, actor_id=buyer.id,
                                 kind=TRADE_KIND)
    return record.resolution_entry_id


def _short(wallet, quote: fees.Quote) -> InsufficientFunds:
    db.session.refresh(wallet)
    need, have = Money(quote.buyer_total, quote.currency), Money(max(wallet.balance, 0), quote.currency)
    return InsufficientFunds(f"your wallet holds {have.display()} and this purchase costs {need.display()} "
                             "(price plus fee): add money to your wallet first",
                             {"units": [f"Costs {need.display()}; the wallet holds {have.display()}."]})


def _check_key(key) -> None:
    if not isinstance(key, str) or not key.strip() or len(key) > 200:
        raise ValidationError("a trade needs an idempotency key of 1 to 200 characters")


def settle_trade(listing: Listing, *, buyer, units: int, price_per_unit: int, key: str, hold=None, offer=None,
                 ip: str | None = None) -> Trade:
    """Settle `units` of `listing` at `price_per_unit` to `buyer` (see the module's docstring). Replaying `key`
    returns the first trade; the same key for another trade is a 409."""
    fees.check_units(units)
    _check_key(key)
    existing = trade_by_key(key)
    if existing is not None:
        return replayed(existing, listing, buyer, units, price_per_unit)
    return settle_new(listing, buyer=buyer, units=units, price_per_unit=price_per_unit, key=key, hold=hold,
                      offer=offer, ip=ip)


def settle_new(listing: Listing, *, buyer, units: int, price_per_unit: int, key: str, hold=None, offer=None,
               ip: str | None = None) -> Trade:
    """settle_trade once the caller has looked `key` up and found no trade (a concurrent settlement of the same
    key is still caught by the key's unique index and replayed)."""
    fees.check_units(units)
    _check_key(key)
    if buyer.id == listing.seller_id:
        raise Conflict("a seller cannot buy their own units")
    quote = fees.quote(listing, units, price_per_unit)
    rules.check_fee_below(quote)
    wallet = None
    if hold is None:
        wallet = ledger.user_account(buyer.id, USER_WALLET)
        if wallet.balance < quote.buyer_total:  # the ledger refuses it anyway; say it before claiming anything
            raise _short(wallet, quote)
    try:
        with db.session.begin_nested():
            trade = _settle(listing, quote, buyer=buyer, key=key, hold=hold, offer=offer, ip=ip, wallet=wallet)
    except IntegrityError:
        existing = trade_by_key(key)  # the same key settled by a concurrent transaction
        if existing is None:
            raise
        return replayed(existing, listing, buyer, units, price_per_unit)
    except Conflict:
        existing = trade_by_key(key)
        if existing is not None:
            return replayed(existing, listing, buyer, units, price_per_unit)
        raise
    _announce(trade, listing, quote)
    return trade


def _settle(listing: Listing, quote: fees.Quote, *, buyer, key: str, hold, offer, ip, wallet) -> Trade:
    now = utcnow()
    _claim(listing, quote.units, now)
    seller_inv = db.session.scalars(select(Investment).where(Investment.id == listing.investment_id)
                                    .options(lazyload(Investment.installments))  # a trade needs none of them
                                    .with_for_update().execution_options(populate_existing=True)).one()
    trade = Trade(listing_id=listing.id, offer_id=offer.id if offer is not None else None,
                  property_id=listing.property_id, seller_id=listing.seller_id, buyer_id=buyer.id,
                  seller_investment_id=seller_inv.id, currency=listing.currency, units=quote.units,
                  unit_price=listing.unit_price, price_per_unit=quote.price_per_unit, amount=quote.amount,
                  buyer_fee=quote.buyer_fee, seller_fee=quote.seller_fee, idempotency_key=key, settled_at=now)
    db.session.add(trade)
    db.session.flush()
    p = listing.property
    memo = f"Market trade #{trade.id}: {quote.units} units of {p.title}"
    entry_id = _pay(trade, quote, buyer=buyer, hold=hold, memo=memo, buyer_wallet=wallet)
    if hold is None:  # card money inside its hold is not spent on the market (an offer's hold was checked)
        guard_card_funds(buyer.id, quote.buyer_total, debited=True, field="units", market=True)
    # a seller who invested held card money gets it back inside the hold: it cannot leave round a holding
    relock_card_funds(trade.seller_id, quote.seller_net)
    bought = investing.transfer_units(
        seller_inv, buyer_id=buyer.id, units=quote.units, unit_price=listing.unit_price, cost=quote.buyer_total,
        on=now.date(), at=now, documents_version=investing.offering_version(p), ip=ip, entry_id=entry_id)
    trade.entry_id = entry_id
    trade.buyer_investment_id = bought.id
    db.session.flush()
    if listing.status == SOLD:
        release_live_offers(listing, "the listing sold out", EXPIRED)
    return trade


def _announce(trade: Trade, listing: Listing, quote: fees.Quote) -> None:
    cur = quote.currency
    common = {"title": listing.property.title, "units": trade.units, "currency": cur,
              "price": notices.amount(trade.price_per_unit, cur), "amount": notices.amount(trade.amount, cur)}
    notices.tell([trade.seller], "market.sold", link=f"/market/listings/{listing.id}", **common,
                 fee=notices.amount(trade.seller_fee, cur), net=notices.amount(quote.seller_net, cur),
                 remaining=listing.units_remaining)
    notices.tell([trade.buyer], "market.bought", link=f"/portfolio/{trade.buyer_investment_id}", **common,
                 fee=notices.amount(trade.buyer_fee, cur), total=notices.amount(quote.buyer_total, cur))
    after_commit(_surveil, trade.id)


def _surveil(trade_id: int) -> None:
    # by name: the task lives above the services (tasks import them); sent only where it is registered
    from celery import current_app  # the Celery app the tasks registered with, known only at run time

    task = current_app.tasks.get(SURVEIL_TASK)
    if task is not None:
        task.apply_async(args=(trade_id,))
