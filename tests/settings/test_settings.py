"""Settings that guard money: a change is a proposal that applies only when a different person approves it; bounds
in code and the environment's cap are enforced when proposed and again when approved; an approval applies once;
the proposer is told; payouts and gateways obey the values in force."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm.attributes import set_committed_value

from app.core.audit import AuditRecord
from app.core.db import unit_of_work
from app.core.errors import Conflict, Forbidden, IllegalTransition, ValidationError
from app.core.money import Money
from app.extensions import db
from app.payments import services as payments
from app.payouts import services as payouts
from app.settings import services as money_settings
from app.settings.models import MoneySetting, SettingChange
from app.settings.registry import GATEWAYS, KEYS
from tests.support import outbox, set_setting

REASON = "the bank raised its own limit"


def propose(key, value, actor, reason=REASON):
    with unit_of_work():
        return money_settings.propose(key, value, actor=actor, reason=reason)


def approve(change, actor):
    with unit_of_work():
        return money_settings.approve(change, actor=actor)


def changes() -> int:
    return db.session.scalar(select(func.count(SettingChange.id))) or 0


def stored_rows() -> dict[str, int]:
    """Values written by an approval (the migration's seeded rows do not count)."""
    return {key: amount for key, amount in db.session.execute(
        select(MoneySetting.key, MoneySetting.value).where(MoneySetting.change_id.is_not(None)))}


def test_the_registry_names_every_key_with_todays_defaults():
    names = {"payout.min", "payout.max", "payout.fee_bps", "payout.fee_fixed", "payout.daily_limit",
             "payout.monthly_limit", "payout.dual_approval_above", "bank_transfer.second_approval_above",
             "properties.rate_cap_bps", "card_funds.hold_days"}
    names |= {f"gateway.{g}.{n}" for g in GATEWAYS for n in ("min_amount", "max_amount", "fee_bps", "fee_fixed")}
    market = {"market.seller_fee_bps": 100, "market.seller_fee_min": 100, "market.buyer_fee_bps": 100,
              "market.buyer_fee_min": 100, "market.price_band_low_bps": 5_000, "market.price_band_high_bps": 15_000,
              "market.listing_days": 30, "market.offer_days": 7, "market.lockup_days": 180}
    names |= set(market)
    assert set(KEYS) == names
    assert {k: KEYS[k].default for k in market} == market
    assert all(KEYS[k].group == "Market" and not KEYS[k].admin_only for k in market)
    assert {k: KEYS[k].default for k in ("payout.min", "payout.max", "payout.fee_bps", "payout.fee_fixed",
                                         "payout.dual_approval_above", "properties.rate_cap_bps",
                                         "card_funds.hold_days")} == {
        "payout.min": 1_000, "payout.max": 5_000_000, "payout.fee_bps": 50, "payout.fee_fixed": 100,
        "payout.dual_approval_above": 1_000_000, "properties.rate_cap_bps": 3_000, "card_funds.hold_days": 7}
    assert (KEYS["properties.rate_cap_bps"].floor, KEYS["properties.rate_cap_bps"].ceiling) == (100, 10_000)
    assert KEYS["card_funds.hold_days"].floor == 1 and KEYS["card_funds.hold_days"].env_cap == "CARD_FUNDS_HOLD_DAYS"
    for spec in KEYS.values():
        assert spec.floor <= spec.default <= spec.ceiling


def test_a_finance_user_alone_changes_nothing(app, finance):
    change = propose("payout.dual_approval_above", 2_000_000, finance)
    db.session.expire_all()
    assert change.status == "pending" and change.old_value == 1_000_000
    assert money_settings.value("payout.dual_approval_above") == 1_000_000
    assert payouts.settings().dual_approval_above == Money(1_000_000, "USD")
    record = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "settings.proposed"))
    assert record.actor_id == finance.id and record.after["new_value"] == 2_000_000 and record.reason == REASON


