"""The trade tape's chart of one property: daily volume (bars) and the day's last price (a line, its own scale on
the right), drawn as SVG on the server the way the portal draws its returns chart (no script, nothing from
elsewhere). Two grouped reads, whatever the number of trades."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from app.core.charts import nice_ceiling
from app.core.db import utcnow
from app.core.money import Money
from app.extensions import db
from app.market.models import Trade

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 760, 240, 80, 80, 14, 30


@dataclass(frozen=True)
class TradeChart:
    width: int
    height: int
    left: int
    top: int
    plot_width: int
    plot_height: int
    bars: list
    points: str  # the polyline of last prices
    dots: list
    volume_ticks: list
    price_ticks: list
    days: int
    trades: int
    empty: bool


def _day(value) -> date:
    """SQLite answers date() as text, PostgreSQL as a date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def daily(property_id: int, since: datetime) -> list[tuple[date, int, int, int, int]]:
    """(day, trades, units, amount) and the last price of each day with trades, oldest first."""
    day = func.date(Trade.settled_at)
    where = (Trade.property_id == property_id, Trade.settled_at >= since)
    rows = db.session.execute(select(day, func.count(Trade.id), func.sum(Trade.units), func.sum(Trade.amount),
                                     func.max(Trade.id)).where(*where).group_by(day)).all()
    last_ids = [r[4] for r in rows]
    prices = dict(db.session.execute(select(Trade.id, Trade.price_per_unit).where(Trade.id.in_(last_ids))).all()) \
        if last_ids else {}
    return sorted((_day(d), int(n), int(units), int(amount), prices[last]) for d, n, units, amount, last in rows)


def trade_chart(p, *, days: int = 30) -> TradeChart:
    """The last `days` days of the property `p` (its currency), today included."""
    today = utcnow().date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=utcnow().tzinfo)
    by_day = {d: (n, units, amount, price) for d, n, units, amount, price in daily(p.id, since)}
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    volume_top = nice_ceiling(max((v[2] for v in by_day.values()), default=0))
    price_top = nice_ceiling(max((v[3] for v in by_day.values()), default=0))
    slot = plot_w / days
    bar_w = slot * 0.62
    bars, dots = [], []

    def money(minor: int) -> str:
        return Money(minor, p.currency).display()

    for i in range(days):
        d = first + timedelta(days=i)
        cx = round(LEFT + i * slot + slot / 2, 1)
        n, units, amount, price = by_day.get(d, (0, 0, 0, None))
        h = plot_h * amount / volume_top
        bars.append({"x": round(LEFT + i * slot + (slot - bar_w) / 2, 1), "y": round(TOP + plot_h - h, 1),
                     "w": round(bar_w, 1), "h": round(h, 1), "cx": cx,
                     "label": d.strftime("%d") if i % 5 == 0 or i == days - 1 else "",
                     "title": f"{d:%Y-%m-%d}: {n} trade(s), {units} unit(s), {money(amount)}"
                              + (f", last price {money(price)}" if price is not None else "")})
        if price is not None:
            dots.append({"cx": cx, "cy": round(TOP + plot_h - plot_h * price / price_top, 1),
                         "title": f"{d:%Y-%m-%d}: last price {money(price)}"})
    volume_ticks = [{"y": round(TOP + plot_h - plot_h * k / 4, 1),
                     "label": f"{Money(volume_top * k // 4, p.currency).to_decimal():,.0f}"} for k in range(5)]
    price_ticks = [{"y": round(TOP + plot_h - plot_h * k / 4, 1),
                    "label": f"{Money(price_top * k // 4, p.currency).to_decimal():,.2f}"} for k in range(5)]
    points = " ".join(f"{d['cx']},{d['cy']}" for d in dots)
    return TradeChart(WIDTH, HEIGHT, LEFT, TOP, plot_w, plot_h, bars, points, dots, volume_ticks, price_ticks, days,
                      sum(v[0] for v in by_day.values()), not by_day)
