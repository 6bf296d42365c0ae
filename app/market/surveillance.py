"""Market surveillance: every settled trade is checked (by the "market.surveil_trade" task, after its commit) for
what compliance must look at, and each finding is one flag per (trade, kind):

- shared_ip / shared_device: buyer and seller signed in (successful sign-ins or sessions, the last 90 days before
  the trade) from the same address, or with the same browser (user agent string);
- far_from_nominal: the price per unit more than 20 % away from the unit's nominal value;
- far_from_last: the price per unit more than 20 % away from the property's previous trade;
- round_trip: the buyer sold units of the same property to the seller in the 30 days before (the units come back
  to a seller).

Compliance reviews each flag (clear or escalate, with a note); nobody reviews a trade they are a party to.
Services flush, never commit."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import lazyload

from app.auth import services as auth
from app.core.audit import record
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, NotFound, ValidationError
from app.core.money import Money
from app.core.security import has_permission
from app.extensions import db
from app.market.models import (
    FLAG_CLEARED,
    FLAG_ESCALATED,
    FLAG_FAR_FROM_LAST,
    FLAG_FAR_FROM_NOMINAL,
    FLAG_OPEN,
    FLAG_ROUND_TRIP,
    FLAG_SHARED_DEVICE,
    FLAG_SHARED_IP,
    SurveillanceFlag,
    Trade,
)
from app.notifications.services import notify

FAR_BPS = 2_000  # "far": more than 20 % from the reference price
ROUND_TRIP_DAYS = 30
SIGN_IN_LOOKBACK_DAYS = 90
NOTE_MAX = 2_000
DETAIL_MAX = 500

# a review: open -> cleared or escalated; an escalated flag is cleared once its case is closed
OUTCOMES = {"clear": FLAG_CLEARED, "cleared": FLAG_CLEARED, "escalate": FLAG_ESCALATED, "escalated": FLAG_ESCALATED}
FLAG_TRANSITIONS = {FLAG_OPEN: {FLAG_CLEARED, FLAG_ESCALATED}, FLAG_ESCALATED: {FLAG_CLEARED}, FLAG_CLEARED: set()}

KIND_LABELS = {
    FLAG_SHARED_IP: "Buyer and seller share a sign-in address",
    FLAG_SHARED_DEVICE: "Buyer and seller share a device (browser)",
    FLAG_FAR_FROM_NOMINAL: "Price far from the unit's nominal value",
    FLAG_FAR_FROM_LAST: "Price far from the last trade",
    FLAG_ROUND_TRIP: "Units back to their seller within 30 days",
}


def _far(price: int, reference: int) -> bool:
    """More than FAR_BPS away from `reference` (exact integer arithmetic)."""
    return abs(price - reference) * 10_000 > FAR_BPS * reference


def _pct(price: int, reference: int) -> str:
    return f"{(price - reference) * 100 / reference:+.1f} %"


def _money(minor: int, trade: Trade) -> str:
    return Money(minor, trade.currency).display()


def _listed(values: tuple[str, ...]) -> str:
    return ", ".join(values)


def previous_trade(trade: Trade) -> Trade | None:
    """The property's trade settled just before this one."""
    earlier = or_(Trade.settled_at < trade.settled_at, and_(Trade.settled_at == trade.settled_at, Trade.id < trade.id))
    return db.session.scalars(select(Trade).where(Trade.property_id == trade.property_id, Trade.id != trade.id, earlier)
                              .order_by(Trade.settled_at.desc(), Trade.id.desc()).limit(1)).first()


def _round_trip(trade: Trade) -> Trade | None:
    """A trade of the same property, in the 30 days before this one, where this trade's buyer sold to its seller."""
    since = trade.settled_at - timedelta(days=ROUND_TRIP_DAYS)
    return db.session.scalars(select(Trade).where(
        Trade.property_id == trade.property_id, Trade.id != trade.id,
        Trade.seller_id == trade.buyer_id, Trade.buyer_id == trade.seller_id,
        Trade.settled_at >= since, Trade.settled_at <= trade.settled_at).order_by(Trade.settled_at.desc()).limit(1)
    ).first()


