"""The investor portal: server-rendered pages. Every view needs a signed-in user."""
from flask import Blueprint
from flask_login import login_required

bp = Blueprint("portal", __name__)


@bp.before_request
@login_required
def _require_login():
    return None


from app.portal.views import account, dashboard, wallet  # noqa: E402,F401
