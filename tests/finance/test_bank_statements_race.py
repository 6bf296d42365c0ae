"""On PostgreSQL, at the same instant: two finance users confirm the same line (the deposit is credited once), two
lines are matched by hand to the same deposit (one wins), the same statement is uploaded twice (one import)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.core.db import unit_of_work
from app.core.errors import Conflict, DomainError
from app.extensions import db
from app.finance import bank_statements
from app.finance.bank_models import BankStatement, StatementLine
from app.ledger import services as ledger
from app.payments.models import Deposit
from tests.concurrency import run_threads
from tests.finance.conftest import fill, money
from tests.support import set_setting


@pytest.fixture
def imported(postgres, investor, transfer, paid_payout, finance):
    set_setting("gateway.bank_transfer.fee_bps", 0)
    set_setting("gateway.bank_transfer.fee_fixed", 0)
    a, b = transfer(investor, "250.00"), transfer(investor, "75.50")
    payout = paid_payout("100.00")
    data = fill("statement.camt053.xml", AMOUNT_A=money(25_000), REFERENCE_A=a.gateway_reference,
                AMOUNT_B=money(7_550), AMOUNT_PAYOUT=money(payout.amount), PAYOUT_ID=payout.id)
    with unit_of_work():
        statement, _ = bank_statements.import_statement(data, file_name="s.xml", fmt="camt053", mapping_id=None,
                                                        actor=finance)
    lines = list(db.session.scalars(select(StatementLine).where(StatementLine.statement_id == statement.id)
                                    .order_by(StatementLine.line_index)))
    return a, b, lines, data


def test_two_confirmations_of_one_line_credit_the_deposit_once(app, imported, investor, finance, finance2):
    a, _b, lines, _data = imported
    before = ledger.user_account(investor.id).balance
    users = [finance.id, finance2.id]
    line_id = lines[0].id

    def work(i):
        from app.auth.models import User

        return bank_statements.confirm(db.session.get(StatementLine, line_id), actor=db.session.get(User, users[i]))

    results = run_threads(app, 2, work)
    assert sorted(map(str, results)).count("credited") == 1, results
    assert any(isinstance(r, DomainError) for r in results), results
    db.session.expire_all()
    assert ledger.user_account(investor.id).balance == before + 25_000
    assert db.session.get(Deposit, a.id).status == "succeeded"
    assert db.session.get(StatementLine, line_id).status == "matched"


def test_two_lines_matched_by_hand_to_one_deposit_at_once_one_wins(app, imported, finance, finance2):
    _a, b, lines, _data = imported
    with unit_of_work():  # free deposit B: reject the amount proposal of line 2
        bank_statements.reject(db.session.get(StatementLine, lines[1].id), actor=finance, reason="Re-check.")
    # line 4 is 12.34: make it fit deposit B's amount for the test's sake
    with unit_of_work():
        db.session.get(StatementLine, lines[3].id).amount = 7_550
    users = [finance.id, finance2.id]
    ids = [lines[1].id, lines[3].id]

    def work(i):
        from app.auth.models import User

        return bank_statements.match_manually(db.session.get(StatementLine, ids[i]), kind="deposit",
                                              target_id=b.id, actor=db.session.get(User, users[i]), reason="race")

    results = run_threads(app, 2, work)
    assert sum(isinstance(r, StatementLine) for r in results) == 1, results
    assert sum(isinstance(r, Conflict) for r in results) == 1, results
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(StatementLine)
                             .where(StatementLine.deposit_id == b.id)) == 1


def test_the_same_file_uploaded_twice_at_once_is_imported_once(app, imported, finance, finance2):
    _a, _b, _lines, data = imported
    other = data.replace(b"STMT-0042", b"STMT-0099")
    users = [finance.id, finance2.id]

    def work(i):
        from app.auth.models import User

        return bank_statements.import_statement(other, file_name="again.xml", fmt="camt053", mapping_id=None,
                                                actor=db.session.get(User, users[i]))

    results = run_threads(app, 2, work)
    assert all(isinstance(r, (tuple, Conflict)) for r in results), results
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(BankStatement)) == 2
    assert db.session.scalar(select(func.count()).select_from(StatementLine)) == 4
