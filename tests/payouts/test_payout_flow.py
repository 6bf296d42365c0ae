"""Payout states and money: holds released or settled exactly once, maker-checker, risk flags, bank files and
batches, twelve requests at once on PostgreSQL. `flask ledger verify` passes after each (tests/conftest.py)."""
import csv
import io
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core.csvfile import escape_cell
from app.core.db import utcnow
from app.core.errors import Forbidden, IllegalTransition, ValidationError
from app.core.money import Money
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import FEE_REVENUE, PAYOUTS_IN_TRANSIT
from app.payouts import services as payouts
from app.payouts.models import (
    PAYOUT_TRANSITIONS,
    Payout,
    PayoutBatch,
)
from tests.payouts.helpers import approve_kyc, balances, usable_method
from tests.support import outbox, set_setting

USD = "USD"


def request(user, method, amount="100.00") -> Payout:
    payout = payouts.request_payout(user, Money.parse(amount, USD), method.id)
    db.session.commit()
    return payout


def act(fn, *args, **kwargs):
    result = fn(*args, **kwargs)
    db.session.commit()
    return result


# states -------------------------------------------------------------------------------------------------------------
def test_states_live_in_one_table():
    assert PAYOUT_TRANSITIONS["requested"] == {"approved", "rejected", "cancelled"}
    assert PAYOUT_TRANSITIONS["approved"] == {"paid", "failed"}
    assert all(not PAYOUT_TRANSITIONS[s] for s in ("paid", "rejected", "cancelled", "failed"))


def test_paid_moves_held_to_paid_out_and_the_fee_to_revenue(investor, method, finance):
    start = balances(investor)
    payout = request(investor, method, "200.00")  # fee 1.00 + 1.00
    assert balances(investor) == (start[0] - 20_200, 20_200)
    assert act(payouts.approve, payout, actor=finance) == "approved"
    act(payouts.mark_paid, payout, actor=finance, bank_reference="TRF-1")
    assert payout.status == "paid" and payout.bank_reference == "TRF-1"
    assert balances(investor) == (start[0] - 20_200, 0)
    assert ledger.platform_account(PAYOUTS_IN_TRANSIT).balance == 20_000
    assert ledger.platform_account(FEE_REVENUE).balance == 200
    assert [e.kind for e in payout.events] == ["requested", "approved", "paid"]
    assert outbox(investor.email, "payout_paid") and outbox(investor.email, "payout_approved")
    # nothing moves on from paid
    for fn, kw in ((payouts.mark_paid, {"bank_reference": "again"}), (payouts.mark_failed, {"reason": "x"}),
                   (payouts.reject, {"reason": "x"}), (payouts.approve, {})):
        with pytest.raises(IllegalTransition):
            fn(payout, actor=finance, **kw)
        db.session.rollback()
    with pytest.raises(IllegalTransition):
        payouts.cancel(payout, user=investor)
    db.session.rollback()
    assert ledger.platform_account(PAYOUTS_IN_TRANSIT).balance == 20_000


def test_reject_releases_exactly_and_only_once(investor, method, finance):
    start = balances(investor)
    payout = request(investor, method, "333.33")
    with pytest.raises(ValidationError):
        payouts.reject(payout, actor=finance, reason="  ")
    db.session.rollback()
    act(payouts.reject, payout, actor=finance, reason="The name does not match.")
    assert balances(investor) == start
    assert payout.reason == "The name does not match." and payout.decided_by_id == finance.id
    assert outbox(investor.email, "payout_rejected")
    for fn in (lambda: payouts.reject(payout, actor=finance, reason="again"),
               lambda: payouts.cancel(payout, user=investor), lambda: payouts.approve(payout, actor=finance)):
        with pytest.raises(IllegalTransition):
            fn()
        db.session.rollback()
    assert balances(investor) == start


def test_cancel_releases_exactly_and_refuses_twice_or_after_approval(investor, method, finance):
    start = balances(investor)
    first = request(investor, method, "10.00")
    act(payouts.cancel, first, user=investor)
    assert balances(investor) == start and first.status == "cancelled"
    with pytest.raises(IllegalTransition):
        payouts.cancel(first, user=investor)
    db.session.rollback()
    second = request(investor, method, "20.00")
    act(payouts.approve, second, actor=finance)
    with pytest.raises(IllegalTransition):
        payouts.cancel(second, user=investor)
    db.session.rollback()
    assert balances(investor)[1] == 2_000 + 110


