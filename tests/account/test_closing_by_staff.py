"""Staff close an investor's account on request with four eyes: one proposes, a different one approves (never the
proposer, never about their own account), the same preconditions hold, each step and each refusal audited."""
import pytest
from sqlalchemy import select

from app.account import services as account
from app.account.models import ClosureRequest
from app.auth.models import User
from app.core.audit import AuditRecord
from app.core.db import unit_of_work
from app.core.errors import Conflict, Forbidden
from app.extensions import db
from tests.support import csrf_from


def fresh(user) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def audited(action):
    db.session.expire_all()
    return list(db.session.scalars(select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id)))


@pytest.fixture
def console(app, make_user, login):
    """console(role or user) -> (staff member, post(path, **form) -> the page after the redirect)."""

    def _open(who):
        staff = make_user(role=who) if isinstance(who, str) else who
        browser = app.test_client()
        login(staff, http=browser)
        token = csrf_from(browser.get("/account/security").get_data(as_text=True))

        def post(path, **form):
            response = browser.post(path, data={"csrf_token": token, **form})
            if response.status_code != 302:
                return response
            return browser.get(response.headers["Location"])

        return staff, post

    return _open


def test_one_proposes_another_approves_and_the_account_closes(console, make_investor):
    investor = make_investor(None)
    old_email = investor.email
    support, propose = console("support")
    page = propose(f"/admin/closure_requests/propose/{investor.id}", reason="Asked by e-mail, ticket 81")
    assert "waits for a second approval" in page.get_data(as_text=True)
    request = db.session.scalar(select(ClosureRequest).where(ClosureRequest.target_id == investor.id))
    assert request.status == "pending" and fresh(investor).status == "active"

    again = propose(f"/admin/closure_requests/{request.id}/approve", reason="me again")
    assert "second, different staff member" in again.get_data(as_text=True)
    assert fresh(investor).status == "active"
    assert [r.after["attempted"] for r in audited("users.refused")] == ["account.close_approve"]

    compliance, approve = console("compliance")
    done = approve(f"/admin/closure_requests/{request.id}/approve", reason="Checked the request")
    assert "is closed" in done.get_data(as_text=True)
    user = fresh(investor)
    assert user.status == "closed" and user.email == f"closed-{user.id}@closed.invalid"
    closing = audited("account.close")[0]
    assert closing.actor_id == compliance.id and closing.after["via"] == "staff"
    assert closing.after["proposed_by"] == support.email and closing.reason == "Asked by e-mail, ticket 81"
    assert audited("account.close_proposed")[0].actor_id == support.id
    assert audited("account.close_approved")[0].after["approved_by"] == compliance.email
    # a replayed approval closes nothing twice
    replay = approve(f"/admin/closure_requests/{request.id}/approve", reason="again")
    assert "is approved: it cannot become approved" in replay.get_data(as_text=True)
    assert len(audited("account.close")) == 1
    assert old_email not in {r.target_id for r in audited("account.close")}


def test_the_same_preconditions_hold(console, investor):
    _, propose = console("support")
    page = propose(f"/admin/closure_requests/propose/{investor.id}", reason="Asked by phone")
    assert "money" in page.get_data(as_text=True)
    assert db.session.scalar(select(ClosureRequest)) is None


def test_the_preconditions_are_checked_again_at_approval(make_user, make_investor, fund):
    investor = make_investor(None)
    support, compliance = make_user(role="support"), make_user(role="compliance")
    with unit_of_work():
        request = account.propose_closure(investor, actor=support, reason="Asked by letter")
    fund(investor, "25.00")
    with pytest.raises(Conflict) as refused, unit_of_work():
        account.approve_closure(account.closure_request(request.id), actor=compliance, reason="ok")
    assert "money" in refused.value.errors
    assert fresh(investor).status == "active"
    assert db.session.get(ClosureRequest, request.id).status == "pending"


def test_who_may_not_propose(make_user, make_investor):
    investor = make_investor(None)
    finance, support = make_user(role="finance"), make_user(role="support")
    with pytest.raises(Forbidden), unit_of_work():
        account.propose_closure(investor, actor=finance, reason="no permission")
    with pytest.raises(Forbidden), unit_of_work():
        account.propose_closure(support, actor=support, reason="my own")
    other_staff = make_user(role="compliance")
    with pytest.raises((Conflict, Forbidden)), unit_of_work():
        account.propose_closure(other_staff, actor=support, reason="a staff account")
    assert db.session.scalar(select(ClosureRequest)) is None


def test_one_pending_request_per_account_and_the_proposer_cancels(make_user, make_investor):
    investor = make_investor(None)
    support, support2 = make_user(role="support"), make_user(role="support")
    with unit_of_work():
        request = account.propose_closure(investor, actor=support, reason="Asked")
    with pytest.raises(Conflict), unit_of_work():
        account.propose_closure(investor, actor=support2, reason="Asked too")
    with unit_of_work():
        assert account.decline_closure(account.closure_request(request.id), actor=support,
                                       reason="Withdrawn by the investor") == "cancelled"
    assert fresh(investor).status == "active"
    with unit_of_work():
        second = account.propose_closure(investor, actor=support2, reason="Asked again")
    with unit_of_work():
        assert account.decline_closure(second, actor=support, reason="Not the holder's request") == "rejected"


def test_staff_without_the_permission_are_refused(app, console, make_investor, make_user, login):
    investor = make_investor(None)
    _, post = console("finance")
    refused = post(f"/admin/closure_requests/propose/{investor.id}", reason="not mine to do")
    assert refused.status_code == 403
    assert db.session.scalar(select(ClosureRequest)) is None and fresh(investor).status == "active"
    browser = app.test_client()
    login(make_user(role="property_manager"), http=browser)
    assert browser.get("/admin/closure_requests/").status_code == 403
