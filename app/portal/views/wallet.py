from flask import render_template, request
from flask_login import current_user

from app.ledger import services as ledger
from app.portal import bp

PER_PAGE = 25


@bp.get("/wallet")
def wallet():
    from app.portal.views.portfolio import kind_label, statement_filter

    page = max(request.args.get("page", 1, type=int) or 1, 1)
    f = statement_filter(request.args)
    balance = ledger.balance_of(current_user.id)
    lines, total = ledger.statement(current_user.id, page=page, per_page=PER_PAGE,
                                    kinds=[f.kind] if f.kind else None, since=f.since, until=f.until)
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    kinds = [(k, kind_label(k)) for k in ledger.statement_kinds(current_user.id)]
    return render_template("portal/wallet.html", balance=balance, lines=lines, page=page, pages=pages, total=total,
                           filters=f, kinds=kinds, raw=request.args)