def test_failed_transfer_releases_the_hold_and_tells_the_investor(investor, method, finance):
    start = balances(investor)
    payout = request(investor, method)
    with pytest.raises(IllegalTransition):  # requested -> failed is not a transition
        payouts.mark_failed(payout, actor=finance, reason="returned")
    db.session.rollback()
    act(payouts.approve, payout, actor=finance)
    act(payouts.mark_failed, payout, actor=finance, reason="Returned by the bank: account closed.")
    assert payout.status == "failed" and balances(investor) == start
    assert outbox(investor.email, "payout_failed")


def test_requested_cannot_be_paid_directly(investor, method, finance):
    payout = request(investor, method)
    with pytest.raises(IllegalTransition):
        payouts.mark_paid(payout, actor=finance, bank_reference="X")
    db.session.rollback()
    assert db.session.get(Payout, payout.id).status == "requested"


# maker-checker ------------------------------------------------------------------------------------------------------
def test_below_the_threshold_one_approval(app, investor, method, finance, monkeypatch):
    set_setting("payout.dual_approval_above", 50_000)
    payout = request(investor, method, "500.00")  # at the threshold: one approval
    assert not payout.needs_two_approvals
    assert act(payouts.approve, payout, actor=finance) == "approved"
    assert payout.approver_id == finance.id and payout.first_approver_id is None


def test_above_the_threshold_two_different_finance_users(app, investor, method, finance, finance2, monkeypatch):
    set_setting("payout.dual_approval_above", 50_000)
    payout = request(investor, method, "500.01")
    assert payout.needs_two_approvals
    assert act(payouts.approve, payout, actor=finance) == "awaiting_second_approval"
    assert payout.status == "requested" and payout.first_approver_id == finance.id
    with pytest.raises(Forbidden, match="second, different"):
        payouts.approve(payout, actor=finance)  # the same user twice
    db.session.rollback()
    assert db.session.get(Payout, payout.id).status == "requested"
    assert act(payouts.approve, payout, actor=finance2) == "approved"
    assert (payout.first_approver_id, payout.approver_id) == (finance.id, finance2.id)
    assert [e.kind for e in payout.events] == ["requested", "first_approval", "approved"]


def test_a_threshold_lowered_after_the_request_still_needs_two(app, investor, method, finance, monkeypatch):
    payout = request(investor, method, "600.00")
    set_setting("payout.dual_approval_above", 50_000)
    assert act(payouts.approve, payout, actor=finance) == "awaiting_second_approval"


def test_nobody_acts_on_their_own_payout(make_user, fund, kyc_reviewer, finance2):
    staff = make_user("fin-own@example.com", role="finance", first_name="Test", last_name="User")
    approve_kyc(staff, kyc_reviewer)
    fund(staff, "500.00")
    own = usable_method(staff)
    payout = request(staff, own, "50.00")
    for fn, kw in ((payouts.approve, {}), (payouts.reject, {"reason": "x"})):
        with pytest.raises(Forbidden, match="own account"):
            fn(payout, actor=staff, **kw)
        db.session.rollback()
    act(payouts.approve, payout, actor=finance2)
    with pytest.raises(Forbidden, match="own account"):
        payouts.mark_paid(payout, actor=staff, bank_reference="X")
    db.session.rollback()
    with pytest.raises(ValidationError):
        payouts.create_batch([payout.id], actor=staff)
    db.session.rollback()
    act(payouts.mark_paid, payout, actor=finance2, bank_reference="X")


def test_only_finance_decides(investor, method, make_user):
    payout = request(investor, method)
    for role in ("support", "compliance", "investor"):
        with pytest.raises(Forbidden):
            payouts.approve(payout, actor=make_user(role=role))
        db.session.rollback()


# risk flags ---------------------------------------------------------------------------------------------------------
def test_risk_flags(app, investor, method, finance, monkeypatch):
    monkeypatch.setitem(app.config, "PAYOUT_RISK_AMOUNT", "150.00")
    first = request(investor, method, "100.00")
    assert first.risk_flags == ["first_payout"]
    act(payouts.approve, first, actor=finance)
    act(payouts.mark_paid, first, actor=finance, bank_reference="R1")
    assert request(investor, method, "20.00").risk_flags == []
    assert request(investor, method, "150.00").risk_flags == ["large_amount"]
    fresh = usable_method(investor, holder_name="Someone Else")
    fresh.created_at = fresh.updated_at = utcnow()
    db.session.commit()
    assert request(investor, fresh, "20.00").risk_flags == ["new_method", "name_mismatch"]
    from app.core import audit

    audit.record("auth.2fa_disabled", actor=investor, target=investor)  # as the account page records it
    db.session.commit()
    assert "recent_security_change" in request(investor, method, "20.00").risk_flags


