"""A bank statement in Chromium: finance signs in with 2FA, uploads a camt.053 statement, sees the proposed matches,
confirms one, and the bank-transfer deposit it names is completed (the wallet credited once). Screenshots go to
test-artifacts/bank-statement-*.png; the ledger verifies at the end."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from app.core.db import unit_of_work
from app.core.money import Money
from app.extensions import db
from app.finance.bank_models import StatementLine
from app.ledger import services as ledger
from app.ledger.checks import verify
from app.payments import services as payments
from app.payments.models import Deposit
from tests.e2e.staff import staff_page
from tests.finance.conftest import fill, money
from tests.support import PASSWORD, set_setting

pytestmark = pytest.mark.e2e


def _transfer(user, amount: str) -> Deposit:
    with unit_of_work():
        deposit = payments.create_deposit(user.id, Money.parse(amount, "USD"), "bank_transfer")
        payments.open_payment(deposit, success_url="http://127.0.0.1/ok", cancel_url="http://127.0.0.1/no")
    return deposit


def test_finance_imports_a_statement_and_confirms_a_match(browser, live_server, artifacts_dir, make_investor,
                                                          make_user, tmp_path):
    shot = lambda p, name: p.screenshot(path=str(artifacts_dir / f"bank-statement-{name}.png"),  # noqa: E731
                                        full_page=True)
    set_setting("gateway.bank_transfer.fee_bps", 0)
    set_setting("gateway.bank_transfer.fee_fixed", 0)
    ada = make_investor("100.00", email="ada@example.com", first_name="Ada", last_name="Investor")
    first, second = _transfer(ada, "250.00"), _transfer(ada, "75.50")
    before = ledger.user_account(ada.id).balance
    user = make_user("money@example.com", role="finance")
    statement_file = tmp_path / "statement-0042.xml"
    statement_file.write_bytes(fill("statement.camt053.xml", AMOUNT_A=money(25_000),
                                    REFERENCE_A=first.gateway_reference, AMOUNT_B=money(7_550),
                                    AMOUNT_PAYOUT="100.00", PAYOUT_ID=999_999))

    page = staff_page(browser, live_server, SimpleNamespace(email=user.email, password=PASSWORD,
                                                            totp_secret=user.totp_secret))
    page.click("nav >> text=Finance")
    page.click("nav >> text=Bank statements")
    expect(page.get_by_test_id("upload-form")).to_be_visible()
    page.set_input_files("#statement", str(statement_file))
    page.select_option("#format", "camt053")
    shot(page, "1-upload")
    page.get_by_test_id("upload").click()
    expect(page.get_by_text("Statement imported: 4 new line(s).")).to_be_visible()
    lines = page.get_by_test_id("statement-lines")
    expect(lines.get_by_role("row").filter(has_text=first.gateway_reference)).to_contain_text("proposed")
    expect(lines.get_by_role("row").filter(has_text=first.gateway_reference)).to_contain_text(
        f"deposit #{first.id} by reference")
    expect(lines.get_by_role("row").filter(has_text="savings top-up")).to_contain_text(f"deposit #{second.id} by amount")
    expect(lines.get_by_role("row").filter(has_text="HYPERLINK")).to_contain_text("unmatched")
    expect(lines).to_contain_text('<script>alert("pwn")</script>')  # shown as text, never run
    shot(page, "2-proposed-matches")

    line_id = db.session.scalar(db.select(StatementLine.id).where(StatementLine.deposit_id == first.id))
    page.get_by_test_id(f"confirm-{line_id}").click()
    expect(page.get_by_text("Confirmed: the deposit is completed and the wallet credited.")).to_be_visible()
    expect(page.get_by_test_id(f"status-{line_id}")).to_have_text("matched")
    shot(page, "3-confirmed")

    page.click("nav >> text=Finance")
    page.click("nav >> text=Statement lines")
    expect(page.get_by_test_id("lines")).to_contain_text("savings top-up")
    expect(page.get_by_test_id(f"status-{line_id}")).to_have_count(0)  # the queue shows what is still open
    page.fill("input[name=q]", "HYPERLINK")
    page.click("text=Search")
    expect(page.get_by_test_id("lines").get_by_role("row")).to_have_count(2)  # the header and the one line
    shot(page, "4-queue-searched")

    page.goto(f"{live_server}/admin/statement_lines/{line_id}")
    page.click(f"text=deposit #{first.id}")
    expect(page.get_by_text("succeeded").first).to_be_visible()
    shot(page, "5-deposit-completed")

    db.session.expire_all()
    assert db.session.get(Deposit, first.id).status == "succeeded"
    assert db.session.get(Deposit, second.id).status == "pending"
    assert ledger.user_account(ada.id).balance == before + 25_000
    assert verify().ok
