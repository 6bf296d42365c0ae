"""The investor portal: server-rendered pages. Every view needs a signed-in user."""
from flask import Blueprint
from flask_login import current_user, login_required

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


@bp.app_template_filter("money")
def _money(value) -> str:
    """An API-shaped amount ({"amount": "8400.00", "currency": "USD"}) as "USD 8,400.00"."""
    try:
        return Money.parse(value["amount"], value["currency"], allow_zero=True).display()
    except (KeyError, TypeError, MoneyError):
        return ""


# the views register their routes on `bp`, so they are imported once it exists
from app.portal.views import (  # noqa: E402,F401
    account,
    dashboard,
    deposits,
    kyc,
    leaving,
    market,
    market_mine,
    notifications,
    payouts,
    portfolio,
    profile,
    properties,
    statements,
    wallet,
)