def test_unreconciled_deposits_flag(investor, method):
    from app.payments.models import Deposit, ReconciliationItem

    deposit = db.session.scalar(select(Deposit).where(Deposit.user_id == investor.id))
    db.session.add(ReconciliationItem(provider="bank_transfer", reference="R-1", kind="amount_mismatch",
                                      deposit_id=deposit.id, gateway_amount=1, ledger_amount=2, currency=USD))
    db.session.commit()
    assert "unreconciled_deposits" in request(investor, method, "20.00").risk_flags


def test_cooling_off_and_kyc_name(investor):
    method = payouts.add_bank_method(investor.id, holder_name="user test", bank_name="B", account_number="12345678",
                                     routing_number="021000021", country="US")
    db.session.commit()
    assert method.name_matches_kyc is True  # order and case do not matter
    assert method.usable_from > utcnow() + timedelta(hours=23)
    with pytest.raises(ValidationError, match="cooling-off"):
        payouts.request_payout(investor, Money(1_000, USD), method.id)
    db.session.rollback()
    assert balances(investor) == (100_000, 0)


@pytest.mark.parametrize("fields, field", [
    ({"iban": "DE8937040044053201300012", "country": "DE"}, "iban"),  # right checksum, wrong length for Germany
    ({"iban": "GB33BUKB20201555555555", "country": "DE"}, "iban"),  # a British IBAN for a German account
    ({"bic": "DEUTXXFF"}, "bic"),  # no such country
    ({"routing_number": "021000022"}, "routing_number"),  # ABA check digit
])
def test_bank_codes_are_checked_by_the_library(investor, fields, field):
    with pytest.raises(ValidationError) as refused:
        payouts.add_bank_method(investor.id, **{"holder_name": "Test User", "bank_name": "B",
                                                "account_number": "12345678", "routing_number": "021000021",
                                                "country": "US", **fields})
    assert field in refused.value.errors
    db.session.rollback()
    method = payouts.add_bank_method(investor.id, holder_name="Test User", bank_name="B", country="DE",
                                     iban="de89-3704-0044-0532-0130-00", bic="cobadeffxxx")
    assert (method.iban, method.bic, method.account_number) == ("DE89370400440532013000", "COBADEFFXXX",
                                                                "DE89370400440532013000")
    db.session.rollback()


def test_names_match():
    assert payouts.names_match("Iris Investor", "iris  INVESTOR")
    assert payouts.names_match("José Álvarez", "Jose Alvarez")
    assert payouts.names_match("Iris M. Investor", "Iris Investor")
    assert not payouts.names_match("Ivan Investor", "Iris Investor")
    assert not payouts.names_match("Iris", None)


# bank file and batches ----------------------------------------------------------------------------------------------
def test_bank_file_escapes_formulas():
    assert [escape_cell(v) for v in ("=1+1", "+44", "-5", "@SUM(A1)", "\tx", "ok", 12)] == \
           ["'=1+1", "'+44", "'-5", "'@SUM(A1)", "'\tx", "ok", "12"]


