"""The card-funds hold: card deposits' money can be invested in offerings but not paid out until the hold ends;
bank transfers are free at once; refunds take back from the hold; the hold is a four-eyes setting capped by the
environment; two payouts at once never take more than is withdrawable. The ledger verifies after each test."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core.db import unit_of_work, utcnow
from app.core.errors import Forbidden, InsufficientFunds, ValidationError
from app.core.money import Money
from app.extensions import db
from app.investing import services as investing
from app.payments import card_funds
from app.payments import services as payments
from app.payments.models import CardFundLock
from app.payouts import services as payouts
from app.payouts.models import Payout
from app.settings import services as money_settings
from app.settings.models import SettingChange
from tests.concurrency import run_threads
from tests.payments.card_support import card_deposit, move_clock
from tests.payouts.helpers import balances
from tests.support import csrf_from

USD = "USD"
REASON = "Chargebacks arrive later than a week at our acquirer."


@pytest.fixture
def investor_options() -> dict:
    return {"balance": None}  # KYC approved, an empty wallet


def usd(text: str) -> Money:
    return Money.parse(text, USD)


def later(user) -> tuple[int, list[tuple[str, int]]]:
    db.session.expire_all()
    room = card_funds.withdrawable(user.id)
    return room.now.minor, [(day.isoformat(), amount.minor) for day, amount in room.later]


def lock_of(deposit) -> CardFundLock:
    db.session.expire_all()
    return db.session.scalars(select(CardFundLock).where(CardFundLock.deposit_id == deposit.id)).one()


def payout_count() -> int:
    return db.session.scalar(select(func.count(Payout.id))) or 0


def test_the_card_gateways_are_named_once():
    assert {"stripe", "razorpay", "paypal"} == card_funds.CARD_GATEWAYS
    assert not card_funds.is_card("bank_transfer")


def test_card_money_is_held_for_the_hold_days_and_a_bank_transfer_is_not(investor, fund):
    fund(investor, "120.00")  # a bank transfer
    card = card_deposit(investor, "300.00")
    razor = card_deposit(investor, "50.00", "razorpay")
    day = (utcnow() + timedelta(days=7)).date().isoformat()
    assert later(investor) == (12_000, [(day, 35_000)])
    lock = lock_of(card)
    assert (lock.amount, lock.remaining, lock.user_id) == (30_000, 30_000, investor.id)
    assert timedelta(days=6, hours=23) < lock.releases_at - utcnow() <= timedelta(days=7)
    assert lock_of(razor).remaining == 5_000
    assert db.session.scalar(select(func.count(CardFundLock.id))) == 2  # none for the bank transfer
    # a repeated confirmation of a credited deposit credits and locks nothing more
    with unit_of_work():
        payments.complete_deposit(card)
    assert db.session.scalar(select(func.count(CardFundLock.id))) == 2
    assert later(investor) == (12_000, [(day, 35_000)])


def test_a_payout_is_refused_for_card_money_inside_the_hold_and_allowed_after(investor, method, fund, no_fee,
                                                                          monkeypatch):
    fund(investor, "120.00")
    card_deposit(investor, "300.00")
    start = balances(investor)
    free_on = utcnow() + timedelta(days=7)
    with pytest.raises(InsufficientFunds) as refused, unit_of_work():
        payouts.request_payout(investor, usd("200.00"), method.id)
    assert str(refused.value) == (f"You can withdraw USD 120.00 now; USD 300.00 more from {free_on.day} "
                                  f"{free_on:%b %Y} (card deposits are held for 7 days)")
    assert refused.value.status == 422 and "amount" in refused.value.errors
    assert balances(investor) == start and payout_count() == 0  # nothing written
    with unit_of_work():
        payouts.request_payout(investor, usd("120.00"), method.id)  # the bank transfer's money: at once
    assert balances(investor) == (30_000, 12_000)
    with pytest.raises(InsufficientFunds, match=r"You can withdraw USD 0.00 now; USD 300.00 more"), unit_of_work():
        payouts.request_payout(investor, usd("10.00"), method.id)
    move_clock(monkeypatch, 6.9)  # still inside
    with pytest.raises(InsufficientFunds), unit_of_work():
        payouts.request_payout(investor, usd("10.00"), method.id)
    move_clock(monkeypatch, 7.01)  # the hold is over
    assert later(investor) == (30_000, [])
    with unit_of_work():
        payouts.request_payout(investor, usd("300.00"), method.id)
    assert balances(investor) == (0, 42_000)


def test_the_fee_counts_against_what_can_be_withdrawn(investor, method, fund):
    fund(investor, "100.00")
    card_deposit(investor, "500.00")
    # the default fee is 0.50 % + 1.00: 100.00 asked costs 101.50 from the wallet
    with pytest.raises(InsufficientFunds, match=r"You can withdraw USD 100\.00 now"), unit_of_work():
        payouts.request_payout(investor, usd("100.00"), method.id)
    with unit_of_work():
        payout = payouts.request_payout(investor, usd("98.00"), method.id)
    assert payout.amount + payout.fee <= 10_000


def test_card_money_can_be_invested_and_investing_spends_it_first(investor, fund, make_property):
    p = make_property()
    fund(investor, "200.00")
    first = card_deposit(investor, "1000.00")
    second = card_deposit(investor, "300.00", "paypal")
    with unit_of_work():
        investing.invest(investor, p.id, usd("600.00"), acknowledged=True)
    assert (lock_of(first).remaining, lock_of(second).remaining) == (40_000, 30_000)  # the oldest first
    assert later(investor)[0] == 20_000  # 900.00 in the wallet, 700.00 of it card money inside the hold
    with unit_of_work():
        investing.invest(investor, p.id, usd("800.00"), acknowledged=True)
    assert (lock_of(first).remaining, lock_of(second).remaining) == (0, 0)
    assert later(investor) == (10_000, [])  # what is left is the bank transfer's


def test_investing_after_the_hold_leaves_the_released_locks_alone(investor, fund, make_property, monkeypatch):
    p = make_property()
    deposit = card_deposit(investor, "300.00")
    move_clock(monkeypatch, 8)
    with unit_of_work():
        investing.invest(investor, p.id, usd("100.00"), acknowledged=True)
    assert lock_of(deposit).remaining == 30_000  # released already: nothing to consume
    assert later(investor) == (20_000, [])


def test_a_refund_takes_the_money_that_left_out_of_the_hold(investor, fund, make_property):
    fund(investor, "50.00")
    deposit = card_deposit(investor, "300.00")
    with unit_of_work():
        payments.apply_refund(db.session.get(type(deposit), deposit.id), 10_000)  # the gateway refunded 100.00
    assert lock_of(deposit).remaining == 20_000
    assert later(investor)[0] == 5_000
    p = make_property()
    with unit_of_work():
        investing.invest(investor, p.id, usd("150.00"), acknowledged=True)
    assert lock_of(deposit).remaining == 5_000
    with unit_of_work():  # the rest refunded: more than is left in the lock, which stops at zero
        payments.apply_refund(db.session.get(type(deposit), deposit.id), 30_000)
    assert (lock_of(deposit).remaining, lock_of(deposit).invested) == (0, 15_000)
    with unit_of_work():  # proceeds from the holding refill only what was invested, never the refunded part
        assert card_funds.relock(investor.id, 100_000) == 15_000
    assert lock_of(deposit).remaining == 15_000
    with unit_of_work():
        card_funds.take_back(deposit.id, 20_000)  # a dispute on it later changes nothing below zero
    assert lock_of(deposit).remaining == 0


def test_the_hold_is_a_four_eyes_setting_capped_by_the_environment(app, investor, finance, finance2, monkeypatch):
    with unit_of_work():
        change = money_settings.propose("card_funds.hold_days", 3, actor=finance, reason=REASON)
    with pytest.raises(Forbidden):
        money_settings.approve(change, actor=finance)  # not by its proposer
    db.session.rollback()
    assert card_funds.hold_days() == 7
    with unit_of_work():
        money_settings.approve(db.session.merge(change), actor=finance2)
    assert card_funds.hold_days() == 3
    deposit = card_deposit(investor, "100.00")
    assert timedelta(days=2, hours=23) < lock_of(deposit).releases_at - utcnow() <= timedelta(days=3)
    monkeypatch.setitem(app.config, "CARD_FUNDS_HOLD_DAYS", 2)  # the environment caps it
    assert card_funds.hold_days() == 2
    with pytest.raises(ValidationError, match="CARD_FUNDS_HOLD_DAYS"), unit_of_work():
        money_settings.propose("card_funds.hold_days", 5, actor=finance, reason=REASON)
    other = card_deposit(investor, "20.00", "razorpay")
    assert timedelta(days=1, hours=23) < lock_of(other).releases_at - utcnow() <= timedelta(days=2)


def test_finance_proposes_the_hold_in_the_settings_console_and_another_approves(app, login, finance, finance2):
    url = "/admin/money_settings/"

    def console(user):
        http = app.test_client()
        assert login(user, http=http).status_code == 302
        return http

    def post(http, path, **data):
        token = csrf_from(http.get(url).get_data(as_text=True))
        return http.post(path, data={"csrf_token": token, **data}, follow_redirects=True).get_data(as_text=True)

    maker, checker = console(finance), console(finance2)
    post(maker, url + "propose", key="card_funds.hold_days", new_value="10", reason=REASON)
    change = db.session.scalar(select(SettingChange))
    assert change.key == "card_funds.hold_days" and card_funds.hold_days() == 7
    assert "A different person must approve" in post(maker, url + f"{change.id}/approve")
    assert card_funds.hold_days() == 7
    post(checker, url + f"{change.id}/approve")
    assert card_funds.hold_days() == 10


def test_the_sentence_names_each_day(investor, monkeypatch):
    card_deposit(investor, "100.00")
    move_clock(monkeypatch, 1)
    card_deposit(investor, "40.00", "paypal")
    first, second = (utcnow() + timedelta(days=7)).date(), (utcnow() + timedelta(days=8)).date()
    room = card_funds.withdrawable(investor.id)
    assert room.now.minor == 0 and room.held.minor == 14_000
    assert [(d, m.minor) for d, m in room.later] == [(first, 10_000), (second, 4_000)]
    assert room.sentence() == (f"You can withdraw USD 0.00 now; USD 100.00 more from {first.day} {first:%b %Y}, "
                               f"USD 40.00 more from {second.day} {second:%b %Y} (card deposits are held for 7 days)")


@pytest.mark.usefixtures("postgres")
def test_two_payouts_at_once_cannot_together_exceed_what_is_withdrawable(app, investor, method, fund, no_fee):
    fund(investor, "300.00")
    card_deposit(investor, "1000.00")
    user_id, method_id = investor.id, method.id

    def work(_):
        from app.auth.models import User

        return payouts.request_payout(db.session.get(User, user_id), usd("200.00"), method_id)

    results = run_threads(app, 2, work)
    assert sum(isinstance(r, Payout) for r in results) == 1
    assert [type(r) for r in results if not isinstance(r, Payout)] == [InsufficientFunds]
    assert balances(investor) == (110_000, 20_000)
    assert later(investor)[0] == 10_000


def test_deposits_credited_by_the_drainers_batch_are_held_once(app, stripe_config, investor, make_user):
    from app.payments import tasks
    from tests.payments.test_webhook_inbox import event_for, paid_deposits, store_unannounced

    other = make_user()
    deposits = paid_deposits(stripe_config, investor, 2) + paid_deposits(stripe_config, other, 1)
    store_unannounced([event_for(d, n) for n in range(2) for d in deposits])  # each event twice
    assert tasks.drain() == {"processed": 6, "more": False}
    db.session.expire_all()
    locks = db.session.scalars(select(CardFundLock).order_by(CardFundLock.deposit_id)).all()
    assert [(lock.deposit_id, lock.user_id, lock.remaining) for lock in locks] == [
        (deposits[0].id, investor.id, 10_000), (deposits[1].id, investor.id, 10_000), (deposits[2].id, other.id, 10_000)]
    assert later(investor)[0] == 0 and later(other)[0] == 0


def test_card_money_refunded_by_a_cancelled_offering_comes_back_inside_the_hold(investor, fund, make_property,
                                                                                  manager):
    from app.properties import services as properties

    fund(investor, "100.00")
    deposit = card_deposit(investor, "500.00")
    p = make_property()
    with unit_of_work():
        investing.invest(investor, p.id, usd("400.00"), acknowledged=True)
    assert later(investor)[0] == 10_000 and lock_of(deposit).remaining == 10_000
    with unit_of_work():
        properties.cancel(db.session.merge(p), actor=manager, reason="Permit refused")
    assert (lock_of(deposit).remaining, lock_of(deposit).invested) == (50_000, 0)
    assert later(investor)[0] == 10_000  # the 400.00 refunded is card money inside its hold again
