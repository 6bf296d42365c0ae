"""Attacks on the settings that guard money: staff without the permission proposing or approving (403, nothing
written), finance touching the admins' rate cap, a proposer approving their own change, and two approvals racing
(PostgreSQL: the conditional UPDATE lets exactly one apply)."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from app.core.audit import AuditRecord
from app.core.db import unit_of_work
from app.extensions import db
from app.settings import services as money_settings
from app.settings.models import MoneySetting, SettingChange
from tests.support import csrf_from

URL = "/admin/money_settings/"


def _console(app, login, user):
    http = app.test_client()
    assert login(user, http=http).status_code == 302
    return http


def _written() -> tuple[int, int]:
    """(proposals, values written by an approval) — the migration's seeded rows do not count."""
    db.session.expire_all()
    return (db.session.scalar(select(func.count(SettingChange.id))) or 0,
            db.session.scalar(select(func.count(MoneySetting.id)).where(MoneySetting.change_id.is_not(None))) or 0)


@pytest.mark.parametrize("role", ["support", "property_manager", "compliance"])
def test_staff_without_the_permission_cannot_see_propose_or_approve(app, login, make_user, finance, role):
    with unit_of_work():
        change = money_settings.propose("payout.max", 4_000_000, actor=finance, reason="lower exposure")
    http = _console(app, login, make_user(role=role))
    assert http.get(URL).status_code == 403
    token = csrf_from(http.get("/admin/").get_data(as_text=True))
    assert http.post(URL + "propose", data={"csrf_token": token, "key": "payout.dual_approval_above",
                                            "new_value": "1000000.00", "reason": "x"}).status_code == 403
    assert http.post(URL + f"{change.id}/approve", data={"csrf_token": token}).status_code == 403
    assert http.post(URL + f"{change.id}/reject", data={"csrf_token": token, "reason": "x"}).status_code == 403
    assert _written() == (1, 0)
    assert db.session.get(SettingChange, change.id).status == "pending"
    assert money_settings.value("payout.max") == 5_000_000


def test_finance_cannot_touch_the_rate_cap(app, login, finance, finance2, make_user):
    http = _console(app, login, finance)
    page = http.get(URL).get_data(as_text=True)
    page = http.post(URL + "propose", data={"csrf_token": csrf_from(page), "key": "properties.rate_cap_bps",
                                            "new_value": "9000", "reason": "more yield"},
                     follow_redirects=True).get_data(as_text=True)
    assert "is for an admin" in page
    assert _written() == (0, 0)
    with unit_of_work():
        change = money_settings.propose("properties.rate_cap_bps", 2_000, actor=make_user(role="admin"),
                                        reason="tighter cap")
    checker = _console(app, login, finance2)
    page = checker.get(URL).get_data(as_text=True)
    assert f"{change.id}/approve" not in page
    page = checker.post(URL + f"{change.id}/approve", data={"csrf_token": csrf_from(page)},
                        follow_redirects=True).get_data(as_text=True)
    assert "is for an admin" in page
    assert _written() == (1, 0) and money_settings.value("properties.rate_cap_bps") == 3_000


def test_an_admin_cannot_approve_their_own_proposal_either(app, login, make_user):
    admin = make_user(role="admin")
    http = _console(app, login, admin)
    page = http.get(URL).get_data(as_text=True)
    http.post(URL + "propose", data={"csrf_token": csrf_from(page), "key": "bank_transfer.second_approval_above",
                                     "new_value": "500000.00", "reason": "fewer double checks"})
    change = db.session.scalar(select(SettingChange))
    page = http.post(URL + f"{change.id}/approve", data={"csrf_token": csrf_from(page)},
                     follow_redirects=True).get_data(as_text=True)
    assert "A different person must approve this change." in page
    assert _written() == (1, 0) and money_settings.value("bank_transfer.second_approval_above") == 1_000_000


def test_two_approvals_at_once_apply_once(app, postgres, login, finance, finance2, make_user):
    third = make_user(role="finance")
    with unit_of_work():
        change_id = money_settings.propose("payout.daily_limit", 1_000_000, actor=finance, reason="tighter").id
    consoles = [_console(app, login, finance2), _console(app, login, third)]
    pages = [http.get(URL).get_data(as_text=True) for http in consoles]
    barrier = threading.Barrier(2)
    answers: list[str] = []

    def approve(i: int) -> None:
        barrier.wait(timeout=60)
        response = consoles[i].post(URL + f"{change_id}/approve", data={"csrf_token": csrf_from(pages[i])},
                                    follow_redirects=True)
        answers.append(response.get_data(as_text=True))

    threads = [threading.Thread(target=approve, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sum("Approved:" in a for a in answers) == 1
    assert sum("already applied" in a for a in answers) == 1
    db.session.expire_all()
    assert db.session.scalar(select(func.count(AuditRecord.id)).where(AuditRecord.action == "settings.approved")) \
        == 1
    assert money_settings.value("payout.daily_limit") == 1_000_000
    assert _written() == (1, 1)


def test_two_proposals_at_once_leave_one_pending(app, postgres, finance, finance2):
    """The partial unique index keeps one pending proposal per key even when both pass the check together."""
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def propose(user_id: int, value: int) -> None:
        with app.app_context():
            from app.auth.models import User
            user = db.session.get(User, user_id)
            barrier.wait(timeout=60)
            try:
                with unit_of_work():
                    money_settings.propose("payout.max", value, actor=user, reason="race")
                outcomes.append("proposed")
            except Exception as exc:  # the refusal is what is tested
                outcomes.append(type(exc).__name__)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=propose, args=(u.id, v)) for u, v in ((finance, 4_000_000),
                                                                             (finance2, 3_000_000))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(outcomes) == ["Conflict", "proposed"]
    assert _written() == (1, 0)


def test_a_minimum_and_a_maximum_approved_at_once_never_cross(app, postgres, finance, finance2, make_user):
    """Each change is valid alone (minimum 400.00 while the maximum is 50,000.00; maximum 300.00 while the minimum
    is 10.00); approved at the same instant, approvals take turns and the second is refused."""
    third = make_user(role="finance")
    with unit_of_work():
        raise_min = money_settings.propose("payout.min", 40_000, actor=finance, reason="fewer tiny payouts").id
        lower_max = money_settings.propose("payout.max", 30_000, actor=finance2, reason="less exposure").id
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def approve(change_id: int, user_id: int) -> None:
        with app.app_context():
            from app.auth.models import User
            user, change = db.session.get(User, user_id), db.session.get(SettingChange, change_id)
            barrier.wait(timeout=60)
            try:
                with unit_of_work():
                    money_settings.approve(change, actor=user)
                outcomes.append("applied")
            except Exception as exc:  # the refusal is what is tested
                outcomes.append(type(exc).__name__)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=approve, args=args) for args in ((raise_min, third.id),
                                                                        (lower_max, third.id))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(outcomes) == ["ValidationError", "applied"]
    db.session.expire_all()
    assert money_settings.value("payout.min") <= money_settings.value("payout.max")
