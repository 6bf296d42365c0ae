"""Bank statements: a camt.053 and a CSV statement imported and matched, matches confirmed (the deposit completed
and the wallet credited once), re-uploads and overlapping statements, manual matching, rejections, the two-person
threshold, and the console pages with their permissions and escaping. The ledger verifies after each test."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.core.audit import AuditRecord
from app.core.db import unit_of_work
from app.core.errors import Conflict, Forbidden, IllegalTransition, ValidationError
from app.core.money import Money
from app.extensions import db
from app.finance import bank_statements
from app.finance.bank_models import BankStatement, StatementLine
from app.ledger import services as ledger
from app.ledger.models import JournalEntry
from app.payments.models import Deposit
from app.payouts import services as payouts
from tests.finance.conftest import fill, money
from tests.support import csrf_from, set_setting


def wallet(user) -> int:
    db.session.expire_all()
    return ledger.user_account(user.id).balance


def lines_of(statement) -> list[StatementLine]:
    db.session.expire_all()
    return list(db.session.scalars(select(StatementLine).where(StatementLine.statement_id == statement.id)
                                   .order_by(StatementLine.line_index)))


def act(fn, *args, **kwargs):
    with unit_of_work():
        return fn(*args, **kwargs)


def camt(a: Deposit, b: Deposit, payout) -> bytes:
    return fill("statement.camt053.xml", AMOUNT_A=money(a.amount + a.fee), REFERENCE_A=a.gateway_reference,
                AMOUNT_B=money(b.amount + b.fee), AMOUNT_PAYOUT=money(payout.amount), PAYOUT_ID=payout.id)


@pytest.fixture
def scene(investor, transfer, paid_payout):
    set_setting("gateway.bank_transfer.fee_bps", 0)
    set_setting("gateway.bank_transfer.fee_fixed", 0)
    a, b = transfer(investor, "250.00"), transfer(investor, "75.50")
    return a, b, paid_payout("100.00")


def test_camt053_statement_is_matched_and_a_confirmation_credits_the_wallet_once(app, scene, investor, finance,
                                                                                   upload):
    a, b, payout = scene
    statement, created = upload(camt(a, b, payout), finance)
    assert created and statement.format == "camt053" and statement.account == "GB33BUKB20201555555555"
    assert statement.statement_ref == "STMT-0042" and statement.line_count == 4  # the pending entry is not booked
    one, two, three, four = lines_of(statement)
    assert (one.status, one.match_kind, one.deposit_id, one.match_rule) == ("proposed", "deposit", a.id, "reference")
    assert (two.status, two.deposit_id, two.match_rule) == ("proposed", b.id, "amount")
    assert (three.status, three.match_kind, three.payout_id, three.direction) == ("proposed", "payout", payout.id,
                                                                                   "debit")
    assert four.status == "unmatched" and four.counterparty == '<script>alert("pwn")</script>'
    assert one.counterparty == "Ada Investor" and one.reference == a.gateway_reference
    before = wallet(investor)
    assert act(bank_statements.confirm, one, actor=finance) == "credited"
    assert wallet(investor) == before + 25_000
    assert db.session.get(Deposit, a.id).status == "succeeded"
    with pytest.raises(IllegalTransition):  # a double click
        act(bank_statements.confirm, db.session.get(StatementLine, one.id), actor=finance)
    assert wallet(investor) == before + 25_000
    assert db.session.scalar(select(func.count()).select_from(JournalEntry)
                             .where(JournalEntry.idempotency_key == f"deposit:{a.id}:credit")) == 1
    assert act(bank_statements.confirm, db.session.get(StatementLine, three.id), actor=finance) == "reconciled"
    assert wallet(investor) == before + 25_000  # a payout's reconciliation moves no money
    db.session.expire_all()
    assert [line.status for line in lines_of(statement)] == ["matched", "proposed", "matched", "unmatched"]
    assert app.test_cli_runner().invoke(args=["ledger", "verify"]).exit_code == 0
    actions = set(db.session.scalars(select(AuditRecord.action)))
    assert {"statements.imported", "statements.match_confirmed", "deposits.approve"} <= actions


def test_the_same_statement_again_changes_nothing_and_overlapping_lines_are_not_created_twice(scene, finance,
                                                                                               finance2, upload):
    a, b, payout = scene
    data = camt(a, b, payout)
    first, _ = upload(data, finance)
    again, created = upload(data, finance2)
    assert not created and again.id == first.id
    overlapping = data.replace(b"<Id>STMT-0042</Id>", b"<Id>STMT-0043</Id>")
    second, created = upload(overlapping, finance)
    assert created and second.line_count == 0 and second.known_count == 4
    assert db.session.scalar(select(func.count()).select_from(BankStatement)) == 2
    assert db.session.scalar(select(func.count()).select_from(StatementLine)) == 4
    assert db.session.scalar(select(func.count()).select_from(AuditRecord)
                             .where(AuditRecord.action == "statements.imported")) == 2


def test_csv_statement_half_matched_then_matched_by_hand(investor, transfer, finance, finance2, mapping, upload,
                                                          method):
    set_setting("gateway.bank_transfer.fee_bps", 0)
    set_setting("gateway.bank_transfer.fee_fixed", 0)
    a = transfer(investor, "300.00")
    twin1, twin2 = transfer(investor, "40.00"), transfer(investor, "40.00")  # one amount, two candidates
    with unit_of_work():
        p1 = payouts.request_payout(investor, Money.parse("10.00", "USD"), method.id)
        p2 = payouts.request_payout(investor, Money.parse("20.00", "USD"), method.id)
    for p in (p1, p2):
        act(payouts.approve, p, actor=finance2)
    batch, _ = act(payouts.create_batch, [p1.id, p2.id], actor=finance2)
    act(payouts.mark_batch_paid, batch, actor=finance2, bank_reference="BATCH-9")
    data = fill("statement.csv", AMOUNT_A=money(30_000, ","), REFERENCE_A=a.gateway_reference.lower(),
                AMOUNT_B=money(4_000, ","), REFERENCE_B="top up", AMOUNT_BATCH=money(3_000, ","),
                BATCH_REFERENCE="BATCH-9")
    statement, created = upload(data, finance, fmt="csv", mapping=mapping, name="musterbank.csv")
    assert created and statement.csv_mapping_id == mapping.id
    one, two, three, fee = lines_of(statement)
    assert (one.status, one.deposit_id, one.amount) == ("proposed", a.id, 30_000)
    assert two.status == "unmatched" and "several pending" in two.match_note
    assert (three.status, three.match_kind, three.batch_id, three.direction, three.amount) == (
        "proposed", "batch", batch.id, "debit", 3_000)
    assert (fee.status, fee.direction, fee.amount) == ("unmatched", "debit", 250)

    # by hand: the wrong amount, the wrong kind, no reason are refused; the right deposit is proposed, then confirmed
    with pytest.raises(ValidationError):
        act(bank_statements.match_manually, two, kind="deposit", target_id=a.id, actor=finance, reason="phoned")
    with pytest.raises(ValidationError):
        act(bank_statements.match_manually, two, kind="payout", target_id=p1.id, actor=finance, reason="x")
    with pytest.raises(ValidationError):
        act(bank_statements.match_manually, two, kind="deposit", target_id=twin2.id, actor=finance, reason=" ")
    act(bank_statements.match_manually, db.session.get(StatementLine, two.id), kind="deposit",
        target_id=f"#{twin2.id}", actor=finance, reason="The investor phoned with the amount.")
    assert act(bank_statements.confirm, db.session.get(StatementLine, two.id), actor=finance2) == "credited"
    assert db.session.get(Deposit, twin2.id).status == "succeeded"
    assert db.session.get(Deposit, twin1.id).status == "pending"
    assert act(bank_statements.confirm, db.session.get(StatementLine, three.id), actor=finance) == "reconciled"
    with pytest.raises(ValidationError):  # ignoring needs a reason
        act(bank_statements.ignore, db.session.get(StatementLine, fee.id), actor=finance, reason="")
    act(bank_statements.ignore, db.session.get(StatementLine, fee.id), actor=finance, reason="Account fee.")
    assert [line.status for line in lines_of(statement)] == ["proposed", "matched", "matched", "ignored"]
    assert db.session.scalar(select(AuditRecord.reason).where(AuditRecord.action == "statements.line_ignored")) \
        == "Account fee."


def test_rejecting_a_proposal_frees_the_line_and_the_deposit_which_is_never_matched_twice(scene, finance, upload):
    a, b, payout = scene
    statement, _ = upload(camt(a, b, payout), finance)
    one, two, _three, four = lines_of(statement)
    with pytest.raises(ValidationError):
        act(bank_statements.reject, one, actor=finance, reason="")
    act(bank_statements.reject, db.session.get(StatementLine, two.id), actor=finance, reason="Not this investor.")
    two = db.session.get(StatementLine, two.id)
    assert (two.status, two.deposit_id, two.match_kind) == ("unmatched", None, None)
    # deposit A is the first line's: no other line may take it, by hand either
    with pytest.raises((Conflict, ValidationError)):
        act(bank_statements.match_manually, db.session.get(StatementLine, four.id), kind="deposit", target_id=a.id,
            actor=finance, reason="try")
    act(bank_statements.match_manually, two, kind="deposit", target_id=b.id, actor=finance, reason="It was, after all.")
    assert db.session.get(StatementLine, two.id).status == "proposed"
    with pytest.raises(IllegalTransition):  # an ignored or proposed line is not matched again by hand
        act(bank_statements.match_manually, db.session.get(StatementLine, two.id), kind="deposit", target_id=b.id,
            actor=finance, reason="again")


def test_above_the_threshold_two_different_finance_users_confirm(scene, investor, finance, finance2, upload):
    a, b, payout = scene
    set_setting("bank_transfer.second_approval_above", 10_000)  # 100.00: deposit A (250.00) needs two people
    statement, _ = upload(camt(a, b, payout), finance)
    one = lines_of(statement)[0]
    before = wallet(investor)
    assert act(bank_statements.confirm, one, actor=finance) == "awaiting_second_approval"
    assert wallet(investor) == before and db.session.get(StatementLine, one.id).status == "proposed"
    with pytest.raises(Forbidden):
        act(bank_statements.confirm, db.session.get(StatementLine, one.id), actor=finance)
    assert act(bank_statements.confirm, db.session.get(StatementLine, one.id), actor=finance2) == "credited"
    line = db.session.get(StatementLine, one.id)
    assert (line.status, line.first_confirmed_by_id, line.confirmed_by_id) == ("matched", finance.id, finance2.id)
    assert wallet(investor) == before + 25_000


def test_an_amount_that_differs_from_the_deposit_is_never_proposed(investor, transfer, finance, upload, paid_payout):
    a = transfer(investor, "250.00")
    transfer(investor, "80.00")
    payout = paid_payout("100.00")
    data = fill("statement.camt053.xml", AMOUNT_A="249.00", REFERENCE_A=a.gateway_reference, AMOUNT_B="1.00",
                AMOUNT_PAYOUT="99.00", PAYOUT_ID=payout.id)
    statement, _ = upload(data, finance)
    one, two, three, _four = lines_of(statement)
    assert one.status == "unmatched" and f"deposit #{a.id}" in one.match_note
    assert two.status == three.status == "unmatched"
    with pytest.raises(ValidationError):
        act(bank_statements.match_manually, one, kind="deposit", target_id=a.id, actor=finance, reason="close enough")


# the console --------------------------------------------------------------------------------------------------------
def _upload_page(client, data: bytes, *, fmt="camt053", mapping_id="", name="statement.xml"):
    import io

    page = client.get("/admin/bank_statements/")
    return client.post("/admin/bank_statements/upload", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "format": fmt, "mapping_id": mapping_id,
        "statement": (io.BytesIO(data), name)}, content_type="multipart/form-data")


@pytest.mark.parametrize("role", ["support", "compliance", "property_manager"])
def test_other_staff_roles_are_refused(client, make_user, login, role, scene, finance, upload):
    a, b, payout = scene
    statement, _ = upload(camt(a, b, payout), finance)
    line = lines_of(statement)[0]
    login(make_user(role=role))
    for path in ("/admin/bank_statements/", f"/admin/bank_statements/{statement.id}",
                 f"/admin/bank_statements/{statement.id}/file", "/admin/statement_lines/",
                 f"/admin/statement_lines/{line.id}", "/admin/statement_lines/export?fmt=csv", "/admin/csv_mappings/"):
        assert client.get(path).status_code == 403, path
    token = csrf_from(client.get("/admin/").get_data(as_text=True))
    for path in ("/admin/bank_statements/upload", f"/admin/statement_lines/{line.id}/confirm",
                 f"/admin/statement_lines/{line.id}/reject", f"/admin/statement_lines/{line.id}/match",
                 f"/admin/statement_lines/{line.id}/ignore", "/admin/csv_mappings/new/"):
        assert client.post(path, data={"reason": "x", "csrf_token": token}).status_code == 403, path
    assert db.session.get(StatementLine, line.id).status == "proposed"
    assert db.session.get(Deposit, a.id).status == "pending"


def test_finance_uploads_confirms_and_exports_in_the_console_with_hostile_text_escaped(client, login, scene, finance,
                                                                                       investor):
    a, b, payout = scene
    login(finance)
    response = _upload_page(client, camt(a, b, payout), name='<img src=x onerror="alert(1)">.xml')
    assert response.status_code == 302
    statement = db.session.scalar(select(BankStatement))
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Statement imported: 4 new line(s)." in page
    assert '<script>alert("pwn")</script>' not in page and "&lt;script&gt;alert(" in page
    assert a.gateway_reference in page and "proposed" in page
    listing = client.get("/admin/bank_statements/").get_data(as_text=True)
    assert "<img src=x" not in listing and "&lt;img src=x" in listing
    again = _upload_page(client, camt(a, b, payout))
    assert "already imported" in client.get(again.headers["Location"]).get_data(as_text=True)
    one = lines_of(statement)[0]
    before = wallet(investor)
    done = client.post(f"/admin/statement_lines/{one.id}/confirm",
                       data={"csrf_token": csrf_from(page), "back": "statement"})
    assert done.headers["Location"].endswith(f"/admin/bank_statements/{statement.id}")
    assert "the deposit is completed" in client.get(done.headers["Location"]).get_data(as_text=True)
    assert wallet(investor) == before + 25_000
    queue = client.get("/admin/statement_lines/?status=unmatched&q=HYPERLINK").get_data(as_text=True)
    assert "&lt;script&gt;" in queue and "<script>alert" not in queue
    by_amount = client.get("/admin/statement_lines/?status=all&amount=75.50").get_data(as_text=True)
    assert f'data-line="{lines_of(statement)[1].id}"' in by_amount and f'data-line="{one.id}"' not in by_amount
    export = client.get("/admin/statement_lines/export?fmt=csv&status=all")
    text = export.get_data(as_text=True)
    assert export.status_code == 200 and "'=HYPERLINK" in text
    assert client.get("/admin/statement_lines/export?fmt=xlsx&status=all").status_code == 200
    assert client.get("/admin/statement_lines/export?fmt=html").status_code == 400
    assert db.session.scalar(select(func.count()).select_from(AuditRecord)
                             .where(AuditRecord.action == "statements.lines_exported")) == 2
    original = client.get(f"/admin/bank_statements/{statement.id}/file")
    assert original.status_code == 200 and original.data == camt(a, b, payout)
    assert original.headers["X-Content-Type-Options"] == "nosniff"


def test_a_refused_upload_says_why_in_the_console_and_writes_nothing(client, login, finance):
    login(finance)
    response = _upload_page(client, b"<html><body>not a statement</body></html>")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The statement was not imported: This is not an ISO 20022 camt.053 statement" in page
    response = _upload_page(client, b"a;b\n1;2\n", fmt="csv", name="x.csv")
    assert "choose the bank" in client.get(response.headers["Location"]).get_data(as_text=True).lower()
    assert db.session.scalar(select(func.count()).select_from(BankStatement)) == 0


def test_csv_mappings_are_reference_data_checked_and_audited(client, login, finance):
    login(finance)
    form = client.get("/admin/csv_mappings/new/").get_data(as_text=True)
    fields = {"csrf_token": csrf_from(form), "bank_name": "Acme Bank", "date_column": "Date", "date_format": "%Y-%m-%d",
              "reference_column": "Reference", "decimal_separator": ".", "delimiter": ",", "header_rows": "1"}
    client.post("/admin/csv_mappings/new/", data=fields)
    from app.finance.bank_models import CsvMapping

    assert db.session.scalar(select(func.count()).select_from(CsvMapping)) == 0  # neither amount nor credit+debit
    client.post("/admin/csv_mappings/new/", data={**fields, "amount_column": "Amount"})
    assert db.session.scalar(select(CsvMapping.bank_name)) == "Acme Bank"
    assert db.session.scalar(select(func.count()).select_from(AuditRecord)
                             .where(AuditRecord.action == "statements.csv_mapping_saved")) == 1


def test_a_deposit_approved_by_hand_meanwhile_is_reconciled_without_a_second_credit(scene, investor, finance,
                                                                                    finance2, upload):
    a, b, payout = scene
    statement, _ = upload(camt(a, b, payout), finance)
    from app.payments import services as payments

    act(payments.approve_bank_transfer, db.session.get(Deposit, a.id), actor=finance2)  # from Money → Deposits
    credited = wallet(investor)
    assert act(bank_statements.confirm, lines_of(statement)[0], actor=finance) == "reconciled"
    assert wallet(investor) == credited
    assert lines_of(statement)[0].status == "matched"