def test_a_second_finance_user_approves_and_the_proposer_is_told(app, finance, finance2):
    change = propose("payout.dual_approval_above", 2_000_000, finance)
    approve(change, finance2)
    db.session.expire_all()
    assert money_settings.value("payout.dual_approval_above") == 2_000_000
    row = db.session.scalar(select(MoneySetting).where(MoneySetting.key == "payout.dual_approval_above"))
    assert row.updated_by_id == finance2.id and row.change_id == change.id
    change = db.session.get(SettingChange, change.id)
    assert change.status == "applied" and change.decided_by_id == finance2.id
    record = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "settings.approved"))
    assert record.actor_id == finance2.id and record.before["value"] == 1_000_000 and record.after["value"] == 2_000_000
    mail = outbox(finance.email, "setting_change_decided")
    assert mail and "approved" in mail[-1].subject and "USD 20,000.00" in mail[-1].body
    assert not outbox(finance2.email, "setting_change_decided")


@pytest.mark.parametrize("role", ["finance", "admin"])
def test_nobody_approves_their_own_proposal(app, make_user, role):
    me = make_user(role=role)
    change = propose("payout.max", 4_000_000, me)
    with pytest.raises(Forbidden, match="different person"), unit_of_work():
        money_settings.approve(change, actor=me)
    db.session.expire_all()
    assert db.session.get(SettingChange, change.id).status == "pending"
    assert money_settings.value("payout.max") == 5_000_000 and stored_rows() == {}
    assert not db.session.scalar(select(AuditRecord).where(AuditRecord.action == "settings.approved"))


def test_reject_needs_a_reason_and_tells_the_proposer(app, finance, finance2):
    change = propose("payout.fee_bps", 80, finance)
    with pytest.raises(ValidationError), unit_of_work():
        money_settings.reject(change, actor=finance2, reason="  ")
    with unit_of_work():
        money_settings.reject(change, actor=finance2, reason="not this quarter")
    db.session.expire_all()
    change = db.session.get(SettingChange, change.id)
    assert (change.status, change.rejection_reason) == ("rejected", "not this quarter")
    assert money_settings.value("payout.fee_bps") == 50
    assert db.session.scalar(select(AuditRecord).where(AuditRecord.action == "settings.rejected")).reason \
        == "not this quarter"
    mail = outbox(finance.email, "setting_change_decided")
    assert mail and "rejected" in mail[-1].subject and "not this quarter" in mail[-1].body
    with pytest.raises(IllegalTransition), unit_of_work():
        money_settings.approve(change, actor=finance2)  # decided: nothing left to approve
    assert money_settings.value("payout.fee_bps") == 50


def test_the_proposer_withdraws_and_may_propose_again(app, finance, finance2):
    change = propose("payout.min", 2_000, finance)
    with pytest.raises(Forbidden), unit_of_work():
        money_settings.withdraw(change, actor=finance2)
    with unit_of_work():
        money_settings.withdraw(change, actor=finance)
    assert db.session.get(SettingChange, change.id).status == "withdrawn"
    again = propose("payout.min", 2_500, finance)
    assert again.status == "pending"


def test_one_pending_proposal_per_key(app, finance, finance2):
    propose("payout.max", 4_000_000, finance)
    with pytest.raises(Conflict, match="already waiting"), unit_of_work():
        money_settings.propose("payout.max", 3_000_000, actor=finance2, reason=REASON)
    assert changes() == 1


@pytest.mark.parametrize("key, value, message", [
    ("payout.dual_approval_above", 0, "cannot be removed or set to zero"),
    ("bank_transfer.second_approval_above", -5, "cannot be removed or set to zero"),
    ("payout.min", 50, "cannot be set below USD 1.00"),
    ("payout.max", 10**30, "cannot be above USD 1,000,000.00"),
    ("gateway.stripe.fee_bps", 5_001, "cannot be above 50.00 %"),
    ("payout.monthly_limit", 2_000_000, "cannot be below payouts per investor per day"),
    ("card_funds.hold_days", 0, "cannot be removed or set to zero"),
])
def test_values_outside_the_bounds_are_refused(app, finance, key, value, message):
    with pytest.raises(ValidationError) as refused, unit_of_work():
        money_settings.propose(key, value, actor=finance, reason=REASON)
    assert message in refused.value.message
    assert changes() == 0


def test_a_minimum_above_its_maximum_is_refused(app, finance):
    set_setting("payout.max", 50_000)
    with pytest.raises(ValidationError, match=r"cannot be above largest payout \(USD 500.00\)"), unit_of_work():
        money_settings.propose("payout.min", 60_000, actor=finance, reason=REASON)
    assert changes() == 0


