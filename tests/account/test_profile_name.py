"""Changing one's name: at once before the identity is approved, through compliance after it; the console queue
(approve, reject with a reason, who may), and hostile text."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.core.audit import AuditRecord
from app.core.db import unit_of_work
from app.extensions import db
from app.kyc import services as kyc
from app.kyc.models import NAME_APPROVED, NAME_PROPOSED, NAME_REJECTED, NameChangeRequest
from tests.support import csrf_from, outbox


def _page_token(client) -> str:
    return csrf_from(client.get("/account/profile").get_data(as_text=True))


def _post_name(client, first, last):
    return client.post("/account/profile/name", data={"first_name": first, "last_name": last,
                                                      "csrf_token": _page_token(client)})


def _fresh(model):
    db.session.expire_all()
    return db.session.get(type(model), model.id)


def test_before_kyc_the_name_applies_at_once(client, login, make_investor):
    user = make_investor(balance=None, kyc=False)
    login(user)
    response = _post_name(client, "Ana María", "O’Brien-Núñez")
    assert response.status_code == 302
    user = _fresh(user)
    assert (user.first_name, user.last_name) == ("Ana María", "O’Brien-Núñez")
    assert db.session.scalar(select(NameChangeRequest)) is None
    assert db.session.scalar(select(AuditRecord).where(AuditRecord.action == "profile.name_changed")) is not None


def test_after_kyc_the_name_waits_for_compliance(client, login, investor):
    login(investor)
    old = (investor.first_name, investor.last_name)
    response = _post_name(client, "Iris", "Newname")
    assert response.status_code == 302
    assert (_fresh(investor).first_name, _fresh(investor).last_name) == old
    request = db.session.scalar(select(NameChangeRequest))
    assert request.status == NAME_PROPOSED and request.new_name == "Iris Newname"
    page = client.get("/account/profile").get_data(as_text=True)
    assert "Waiting for compliance" in page and "Iris Newname" in page
    again = _post_name(client, "Other", "Name")  # one open request per user
    assert again.status_code == 422 and "already waiting" in again.get_data(as_text=True)
    assert db.session.scalar(select(db.func.count(NameChangeRequest.id))) == 1


@pytest.mark.parametrize("hostile", ["<script>alert(1)</script>", "{{ 7*7 }}", "Robert'); DROP TABLE users;--",
                                     "Name\u0000", "x" * 101, "   "])
def test_hostile_names_are_refused_and_change_nothing(client, login, make_investor, hostile):
    user = make_investor(balance=None, kyc=False)
    login(user)
    response = _post_name(client, hostile, "Smith")
    assert response.status_code == 422
    assert "<script>alert(1)</script>" not in response.get_data(as_text=True)
    assert _fresh(user).first_name == "Test"


def test_api_patch_me(client, investor, token_for, make_investor):
    headers = token_for(investor)
    response = client.patch("/api/v1/me", json={"first_name": "Iris", "last_name": "Newname", "locale": "es"},
                            headers=headers)
    assert response.status_code == 200, response.json
    data = response.json["data"]
    assert data["locale"] == "es" and data["first_name"] == "Test"
    assert data["pending_name_change"]["last_name"] == "Newname"
    assert client.get("/api/v1/me", headers=headers).json["data"]["locale"] == "es"
    bad = client.patch("/api/v1/me", json={"locale": "fr"}, headers=headers)
    assert bad.status_code == 422 and "locale" in bad.json["errors"]
    hostile = client.patch("/api/v1/me", json={"first_name": "<img src=x onerror=alert(1)>"}, headers=headers)
    assert hostile.status_code == 409 or hostile.status_code == 422
    assert client.patch("/api/v1/me", json={"first_name": "A"}).status_code == 401

    fresh = make_investor(balance=None, kyc=False, email="fresh@example.com")
    applied = client.patch("/api/v1/me", json={"first_name": "Zoë"}, headers=token_for(fresh))
    assert applied.status_code == 200
    assert applied.json["data"]["first_name"] == "Zoë" and applied.json["data"]["pending_name_change"] is None


def _console_decide(client, request_id, action, reason=None):
    page = client.get(f"/admin/name_changes/details/?id={request_id}")
    data = {"csrf_token": csrf_from(page.get_data(as_text=True))}
    if reason is not None:
        data["reason"] = reason
    return page, client.post(f"/admin/name_changes/{request_id}/{action}", data=data)


def test_compliance_approves_and_the_investor_is_told(client, login, investor, kyc_reviewer, make_user):
    login(investor)
    _post_name(client, "Iris", "Newname")
    client.post("/logout", data={"csrf_token": _page_token(client)})
    request = db.session.scalar(select(NameChangeRequest))
    login(kyc_reviewer)
    listing = client.get("/admin/name_changes/").get_data(as_text=True)
    assert "Iris Newname" in listing and "Test User" in listing
    page, response = _console_decide(client, request.id, "approve")
    assert page.status_code == 200 and response.status_code == 302
    assert _fresh(request).status == NAME_APPROVED
    assert (_fresh(investor).first_name, _fresh(investor).last_name) == ("Iris", "Newname")
    assert db.session.scalar(select(AuditRecord).where(AuditRecord.action == "kyc.name_change_approved"))
    mails = outbox(to=investor.email, event="name_change_decided")
    assert mails and "Iris Newname" in mails[-1].body


def test_compliance_rejects_with_a_reason(client, login, investor, kyc_reviewer):
    login(investor)
    _post_name(client, "Iris", "Newname")
    request = db.session.scalar(select(NameChangeRequest))
    client.post("/logout", data={"csrf_token": _page_token(client)})
    login(kyc_reviewer)
    _, without = _console_decide(client, request.id, "reject", reason="")
    assert without.status_code == 302 and _fresh(request).status == NAME_PROPOSED  # a rejection needs a reason
    _, response = _console_decide(client, request.id, "reject",
                                  reason="The passport shows another name.")
    assert response.status_code == 302
    assert _fresh(request).status == NAME_REJECTED and _fresh(request).reason == "The passport shows another name."
    assert _fresh(investor).last_name == "User"
    record = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "kyc.name_change_rejected"))
    assert record.reason == "The passport shows another name."
    assert "The passport shows another name." in outbox(to=investor.email, event="name_change_decided")[-1].body
    _, twice = _console_decide(client, request.id, "approve")  # decided once only
    assert twice.status_code == 302 and _fresh(request).status == NAME_REJECTED and _fresh(investor).last_name == "User"


@pytest.mark.parametrize("role", ["support", "finance", "property_manager"])
def test_other_staff_cannot_see_or_decide(client, login, investor, make_user, role):
    login(investor)
    _post_name(client, "Iris", "Newname")
    request = db.session.scalar(select(NameChangeRequest))
    client.post("/logout", data={"csrf_token": _page_token(client)})
    staff = make_user(f"{role}@example.com", role=role)
    login(staff)
    assert client.get("/admin/name_changes/").status_code == 403
    token = csrf_from(client.get("/account/security").get_data(as_text=True))
    response = client.post(f"/admin/name_changes/{request.id}/approve", data={"csrf_token": token})
    assert response.status_code == 403
    assert _fresh(request).status == NAME_PROPOSED


def test_investor_cannot_reach_the_console_queue(client, login, investor):
    login(investor)
    assert client.get("/admin/name_changes/").status_code in (302, 403)


def test_the_console_queue_costs_the_same_for_more_requests(client, login, make_investor, kyc_reviewer,
                                                           count_queries):
    def propose(n):
        for _ in range(n):
            user = make_investor(balance=None, email=f"queue{len(queued)}@example.com")
            queued.append(user)
            with unit_of_work():
                kyc.propose_name_change(user, "New", f"Name{chr(65 + len(queued))}", by=user)

    queued: list = []
    propose(1)
    login(kyc_reviewer)
    client.get("/admin/name_changes/")
    with count_queries() as one:
        assert client.get("/admin/name_changes/").status_code == 200
    propose(4)
    with count_queries() as five:
        page = client.get("/admin/name_changes/")
    assert page.get_data(as_text=True).count('data-testid="name-change-status"') == 5
    assert len(five) == len(one)
