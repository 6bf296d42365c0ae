"""The investor's words for their market lines: "Bought 5 units of Northgate Logistics Park on the market", "Offer
held: 3 units of Harbour Lofts". Two queries at most, whatever the number of lines (the trades by entry, the
offers named in the memos of the offers' holds)."""
from __future__ import annotations

import re

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select
from sqlalchemy.orm import lazyload, selectinload

from app.extensions import db
from app.market.models import Listing, Offer, Trade
from app.properties.models import Property

OFFER_MEMO = re.compile(r"Offer #(\d+)\b")
MARKET_KINDS = ("market_trade", "hold", "hold_release", "hold_settle", "market_offer_settle")


def _light(option):
    """A listing's property without the photos, documents, FAQ and amenities a description does not show."""
    return option.options(*(lazyload(getattr(Property, name)) for name in ("amenities", "faqs", "photos",
                                                                           "documents")))


def _units(n: int, title: str) -> str:
    return ngettext("%(num)d unit of %(title)s", "%(num)d units of %(title)s", n, title=title)


def describe_lines(user_id: int, lines) -> dict[int, str]:
    """Descriptions of the market lines among `lines` (posting id -> text, in the current language)."""
    wanted = [line for line in lines if line.kind in MARKET_KINDS]
    if not wanted:
        return {}
    entry_ids = {line.entry_id for line in wanted}
    trades = {t.entry_id: t for t in db.session.scalars(
        select(Trade).where(Trade.entry_id.in_(entry_ids)).options(_light(selectinload(Trade.property))))}
    offer_ids = {int(found.group(1)) for line in wanted if line.entry_id not in trades
                 and (found := OFFER_MEMO.match(line.memo or ""))}
    offers: dict[int, Offer] = {o.id: o for o in db.session.scalars(
        select(Offer).where(Offer.id.in_(offer_ids), Offer.buyer_id == user_id)
        .options(selectinload(Offer.listing).options(_light(selectinload(Listing.property)))))} if offer_ids else {}
    out: dict[int, str] = {}
    for line in wanted:
        trade = trades.get(line.entry_id)
        if trade is not None:
            what = _units(trade.units, trade.property.title)
            if trade.buyer_id == user_id and line.amount.minor > 0:
                out[line.posting_id] = _("Offer released: the rest of what was held to buy %(what)s", what=what)
            elif trade.buyer_id == user_id and line.account_kind == "user_held":
                out[line.posting_id] = _("Bought %(what)s on the market (paid from your offer)", what=what)
            elif trade.buyer_id == user_id:
                out[line.posting_id] = _("Bought %(what)s on the market", what=what)
            else:
                out[line.posting_id] = _("Sold %(what)s on the market", what=what)
            continue
        found = OFFER_MEMO.match(line.memo or "")
        offer = offers.get(int(found.group(1))) if found else None
        if offer is None:
            continue
        what = _units(offer.units, offer.listing.property.title)
        if line.kind == "hold":
            out[line.posting_id] = _("Offer held: %(what)s", what=what)
        elif line.kind == "hold_release" and "replaced" in (line.memo or ""):
            out[line.posting_id] = _("Offer released, to be held again at the new price: %(what)s", what=what)
        elif line.kind == "hold_release":
            out[line.posting_id] = _("Offer released: %(what)s", what=what)
        else:
            out[line.posting_id] = _("Offer paid: %(what)s", what=what)
    return out