@pytest.mark.parametrize("value", ["1000", 10.5, True, None, [1]])
def test_a_value_that_is_not_a_whole_number_is_refused(app, finance, value):
    with pytest.raises(ValidationError, match="whole number"), unit_of_work():
        money_settings.propose("payout.min", value, actor=finance, reason=REASON)
    assert changes() == 0


def test_a_reason_is_required(app, finance):
    with pytest.raises(ValidationError, match="reason"), unit_of_work():
        money_settings.propose("payout.min", 2_000, actor=finance, reason=" ")
    assert changes() == 0


def test_the_environment_caps_and_never_raises(app, finance, finance2, monkeypatch):
    monkeypatch.setitem(app.config, "CARD_FUNDS_HOLD_DAYS", 10)
    assert money_settings.value("card_funds.hold_days") == 7
    with pytest.raises(ValidationError, match="CARD_FUNDS_HOLD_DAYS caps it"), unit_of_work():
        money_settings.propose("card_funds.hold_days", 14, actor=finance, reason=REASON)
    assert changes() == 0
    change = propose("card_funds.hold_days", 9, finance)
    monkeypatch.setitem(app.config, "CARD_FUNDS_HOLD_DAYS", 5)  # lowered before the approval
    assert money_settings.value("card_funds.hold_days") == 5  # the cap applies at once
    with pytest.raises(ValidationError, match="CARD_FUNDS_HOLD_DAYS"), unit_of_work():
        money_settings.approve(change, actor=finance2)
    db.session.expire_all()
    assert db.session.get(SettingChange, change.id).status == "pending" and stored_rows() == {}
    monkeypatch.setitem(app.config, "CARD_FUNDS_HOLD_DAYS", 30)
    approve(change, finance2)
    assert money_settings.value("card_funds.hold_days") == 9


def test_a_value_no_longer_valid_at_approval_is_refused(app, finance, finance2):
    """min above max after another change: the approval is refused and nothing is written."""
    raise_min = propose("payout.min", 40_000, finance)  # 400.00: fine while the maximum is 50,000.00
    lower_max = propose("payout.max", 30_000, finance2)  # 300.00: fine while the minimum is 10.00
    approve(lower_max, finance)
    with pytest.raises(ValidationError, match="cannot be above largest payout"), unit_of_work():
        money_settings.approve(raise_min, actor=finance2)
    db.session.expire_all()
    assert db.session.get(SettingChange, raise_min.id).status == "pending"
    assert money_settings.value("payout.min") == 1_000


def test_a_replayed_approval_applies_once(app, finance, finance2, make_user):
    change = propose("payout.fee_fixed", 150, finance)
    approve(change, finance2)
    for who in (finance2, make_user(role="finance")):
        with pytest.raises(IllegalTransition, match="already applied"), unit_of_work():
            money_settings.approve(change, actor=who)
    db.session.expire_all()
    assert money_settings.value("payout.fee_fixed") == 150
    assert db.session.scalar(select(func.count(AuditRecord.id)).where(AuditRecord.action == "settings.approved")) == 1


def test_a_stale_copy_of_the_proposal_cannot_be_approved_twice(app, finance, finance2, make_user):
    """The conditional UPDATE decides, not the status a caller read earlier."""
    change = propose("payout.fee_fixed", 150, finance)
    approve(change, finance2)
    set_committed_value(change, "status", "pending")  # as a copy read before the first approval has it
    with pytest.raises(IllegalTransition), unit_of_work():
        money_settings.approve(change, actor=make_user(role="finance"))
    db.session.expire_all()
    assert db.session.get(SettingChange, change.id).decided_by_id == finance2.id


def test_the_rate_cap_is_for_admins_only(app, finance, finance2, make_user):
    with pytest.raises(Forbidden, match="an admin"), unit_of_work():
        money_settings.propose("properties.rate_cap_bps", 2_500, actor=finance, reason=REASON)
    admin1, admin2 = make_user(role="admin"), make_user(role="admin")
    change = propose("properties.rate_cap_bps", 2_500, admin1)
    with pytest.raises(Forbidden, match="an admin"), unit_of_work():
        money_settings.approve(change, actor=finance2)
    with pytest.raises(Forbidden), unit_of_work():
        money_settings.approve(change, actor=admin1)
    assert money_settings.value("properties.rate_cap_bps") == 3_000
    approve(change, admin2)
    assert money_settings.value("properties.rate_cap_bps") == 2_500


