"""Disputes and chargebacks through the payments service: held from the wallet as far as it goes, the rest a
receivable; won releases, lost settles to the gateway's clearing account; every call once whatever the repeats
and the order. The ledger verifies after each test (tests/conftest.py)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from app.core.db import unit_of_work
from app.core.errors import Forbidden, IllegalTransition, ValidationError
from app.core.money import Money
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import FEE_REVENUE, GATEWAY_CLEARING, RECEIVABLES, USER_HELD, USER_WALLET, Hold
from app.payments import disputes
from app.payments import services as payments
from app.payments.models import Deposit, Dispute, Receivable


@pytest.fixture
def investor_options() -> dict:
    return {"balance": None, "kyc": False}


def card_deposit(user, amount: int = 10_000, gateway: str = "stripe") -> Deposit:
    """A card deposit credited to the wallet (its checkout and payment references set as a gateway would)."""
    with unit_of_work():
        deposit = payments.create_deposit(user.id, Money(amount, "USD"), gateway)
        deposit.gateway_reference = f"cs_{deposit.id}"
        payments.complete_deposit(deposit, charge_reference=f"pi_{deposit.id}")
    return deposit


def spend(user, amount: int) -> None:
    with unit_of_work():
        ledger.post([(ledger.user_account(user.id, USER_WALLET), -amount), (ledger.platform_account(FEE_REVENUE),
                                                                            amount)],
                    key=f"spent-{user.id}-{amount}", kind="test")


def balances(user) -> tuple[int, int]:
    db.session.expire_all()
    return (ledger.user_account(user.id, USER_WALLET).balance, ledger.user_account(user.id, USER_HELD).balance)


def open_it(deposit, external_id="du_1", amount=None):
    with unit_of_work():
        return disputes.open_dispute(provider=deposit.gateway, external_id=external_id, deposit=deposit,
                                     amount=deposit.amount if amount is None else amount, currency="USD",
                                     reason="fraudulent").id


def close_it(of, outcome, external_id="du_1", **kw):
    with unit_of_work():
        return disputes.close_dispute(provider=of.gateway, external_id=external_id, outcome=outcome, **kw).id


def test_opened_with_the_whole_amount_in_the_wallet_holds_it_all(investor):
    deposit = card_deposit(investor)
    dispute = db.session.get(Dispute, open_it(deposit))
    assert (dispute.held, dispute.receivable, dispute.status) == (10_000, 0, "open")
    assert balances(investor) == (0, 10_000)
    assert db.session.get(Hold, dispute.hold_id).status == "pending"
    open_it(deposit)  # again: nothing more
    assert balances(investor) == (0, 10_000)
    assert db.session.scalar(select(func.count(Dispute.id))) == 1


def test_money_already_spent_becomes_a_receivable_and_lost_settles_to_clearing(investor):
    deposit = card_deposit(investor)
    spend(investor, 7_000)
    dispute = db.session.get(Dispute, open_it(deposit))
    assert (dispute.held, dispute.receivable) == (3_000, 7_000)
    assert balances(investor) == (0, 3_000)
    receivable = db.session.get(Receivable, dispute.receivable_id)
    assert receivable.amount == 7_000
    assert ledger.platform_account(RECEIVABLES, f"user-{investor.id}").balance == -7_000
    close_it(deposit, "lost")
    close_it(deposit, "lost")
    db.session.expire_all()
    dispute = db.session.get(Dispute, dispute.id)
    assert dispute.status == "lost" and db.session.get(Hold, dispute.hold_id).status == "settled"
    assert balances(investor) == (0, 0)
    # the gateway took the whole charge back: clearing is square again
    assert ledger.platform_account(GATEWAY_CLEARING, "stripe").balance == 0
    assert ledger.platform_account(RECEIVABLES, f"user-{investor.id}").balance == -7_000


def test_won_releases_the_hold_and_reverses_the_receivable(investor):
    deposit = card_deposit(investor)
    spend(investor, 7_000)
    open_it(deposit)
    close_it(deposit, "won")
    close_it(deposit, "lost")  # afterwards: flagged, nothing moves
    dispute = db.session.scalar(select(Dispute))
    assert dispute.status == "won" and dispute.attention_reason
    assert balances(investor) == (3_000, 0)
    assert ledger.platform_account(RECEIVABLES, f"user-{investor.id}").balance == 0
    assert db.session.get(Receivable, dispute.receivable_id).settled_at is not None


def test_closed_before_it_was_opened(investor):
    deposit = card_deposit(investor)
    close_it(deposit, "lost", deposit=deposit, amount=10_000, currency="USD")
    open_it(deposit)
    dispute = db.session.scalar(select(Dispute))
    assert dispute.status == "lost" and dispute.held == 10_000
    assert balances(investor) == (0, 0)


def test_unknown_deposit_moves_nothing(investor):
    with unit_of_work():
        dispute = disputes.open_dispute(provider="stripe", external_id="du_x", deposit=None, amount=500,
                                        currency="USD")
    assert dispute.attention_reason and dispute.booked_at is None
    with unit_of_work():
        disputes.close_dispute(provider="stripe", external_id="du_x", outcome="lost")
    assert db.session.scalar(select(Dispute)).status == "lost"


def test_a_dispute_before_the_deposit_was_credited_books_when_it_is(investor):
    with unit_of_work():
        deposit = payments.create_deposit(investor.id, Money(10_000, "USD"), "stripe")
        disputes.open_dispute(provider="stripe", external_id="du_early", deposit=deposit, amount=10_000,
                              currency="USD")
    dispute = db.session.scalar(select(Dispute))
    assert dispute.booked_at is None and "not credited" in dispute.attention_reason
    with unit_of_work():
        payments.complete_deposit(db.session.get(Deposit, deposit.id))
    assert balances(investor) == (10_000, 0)
    close_it(deposit, "lost", external_id="du_early")
    dispute = db.session.scalar(select(Dispute))
    assert dispute.status == "lost" and dispute.held == 10_000 and dispute.attention_reason is None
    assert balances(investor) == (0, 0)


def test_a_disputed_deposit_cannot_be_refunded_by_finance(investor, finance):
    deposit = card_deposit(investor)
    open_it(deposit)
    with pytest.raises(IllegalTransition, match="disputed"), unit_of_work():
        payments.refund(db.session.get(Deposit, deposit.id), None, actor=finance, reason="asked")
    assert db.session.get(Deposit, deposit.id).refunded_amount == 0


def test_more_than_the_charge_is_never_booked(investor):
    deposit = card_deposit(investor)
    dispute = db.session.get(Dispute, open_it(deposit, amount=25_000))
    assert dispute.held == 10_000 and dispute.receivable == 0 and "250.00" in dispute.attention_reason


def test_nobody_writes_notes_on_a_dispute_of_their_own_money(make_user):
    staff = make_user(role="finance")
    deposit = card_deposit(staff)
    dispute = db.session.get(Dispute, open_it(deposit))
    with pytest.raises(Forbidden), unit_of_work():
        disputes.add_note(dispute, actor=staff, body="mine")


@pytest.mark.parametrize("bad", [{"amount": -1}, {"amount": 1.5}, {"currency": "DOLLARS"}, {"external_id": ""}])
def test_bad_input_is_refused_and_nothing_written(investor, bad):
    deposit = card_deposit(investor)
    args = {"provider": "stripe", "external_id": "du_bad", "deposit": deposit, "amount": 100, "currency": "USD",
            **bad}
    with pytest.raises(ValidationError), unit_of_work():
        disputes.open_dispute(**args)
    with pytest.raises(ValidationError), unit_of_work():
        disputes.close_dispute(provider="stripe", external_id="du_bad", outcome="maybe")
    assert db.session.scalar(select(func.count(Dispute.id))) == 0


def test_verify_checks_each_dispute_against_the_ledger(investor):
    deposit = card_deposit(investor)
    dispute_id = open_it(deposit)
    assert ledger.verify().ok
    db.session.execute(update(Dispute).where(Dispute.id == dispute_id).values(held=9_000))
    assert any(f"dispute #{dispute_id}" in v for v in disputes.disputes_match_the_ledger())
    db.session.rollback()
    db.session.execute(update(Dispute).where(Dispute.id == dispute_id).values(status="won"))
    assert any("pending" in v for v in disputes.disputes_match_the_ledger())
    db.session.rollback()
    assert disputes.disputes_match_the_ledger() == []
