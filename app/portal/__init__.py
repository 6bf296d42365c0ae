"""The investor portal: server-rendered pages. Every view needs a signed-in user."""
from decimal import Decimal, InvalidOperation

from babel import Locale, dates, numbers
from flask import Blueprint
from flask_babel import format_decimal, get_locale, get_timezone
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from app.core.i18n import languages
from app.core.money import Money, MoneyError
from app.notifications.services import unread_count

bp = Blueprint("portal", __name__)


@bp.before_request
@login_required
def _require_login():
    return None


@bp.app_context_processor
def _unread_notifications():
    """The bell's count, on every page a signed-in user sees (one COUNT query)."""
    if not current_user.is_authenticated:
        return {}

    def unread() -> int:
        return unread_count(current_user.id)

    return {"unread_notifications": unread}


@bp.app_context_processor
def _languages():
    """The page's language (for <html lang>) and the footer's language chooser: each language named in itself."""
    current = str(get_locale() or "en")
    return {"page_locale": current,
            "language_choices": [(code, Locale.parse(code).get_display_name(code).capitalize())
                                 for code in languages()]}


@bp.app_template_filter("money")
def _money(value) -> str:
    """An API-shaped amount ({"amount": "8400.00", "currency": "USD"}) as the investor reads it: "$8,400.00" in
    English, "8400,00 US$" in Spanish (Money.local)."""
    try:
        return Money.parse(value["amount"], value["currency"], allow_zero=True).local()
    except (KeyError, TypeError, MoneyError):
        return ""


@bp.app_template_filter("minor_money")
def _minor_money(minor, currency: str) -> str:
    """An amount in minor units (a setting's fixed fee) as the investor reads it (Money.local)."""
    return Money(int(minor), currency).local() if minor is not None else ""


# The states the portal shows (deposits, payouts, KYC, listings and offers, offerings), in the investor's language;
# one the list does not know is shown as it is stored, underscores as spaces
STATUS_LABELS = {
    "pending": _l("pending"), "succeeded": _l("succeeded"), "failed": _l("failed"), "refunded": _l("refunded"),
    "requested": _l("requested"), "approved": _l("approved"), "paid": _l("paid"), "rejected": _l("rejected"),
    "cancelled": _l("cancelled"), "exported": _l("exported"), "not_started": _l("not started"),
    "resubmission_requested": _l("resubmission requested"), "open": _l("open"), "countered": _l("countered"),
    "accepted": _l("accepted"), "declined": _l("declined"), "withdrawn": _l("withdrawn"), "expired": _l("expired"),
    "sold": _l("sold"), "filled": _l("filled"), "halted": _l("halted"), "active": _l("active"),
    "funded": _l("funded"), "completed": _l("completed"),
}


# an offering's kind of property (Property.property_type), in the investor's language
PROPERTY_TYPE_LABELS = {"residential": _l("Residential"), "commercial": _l("Commercial"),
                        "industrial": _l("Industrial"), "land": _l("Land"), "mixed_use": _l("Mixed use")}


@bp.app_template_filter("property_type_label")
def _property_type_label(value) -> str:
    label = PROPERTY_TYPE_LABELS.get(str(value))
    return str(label) if label is not None else str(value or "").replace("_", " ").capitalize()


@bp.app_template_filter("status_label")
def _status_label(value) -> str:
    label = STATUS_LABELS.get(str(value))
    return str(label) if label is not None else str(value or "").replace("_", " ")


# Dates for investors, per the current locale (CLDR skeletons: "yMMMd" is "Dec 4, 2026" / "4 dic 2026"), in UTC
# like the rest of the portal. The filters are global so the portal's macros and partials can use them anywhere.
@bp.app_template_filter("date_local")
def _date_local(value, skeleton: str = "yMMMd") -> str:
    return format_skeleton(skeleton, value) if value is not None else ""


@bp.app_template_filter("datetime_local")
def _datetime_local(value, skeleton: str = "yMMMdHm") -> str:
    return format_skeleton(skeleton, value) if value is not None else ""


@bp.app_template_filter("time_local")
def _time_local(value) -> str:
    return format_skeleton("Hm", value) if value is not None else ""


@bp.app_template_filter("number_local")
def _number_local(value) -> str:
    return str(format_decimal(value)) if value is not None else ""


@bp.app_template_filter("percent_local")
def percent_local(value, digits: int = 2) -> str:
    """A number of per cent (12.5, "12.5", a Decimal) the locale's way, with at most `digits` decimals: "12.5%" in
    English, "12,5 %" in Spanish; nothing (None, "") or not a number is "—"."""
    try:
        points = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return "—"
    if not points.is_finite():
        return "—"
    fraction = (points / 100).quantize(Decimal(1).scaleb(-(digits + 2)))
    return numbers.format_percent(fraction.normalize(), locale=get_locale(), decimal_quantization=False)


def format_skeleton(skeleton: str, value) -> str:
    """A date or datetime through a CLDR skeleton in the current locale and time zone (Flask-Babel's). CLDR has
    skeletons for dates and for times, not both: "yMMMdHm" is the date's and the time's joined the locale's way
    ("Dec 4, 2026, 14:05" / "4 dic 2026, 14:05")."""
    locale, tz = get_locale(), get_timezone()
    day = "".join(c for c in skeleton if c not in "Hhms")
    time = "".join(c for c in skeleton if c in "Hhms")
    if not (day and time):
        return str(dates.format_skeleton(skeleton, value, tzinfo=tz, locale=locale))
    joined = str(locale.datetime_formats["medium"]) if locale else "{1}, {0}"
    return joined.replace("{1}", str(dates.format_skeleton(day, value, tzinfo=tz, locale=locale))).replace(
        "{0}", str(dates.format_skeleton(time, value, tzinfo=tz, locale=locale)))


# the views register their routes on `bp`, so they are imported once it exists
from app.portal import view_as  # noqa: E402,F401  (support viewing the portal as an investor)
from app.portal.views import (  # noqa: E402,F401
    account,
    dashboard,
    deposits,
    kyc,
    language,
    leaving,
    market,
    market_mine,
    notifications,
    payouts,
    portfolio,
    profile,
    properties,
    statements,
    tickets,
    wallet,
)
