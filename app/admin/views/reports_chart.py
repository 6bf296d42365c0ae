"""Grouped bar charts of the finance reports, drawn as SVG on the server like the trade tape's chart (no script,
nothing from elsewhere): one group of bars a label (a month, a fee source, an age bucket), one bar a series, a
zero line, amounts below zero drawn downwards. Every bar carries a <title> with its exact amount."""
from __future__ import annotations

from dataclasses import dataclass

from app.core.charts import nice_ceiling
from app.core.money import Money
from app.finance.reports import Report


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    left: int
    top: int
    plot_width: int
    plot_height: int
    zero_y: float
    bars: list
    labels: list
    ticks: list
    legend: list
    title: str
    empty: bool


def _short(label: str, compact: bool) -> str:
    if len(label) == 10 and label[4] == label[7] == "-":  # a week's Monday: "2026-03-02" -> "2 Mar"
        names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return f"{int(label[8:])} {names[int(label[5:7]) - 1]}"
    if len(label) == 7 and label[4] == "-":  # a month: "2026-03" -> "Mar 26"
        names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        month = names[int(label[5:]) - 1]
        return month if compact else f"{month} {label[2:4]}"
    if compact:  # an age bucket: "1-3 days" -> "1-3 d"
        label = label.replace("Under ", "< ").replace(" days or more", "+ d").replace(" days", " d").replace(" day", " d")
    return label if len(label) <= 16 else label[:15] + "…"


def _short_amount(amount) -> str:
    """An axis label that fits a small chart's margin: 750k, 1.5M."""
    for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if abs(amount) >= size:
            return f"{amount / size:,.1f}".rstrip("0").rstrip(".") + suffix
    return f"{amount:,.0f}"


def bar_chart(report: Report, *, width: int = 760, height: int = 260, compact: bool = False) -> BarChart:
    left, right, top, bottom = (56, 8, 10, 22) if compact else (84, 16, 14, 34)
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for _name, _colour, series in report.series for v in series]
    high = nice_ceiling(max((v for v in values if v > 0), default=0))
    if not report.currency:  # counts: a few whole steps, not 0 to 100 for 3 cases
        top_count = max((v for v in values if v > 0), default=0)
        high = -(-top_count // 4) * 4 or 4 if top_count < 20 else high
    low = nice_ceiling(-min(values)) if values and min(values) < 0 else 0
    span = high + low
    zero_y = top + plot_h * high / span
    groups = max(1, len(report.labels))
    slot = plot_w / groups
    per = max(1, len(report.series))
    bar_w = min(slot * 0.7 / per, 48.0)  # a few groups: bars stay bars, not slabs
    every = max(1, -(-groups // (8 if compact else 14)))  # label at most ~14 groups (8 when small)

    def money(minor: int) -> str:  # a report without a currency counts things
        return Money(minor, report.currency).display() if report.currency else f"{minor:,}"

    bars, labels = [], []
    for g, label in enumerate(report.labels):
        x0 = left + g * slot + (slot - bar_w * per) / 2
        for s, (name, colour, series) in enumerate(report.series):
            v = series[g]
            h = plot_h * abs(v) / span
            bars.append({"x": round(x0 + s * bar_w, 1), "y": round(zero_y - h if v >= 0 else zero_y, 1),
                         "w": round(bar_w * 0.92, 1), "h": round(h, 1), "fill": colour,
                         "title": f"{label} · {name}: {money(v)}"})
        if (groups - 1 - g) % every == 0:  # counted from the last group: it is always labelled, never crowded
            labels.append({"x": round(left + g * slot + slot / 2, 1), "text": _short(label, compact)})
    ticks = []
    steps = 4
    for k in range(steps + 1):
        value = high - span * k // steps
        amount = Money(value, report.currency).to_decimal() if report.currency else value
        if not report.currency:
            ticks.append({"y": round(top + plot_h * k / steps, 1), "label": _short_amount(amount) if compact
                          else f"{amount:,}"})
            continue
        ticks.append({"y": round(top + plot_h * k / steps, 1),
                      "label": _short_amount(amount) if compact and span >= 10_000
                      else f"{amount:,.0f}" if span >= 10_000 else f"{amount:,.2f}"})
    legend = [{"name": name, "fill": colour} for name, colour, _series in report.series]
    title = f"{report.title} ({report.currency})" if report.currency else report.title
    return BarChart(width, height, left, top, plot_w, plot_h, round(zero_y, 1), bars, labels, ticks, legend, title,
                    not any(values))
