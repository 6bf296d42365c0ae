"""The Money settings console: values in their units with their bounds, a proposal per setting with a reason,
Approve / Reject for someone else; every refusal is a flash message that changes nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.settings import services as money_settings
from app.settings.models import SettingChange
from tests.support import csrf_from

URL = "/admin/money_settings/"


@pytest.fixture
def console(app, login):
    def _console(user):
        http = app.test_client()
        assert login(user, http=http).status_code == 302
        return http

    return _console


def _post(http, path, **data):
    token = csrf_from(http.get(URL).get_data(as_text=True))
    return http.post(path, data={"csrf_token": token, **data}, follow_redirects=True)


def _changes() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(SettingChange.id))) or 0


def test_the_page_shows_values_in_their_units_and_bounds(console, finance):
    page = console(finance).get(URL).get_data(as_text=True)
    assert "Money settings" in page and "Largest payout" in page
    assert "USD 50,000.00" in page and "USD 100.00 to USD 1,000,000.00" in page  # payout.max and its bounds
    assert "0.50 %" in page and "7 days" in page and "CARD_FUNDS_HOLD_DAYS" in page
    assert 'name="reason"' in page


def test_propose_then_a_second_finance_user_approves(console, finance, finance2):
    maker, checker = console(finance), console(finance2)
    page = _post(maker, URL + "propose", key="payout.max", new_value="40,000.00",
                 reason="lower exposure").get_data(as_text=True)
    assert "Proposed: largest payout to USD 40,000.00" in page
    assert money_settings.value("payout.max") == 5_000_000
    change = db.session.scalar(select(SettingChange))
    assert change.new_value == 4_000_000 and change.reason == "lower exposure"
    assert f"/admin/money_settings/{change.id}/approve" not in page  # not for the proposer
    page = checker.get(URL).get_data(as_text=True)
    assert f"/admin/money_settings/{change.id}/approve" in page and "lower exposure" in page
    page = _post(checker, URL + f"{change.id}/approve").get_data(as_text=True)
    assert "Approved: largest payout is now USD 40,000.00." in page
    db.session.expire_all()
    assert money_settings.value("payout.max") == 4_000_000
    page = _post(checker, URL + f"{change.id}/approve").get_data(as_text=True)  # a replay
    assert "already applied" in page
    assert money_settings.value("payout.max") == 4_000_000


def test_approving_ones_own_proposal_is_refused(console, finance):
    http = console(finance)
    _post(http, URL + "propose", key="payout.min", new_value="20.00", reason="fewer tiny payouts")
    change = db.session.scalar(select(SettingChange))
    page = _post(http, URL + f"{change.id}/approve").get_data(as_text=True)
    assert "A different person must approve this change." in page
    db.session.expire_all()
    assert db.session.get(SettingChange, change.id).status == "pending"
    assert money_settings.value("payout.min") == 1_000


def test_reject_with_a_reason(console, finance, finance2):
    _post(console(finance), URL + "propose", key="payout.fee_bps", new_value="75", reason="costs went up")
    change = db.session.scalar(select(SettingChange))
    checker = console(finance2)
    page = _post(checker, URL + f"{change.id}/reject", reason="").get_data(as_text=True)
    assert "A reason is required" in page
    page = _post(checker, URL + f"{change.id}/reject", reason="not before January").get_data(as_text=True)
    assert "Rejected; the proposer is told." in page
    db.session.expire_all()
    assert db.session.get(SettingChange, change.id).status == "rejected"
    assert money_settings.value("payout.fee_bps") == 50


@pytest.mark.parametrize("key, raw, message", [
    ("payout.dual_approval_above", "0.00", "cannot be removed or set to zero"),
    ("payout.dual_approval_above", "", "A new value is required"),
    ("payout.max", "12.345", "The value is not an amount"),
    ("payout.max", "-5.00", "The value is not an amount"),
    ("payout.max", "99999999999999999999.00", "The value is not an amount"),
    ("payout.fee_bps", "7.5", "The value must be a whole number"),
    ("payout.fee_bps", "1e3", "The value must be a whole number"),
    ("card_funds.hold_days", "31", "CARD_FUNDS_HOLD_DAYS caps it"),
    ("payout.min", "20.00", "A reason is required"),
])
def test_refusals_are_flashed_and_write_nothing(console, finance, key, raw, message):
    reason = "" if message == "A reason is required" else "because"
    page = _post(console(finance), URL + "propose", key=key, new_value=raw, reason=reason).get_data(as_text=True)
    assert message in page
    assert _changes() == 0


def test_without_csrf_nothing_is_proposed(console, finance):
    response = console(finance).post(URL + "propose", data={"key": "payout.max", "new_value": "100.00",
                                                            "reason": "x"})
    assert response.status_code == 400
    assert _changes() == 0


def test_an_unknown_key_is_404(console, finance):
    assert _post(console(finance), URL + "propose", key="payout.nothing", new_value="1",
                 reason="x").status_code == 404
    assert _changes() == 0