def findings(trade: Trade) -> dict[str, str]:
    """Every kind of flag the trade deserves, with its detail (plain text)."""
    found: dict[str, str] = {}
    shared = auth.shared_sign_ins(trade.buyer_id, trade.seller_id,
                                  since=trade.settled_at - timedelta(days=SIGN_IN_LOOKBACK_DAYS))
    if shared.ips:
        found[FLAG_SHARED_IP] = f"Both signed in from {_listed(shared.ips)}."
    if shared.user_agents:
        found[FLAG_SHARED_DEVICE] = f"Both signed in with {_listed(shared.user_agents)}."
    price = trade.price_per_unit
    if _far(price, trade.unit_price):
        found[FLAG_FAR_FROM_NOMINAL] = (f"{_money(price, trade)} a unit against a nominal value of "
                                        f"{_money(trade.unit_price, trade)} ({_pct(price, trade.unit_price)}).")
    last = previous_trade(trade)
    if last is not None and _far(price, last.price_per_unit):
        found[FLAG_FAR_FROM_LAST] = (f"{_money(price, trade)} a unit against {_money(last.price_per_unit, trade)} in "
                                     f"trade #{last.id} ({_pct(price, last.price_per_unit)}).")
    back = _round_trip(trade)
    if back is not None:
        found[FLAG_ROUND_TRIP] = (f"The buyer sold {back.units} unit(s) of this property to the seller in trade "
                                  f"#{back.id} on {back.settled_at:%Y-%m-%d}.")
    return {kind: detail[:DETAIL_MAX] for kind, detail in found.items()}


def flag_trade(trade: Trade) -> list[SurveillanceFlag]:
    """Raise the trade's flags, each kind once whatever how often this runs (UNIQUE(trade_id, kind); a concurrent
    run's row wins and is not raised twice). Returns the flags this call raised; compliance is told of them."""
    found = findings(trade)
    existing = set(db.session.scalars(select(SurveillanceFlag.kind).where(SurveillanceFlag.trade_id == trade.id)))
    raised = []
    for kind, detail in found.items():
        if kind in existing:
            continue
        flag = SurveillanceFlag(trade_id=trade.id, kind=kind, detail=detail, status=FLAG_OPEN)
        try:
            with db.session.begin_nested():  # a savepoint: a concurrent run may have raised it meanwhile
                db.session.add(flag)
        except IntegrityError:
            continue
        raised.append(flag)
    if raised:
        notify(None, "market.flagged", link=f"/admin/market_flags/details/?id={raised[0].id}", trade_id=trade.id,
               kinds=[KIND_LABELS[f.kind] for f in raised], count=len(raised))
    return raised


def review_flag(actor, flag_id: int, outcome: str, note: str | None) -> SurveillanceFlag:
    """Clear or escalate a flag with a note (required). Only market.surveillance holders, never on a trade the
    reviewer is a party to; an open flag is cleared or escalated, an escalated one cleared. Audited."""
    if not has_permission(actor, "market.surveillance"):
        raise Forbidden("reviewing market flags needs the market.surveillance permission")
    status = OUTCOMES.get((outcome or "").strip().lower())
    if status is None:
        raise ValidationError("choose clear or escalate", {"outcome": ["Clear or escalate."]})
    text = (note or "").strip()
    if not text:
        raise ValidationError("a note is required", {"note": ["Say what you found."]})
    if len(text) > NOTE_MAX:
        raise ValidationError("the note is too long", {"note": [f"At most {NOTE_MAX} characters."]})
    flag = db.session.scalars(select(SurveillanceFlag).options(lazyload(SurveillanceFlag.trade))
                              .where(SurveillanceFlag.id == flag_id).with_for_update()
                              .execution_options(populate_existing=True)).first() \
        if isinstance(flag_id, int) and not isinstance(flag_id, bool) else None
    if flag is None:
        raise NotFound("no such flag")
    trade = flag.trade
    if actor.id in (trade.buyer_id, trade.seller_id):
        raise Forbidden("you are a party to this trade: someone else reviews it")
    if status not in FLAG_TRANSITIONS[flag.status]:
        raise Conflict(f"this flag is already {flag.status}")
    before = {"status": flag.status}
    flag.status, flag.reviewed_by_id, flag.reviewed_at, flag.review_note = status, actor.id, utcnow(), text
    db.session.flush()
    record(f"market.flag_{status}", actor=actor, target=flag, before=before,
           after={"status": status, "kind": flag.kind, "trade_id": trade.id}, reason=text)
    return flag