def test_bank_file_rows_are_escaped(investor, finance):
    evil = usable_method(investor, holder_name='=HYPERLINK("http://x","y")', bank_name="@bank",
                         account_number="12345678")
    evil.holder_name = '=HYPERLINK("http://x","y")'
    evil.bank_name = "+Bank -minus"
    db.session.commit()
    payout = request(investor, evil, "20.00")
    act(payouts.approve, payout, actor=finance)
    _batch, content = payouts.create_batch([payout.id], actor=finance)
    db.session.commit()
    rows = list(csv.reader(io.StringIO(content)))
    assert rows[0] == list(payouts.BANK_FILE_HEADER)
    assert rows[1][1] == "'=HYPERLINK(\"http://x\",\"y\")" and rows[1][2] == "'+Bank -minus"
    assert rows[1][3] == "12345678" and rows[1][8] == "20.00"
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_batch_export_and_mark_paid_as_a_whole(investor, method, finance, finance2):
    one, two, three = (request(investor, method, a) for a in ("10.00", "20.00", "30.00"))
    for p in (one, two, three):
        act(payouts.approve, p, actor=finance)
    with pytest.raises(ValidationError):  # not approved
        payouts.create_batch([one.id, request(investor, method, "5.00").id], actor=finance)
    db.session.rollback()
    batch, content = act(payouts.create_batch, [one.id, two.id, three.id], actor=finance)
    assert batch.payout_count == 3 and batch.total_amount == 6_000 and content.count("\r\n") == 4
    with pytest.raises(ValidationError, match="cannot go into"):
        payouts.create_batch([one.id], actor=finance2)  # already in a batch
    db.session.rollback()
    act(payouts.mark_failed, three, actor=finance2, reason="Account closed.")
    paid = act(payouts.mark_batch_paid, batch, actor=finance2, bank_reference="BATCH-77")
    assert [p.id for p in paid] == [one.id, two.id]
    db.session.expire_all()
    assert [db.session.get(Payout, i).status for i in (one.id, two.id, three.id)] == ["paid", "paid", "failed"]
    assert db.session.get(Payout, one.id).bank_reference == "BATCH-77"
    assert db.session.get(PayoutBatch, batch.id).status == "paid"
    with pytest.raises(IllegalTransition):
        payouts.mark_batch_paid(db.session.get(PayoutBatch, batch.id), actor=finance, bank_reference="again")
    db.session.rollback()


def test_finance_is_reminded_of_waiting_payouts(app, investor, method, finance):
    payout = request(investor, method)
    assert payouts.remind_finance() == 0
    payout.created_at = utcnow() - timedelta(hours=30)
    db.session.commit()
    from app.payouts.tasks import remind_finance_of_waiting_payouts

    assert remind_finance_of_waiting_payouts() == 1
    assert outbox(finance.email, "payouts_waiting_staff")


def test_the_ledger_check_sees_a_hold_out_of_step(investor, method):
    payout = request(investor, method)
    payout.status = "cancelled"  # as if someone edited the row by hand
    db.session.commit()
    assert any(f"payout #{payout.id}" in v for v in payouts.holds_match_payouts())
    payout.status = "requested"
    db.session.commit()
    assert payouts.holds_match_payouts() == []


# races --------------------------------------------------------------------------------------------------------------
@pytest.mark.postgres
def test_twelve_requests_at_once_never_hold_more_than_the_wallet(app, postgres, investor, method, token_for,
                                                                 monkeypatch):
    set_setting("payout.fee_bps", 100)  # 1 % + 1.00: each request holds 102.00
    available, held = balances(investor)
    headers, method_id = token_for(investor), method.id
    barrier = threading.Barrier(12)
    statuses = []

    def send():
        http = app.test_client()
        barrier.wait(timeout=20)
        response = http.post("/api/v1/payouts", json={"amount": "100.00", "payout_method_id": method_id},
                             headers=headers)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=send) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    accepted = statuses.count(201)
    assert accepted == 9 and statuses.count(422) == 3, statuses  # 9 x 102.00 <= 1000.00 < 10 x 102.00
    new_available, new_held = balances(investor)
    assert new_held == accepted * 10_200 <= available
    assert new_available + new_held == available + held
    assert db.session.scalar(select(func.count(Payout.id))) == accepted


@pytest.mark.postgres
def test_two_finance_users_approving_at_once_approve_once(app, postgres, investor, method, finance, finance2,
                                                          monkeypatch):
    from app.auth.models import User

    set_setting("payout.dual_approval_above", 5_000)
    payout_id = request(investor, method, "100.00").id
    user_ids = [finance.id, finance2.id]
    barrier = threading.Barrier(2)
    results = []

    def approve(user_id):
        with app.app_context():
            barrier.wait(timeout=20)
            try:
                results.append(payouts.approve(db.session.get(Payout, payout_id), actor=db.session.get(User, user_id)))
                db.session.commit()
            except Exception as exc:
                db.session.rollback()
                results.append(type(exc).__name__)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=approve, args=(u,)) for u in user_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    db.session.expire_all()
    fresh = db.session.get(Payout, payout_id)
    assert "awaiting_second_approval" in results
    assert fresh.status in ("requested", "approved")
    if fresh.status == "approved":
        assert fresh.first_approver_id != fresh.approver_id
