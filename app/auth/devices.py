"""The kind of device a sign-in came from, read from its stored user agent: desktop, mobile, tablet, API (the JSON
API's sign-ins, whatever their user agent) or unknown. A few substring rules, tried in order, that Python and SQL
apply alike: the console groups and filters millions of sign-in attempts with the SQL form, in the database."""
from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, func, literal, not_, or_

DESKTOP = "desktop"
MOBILE = "mobile"
TABLET = "tablet"
API = "api"
UNKNOWN = "unknown"
DEVICES = (DESKTOP, MOBILE, TABLET, API, UNKNOWN)
LABELS = {DESKTOP: "Desktop", MOBILE: "Mobile", TABLET: "Tablet", API: "API", UNKNOWN: "Unknown"}

# (device, any of these in the lower-cased user agent, and none of these), first match wins. Android phones say
# "Mobile", Android tablets do not; iPads that ask for desktop sites say "Macintosh" and are counted as desktops.
RULES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    (TABLET, ("ipad", "tablet", "kindle", "silk/", "playbook"), ()),
    (TABLET, ("android",), ("mobile",)),
    (MOBILE, ("mobi", "iphone", "ipod", "android", "windows phone", "blackberry"), ()),
    (DESKTOP, ("windows", "macintosh", "x11", "linux", "cros"), ()),
)


def classify(user_agent: str | None, channel: str | None = None) -> str:
    if channel == API:
        return API
    agent = (user_agent or "").lower()
    for device, anyof, noneof in RULES:
        if any(p in agent for p in anyof) and not any(p in agent for p in noneof):
            return device
    return UNKNOWN


def device_of(user_agent_column, channel_column) -> Any:
    """The SQL form of classify(): a CASE over the two columns. Group by it through a subquery's column (its
    patterns are bound parameters, which a GROUP BY would not recognise as the select list's expression)."""
    agent = func.lower(func.coalesce(user_agent_column, literal("")))

    def has(pattern: str):
        return agent.like(literal(f"%{pattern}%"))

    whens = [(channel_column == literal(API), literal(API))]
    for device, anyof, noneof in RULES:
        condition = or_(*[has(p) for p in anyof])
        if noneof:
            condition = and_(condition, not_(or_(*[has(p) for p in noneof])))
        whens.append((condition, literal(device)))
    return case(*whens, else_=literal(UNKNOWN))