@pytest.mark.parametrize("role", ["support", "property_manager", "compliance", "investor"])
def test_other_roles_cannot_propose_or_approve(app, finance, make_user, role):
    someone = make_user(role=role)
    with pytest.raises(Forbidden), unit_of_work():
        money_settings.propose("payout.max", 4_000_000, actor=someone, reason=REASON)
    change = propose("payout.max", 4_000_000, finance)
    with pytest.raises(Forbidden), unit_of_work():
        money_settings.approve(change, actor=someone)
    with pytest.raises(Forbidden), unit_of_work():
        money_settings.reject(change, actor=someone, reason="no")
    db.session.expire_all()
    assert db.session.get(SettingChange, change.id).status == "pending" and stored_rows() == {}


# the readers obey -------------------------------------------------------------------------------------------------
def test_a_payout_above_the_new_maximum_is_refused(app, investor, method, finance, finance2):
    approve(propose("payout.max", 20_000, finance), finance2)  # 200.00
    with pytest.raises(ValidationError) as refused:
        payouts.request_payout(investor, Money(20_001, "USD"), method.id)
    db.session.rollback()
    assert "200.00" in str(refused.value.errors)
    assert payouts.request_payout(investor, Money(20_000, "USD"), method.id).status == "requested"
    db.session.commit()


def test_a_new_payout_fee_applies_after_approval(app, finance, finance2):
    assert payouts.quote(Money(10_000, "USD")).fee == Money(150, "USD")  # 0.5 % + 1.00
    approve(propose("payout.fee_bps", 100, finance), finance2)
    approve(propose("payout.fee_fixed", 0, finance), finance2)
    assert payouts.quote(Money(10_000, "USD")).fee == Money(100, "USD")


def test_gateways_obey_the_new_limits_and_fee(app, make_user, finance, finance2):
    investor = make_user()
    approve(propose("gateway.bank_transfer.max_amount", 50_000, finance), finance2)
    approve(propose("gateway.bank_transfer.fee_fixed", 200, finance), finance2)
    with pytest.raises(ValidationError, match="outside the limits"):
        payments.start_deposit(investor, Money(50_001, "USD"), "bank_transfer")
    db.session.rollback()
    deposit = payments.start_deposit(investor, Money(50_000, "USD"), "bank_transfer")
    assert deposit.fee == 200
    db.session.commit()


def test_a_new_bank_transfer_threshold_applies_after_approval(app, make_user, finance, finance2):
    approve(propose("bank_transfer.second_approval_above", 5_000, finance), finance2)
    assert payments.settings_for("bank_transfer").second_approval_above == 5_000
    with unit_of_work():
        deposit = payments.create_deposit(make_user().id, Money(6_000, "USD"), "bank_transfer")
    with unit_of_work():
        assert payments.approve_bank_transfer(deposit, actor=finance) == "awaiting_second_approval"


def test_a_deposit_with_a_first_approval_stays_two_person(app, make_user, finance, finance2):
    """The threshold raised after the first approval: the deposit still needs a second, different approver."""
    set_setting("bank_transfer.second_approval_above", 5_000)
    with unit_of_work():
        deposit = payments.create_deposit(make_user().id, Money(6_000, "USD"), "bank_transfer")
    with unit_of_work():
        assert payments.approve_bank_transfer(deposit, actor=finance) == "awaiting_second_approval"
    admin1, admin2 = make_user(role="admin"), make_user(role="admin")
    approve(propose("bank_transfer.second_approval_above", 1_000_000, admin1), admin2)
    with pytest.raises(Forbidden, match="second finance user"), unit_of_work():
        payments.approve_bank_transfer(deposit, actor=finance)
    db.session.expire_all()
    assert db.session.get(type(deposit), deposit.id).status == "pending"
    with unit_of_work():
        assert payments.approve_bank_transfer(deposit, actor=finance2) == "credited"
    db.session.expire_all()
    done = db.session.get(type(deposit), deposit.id)
    assert done.status == "succeeded" and (done.first_approver_id, done.decided_by_id) == (finance.id, finance2.id)
