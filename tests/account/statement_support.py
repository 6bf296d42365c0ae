"""A history for statements: money deposited last year, then this year an investment, its returns paid by a
distribution run, and a withdrawal paid with its fee; and the ways to read a statement's files back."""
from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from pypdf import PdfReader
from sqlalchemy import func, select

import app.core.db as core_db
from app.account.statement_models import Statement
from app.core.db import utcnow
from app.core.money import Money
from app.core.storage import get_storage
from app.extensions import db
from app.investing import returns
from app.investing import services as investing
from app.investing.models import ReturnPayment
from app.ledger import services as ledger
from app.payouts import services as payouts
from tests.investing.holdings_support import backdate
from tests.support import fund_distributions

TODAY = utcnow().date()
LAST_YEAR = TODAY.year - 1


def usd(minor: int) -> str:
    return Money(minor, "USD").local("en")


class _LastYear(datetime):
    """The clock of app.core.db, moved to the middle of last year (journal entries take their time from it)."""

    @classmethod
    def now(cls, tz=None):
        return datetime(LAST_YEAR, 6, 15, 10, 0, tzinfo=UTC)


def build_history(monkeypatch, investor, property_, method, finance, fund) -> dict:
    with monkeypatch.context() as m:
        m.setattr(core_db, "datetime", _LastYear)
        fund(investor, "1000.00")
    inv = investing.invest(investor, property_.id, Money.parse("500.00", "USD"), acknowledged=True,
                           ip="203.0.113.9")
    db.session.commit()
    backdate(inv, TODAY - timedelta(days=5))
    fund_distributions(property_.id, 1_000_000)
    returns.distribute()
    db.session.commit()
    payout = payouts.request_payout(investor, Money.parse("200.00", "USD"), method.id)
    db.session.commit()
    payouts.approve(payout, actor=finance)
    db.session.commit()
    payouts.mark_paid(payout, actor=finance, bank_reference="TRF-1")
    db.session.commit()
    db.session.expire_all()
    paid = db.session.execute(select(func.coalesce(func.sum(ReturnPayment.amount), 0),
                                     func.coalesce(func.sum(ReturnPayment.capital), 0))
                              .where(ReturnPayment.investment_id == inv.id)).one()
    balance = ledger.balance_of(investor.id)
    return {"investment": inv, "returns": int(paid[0]), "capital": int(paid[1]), "fee": payout.fee,
            "closing": balance.available.minor + balance.held.minor, "available": balance.available.minor,
            "held": balance.held.minor}


def pdf_text(statement: Statement) -> str:
    reader = PdfReader(io.BytesIO(get_storage().get(statement.pdf_key)))
    return "\n".join(page.extract_text() for page in reader.pages)


def csv_text_of(statement: Statement) -> str:
    return get_storage().get(statement.csv_key).decode("utf-8")
