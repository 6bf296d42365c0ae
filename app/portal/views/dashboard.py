from flask import render_template
from flask_login import current_user

from app.account import history
from app.kyc.services import INVEST, missing_for, overall_status
from app.ledger import services as ledger
from app.portal import bp


@bp.get("/")
def dashboard():
    balance = ledger.balance_of(current_user.id)
    lines = ledger.recent_lines(current_user.id, 5)
    return render_template("portal/dashboard.html", balance=balance, lines=lines,
                           descriptions=history.describe_lines(current_user.id, lines),
                           kyc_missing=missing_for(current_user.id, INVEST), kyc_status=overall_status(current_user.id))
