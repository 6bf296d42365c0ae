"""Attacks on the money an offering can create: nobody publishes alone, nobody approves their own request (admins
included), no approval applies twice or after the terms changed, and terms stay within the platform's bounds.
Each attempt gets a clear refusal and nothing is written."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core.audit import AuditRecord
from app.core.db import unit_of_work, utcnow
from app.core.errors import Conflict, Forbidden, ValidationError
from app.core.security import has_permission
from app.extensions import db
from app.properties import services as properties
from app.properties.models import Property, PropertyApproval
from tests.concurrency import run_threads
from tests.support import csrf_from


def count(model, *where):
    db.session.expire_all()
    return db.session.scalar(select(func.count(model.id)).where(*where))


def audited(action):
    return count(AuditRecord, AuditRecord.action == action)


def status_of(p):
    db.session.expire_all()
    return db.session.get(Property, p.id).status


@pytest.fixture
def submitted(make_property, manager):
    """A draft submitted for publication by the manager: (property, request)."""
    p = make_property(publish=False)
    with unit_of_work():
        request = properties.submit(p, actor=manager)
    return p, request


@pytest.fixture
def staff_browser(app, login):
    """staff_browser(user) -> post(path, **form) -> the page after the redirect (or the refusal), signed in with 2FA."""

    def _open(user):
        http = app.test_client()
        login(user, http=http)
        token = csrf_from(http.get("/account/security").get_data(as_text=True))

        def post(path, **form):
            response = http.post(path, data={"csrf_token": token, **form})
            if response.status_code != 302:
                return response
            return http.get(response.headers["Location"])

        return post

    return _open


# a property manager alone ---------------------------------------------------------------------------------------
def test_the_publish_permission_and_route_are_gone(make_property, manager, staff_browser):
    with pytest.raises(KeyError):
        has_permission(manager, "properties.publish")
    assert not hasattr(properties, "publish")
    p = make_property(publish=False)
    post = staff_browser(manager)
    assert post(f"/admin/properties/{p.id}/publish").status_code == 404
    assert status_of(p) == "draft" and audited("properties.active") == 0


def test_a_manager_cannot_approve_their_own_submission(submitted, manager, staff_browser):
    p, request = submitted
    with pytest.raises(Forbidden, match=r"properties\.approve"), unit_of_work():
        properties.approve(properties.get_request(request.id), actor=manager)
    post = staff_browser(manager)
    assert post(f"/admin/property_approvals/{request.id}/approve").status_code == 403
    assert post(f"/admin/property_approvals/{request.id}/reject", reason="no").status_code == 403
    assert status_of(p) == "draft"
    assert count(PropertyApproval, PropertyApproval.status == "pending") == 1
    assert audited("properties.publication_approved") == 0


def test_finance_cannot_submit_or_edit(make_property, finance, staff_browser):
    p = make_property(publish=False)
    with pytest.raises(Forbidden), unit_of_work():
        properties.submit(p, actor=finance)
    post = staff_browser(finance)
    assert post(f"/admin/properties/{p.id}/submit").status_code == 403
    assert count(PropertyApproval) == 0 and audited("properties.submitted") == 0


def test_an_admin_who_submitted_cannot_approve_it(make_property, make_user, staff_browser):
    admin = make_user(role="admin")
    p = make_property(publish=False)
    with unit_of_work():
        request = properties.submit(p, actor=admin)  # admins hold every permission
    with pytest.raises(Forbidden, match="a different person"), unit_of_work():
        properties.approve(properties.get_request(request.id), actor=admin)
    with pytest.raises(Forbidden, match="a different person"), unit_of_work():
        properties.reject(properties.get_request(request.id), actor=admin, reason="my own")
    page = staff_browser(admin)(f"/admin/property_approvals/{request.id}/approve").get_data(as_text=True)
    assert "You submitted this request: a different person must approve it" in page
    assert status_of(p) == "draft"
    assert count(PropertyApproval, PropertyApproval.status == "pending") == 1
    assert audited("properties.publication_approved") == 0 and audited("properties.active") == 0


def test_only_one_pending_request_per_property(submitted, make_user):
    p, _ = submitted
    with pytest.raises(Conflict, match="already waiting"), unit_of_work():
        properties.submit(db.session.get(Property, p.id), actor=make_user(role="property_manager"))
    assert count(PropertyApproval) == 1


# replays and stale requests --------------------------------------------------------------------------------------
def test_approving_twice_applies_once(submitted, finance, finance2, staff_browser):
    _, request = submitted
    with unit_of_work():
        properties.approve(properties.get_request(request.id), actor=finance)
    with pytest.raises(Conflict, match="approved"), unit_of_work():
        properties.approve(properties.get_request(request.id), actor=finance2)
    page = staff_browser(finance2)(f"/admin/property_approvals/{request.id}/approve").get_data(as_text=True)
    assert "This request is approved: nothing to approve" in page
    assert audited("properties.active") == 1 and audited("properties.publication_approved") == 1
    assert db.session.get(PropertyApproval, request.id).decided_by_id == finance.id


def test_a_rejected_request_cannot_be_approved(submitted, finance, finance2):
    p, request = submitted
    with unit_of_work():
        properties.reject(properties.get_request(request.id), actor=finance, reason="Not yet.")
    with pytest.raises(Conflict, match="rejected"), unit_of_work():
        properties.approve(properties.get_request(request.id), actor=finance2)
    with pytest.raises(Conflict), unit_of_work():
        properties.reject(properties.get_request(request.id), actor=finance2, reason="Again.")
    assert status_of(p) == "draft" and audited("properties.publication_approved") == 0
    assert db.session.get(PropertyApproval, request.id).reason == "Not yet."


def test_approval_after_the_terms_changed_is_refused(submitted, manager, finance, staff_browser):
    p, request = submitted
    with unit_of_work():  # the manager raises the rate after submitting
        properties.update_property(db.session.get(Property, p.id), {"return_rate_bps": 2_900}, actor=manager)
    with pytest.raises(Conflict, match="the terms changed since submission; submit again"), unit_of_work():
        properties.approve(properties.get_request(request.id), actor=finance)
    page = staff_browser(finance)(f"/admin/property_approvals/{request.id}/approve").get_data(as_text=True)
    assert "The terms changed since submission; submit again" in page
    assert status_of(p) == "draft"
    assert db.session.get(PropertyApproval, request.id).status == "pending"
    assert audited("properties.publication_approved") == 0


def test_concurrent_approvals_apply_once(app, postgres, submitted, make_user):
    _, request = submitted
    approvers = [make_user(role="finance").id for _ in range(4)]

    def approve(index):
        from app.auth.models import User

        properties.approve(properties.get_request(request.id), actor=db.session.get(User, approvers[index]))
        return "approved"

    results = run_threads(app, 4, approve)
    assert results.count("approved") == 1, results
    assert all(isinstance(r, Conflict) for r in results if r != "approved"), results
    assert audited("properties.active") == 1 and audited("properties.publication_approved") == 1


def test_concurrent_submissions_leave_one_request(app, postgres, make_property, make_user):
    p = make_property(publish=False)
    managers = [make_user(role="property_manager").id for _ in range(4)]

    def submit(index):
        from app.auth.models import User

        properties.submit(db.session.get(Property, p.id), actor=db.session.get(User, managers[index]))
        return "submitted"

    results = run_threads(app, 4, submit)
    assert results.count("submitted") == 1, results
    assert count(PropertyApproval) == 1


# absurd terms ----------------------------------------------------------------------------------------------------
BASE = dict(title="Money Machine", description="Too good.", city="Lisbon", country="PT", target_amount=10_000_000,
            fixed_amount=100_000, return_frequency="monthly", return_periods=12, capital_back=True)


@pytest.mark.parametrize("terms,field,message", [
    ({"return_rate_bps": 10_000}, "return_rate_bps", "At most 30.00 % a year."),
    ({"return_rate_bps": 3_100}, "return_rate_bps", "At most 30.00 % a year."),
    ({"return_fixed_amount": 50_000}, "return_fixed_amount",  # half the investment every month
     "At most 25.00 per month: 30 % a year on the fixed amount."),
    ({"return_rate_bps": 800, "installments_count": 2, "installment_interval": 1, "installment_unit": "months",
      "late_fee": 25_000}, "late_fee", "At most 50.00: 10 % of the installment."),  # 250.00 is 50 % of an installment
    ({"return_rate_bps": 800, "video_url": "http://video.example/tour"}, "video_url", "Use an https:// link."),
])
def test_absurd_terms_are_refused_and_nothing_is_stored(manager, terms, field, message):
    with pytest.raises(ValidationError) as refused, unit_of_work():
        properties.create_property(BASE | {"funding_starts_at": utcnow(),
                                           "funding_ends_at": utcnow() + timedelta(days=30)} | terms, actor=manager)
    assert message in refused.value.errors[field]
    assert count(Property) == 0 and audited("properties.created") == 0


def test_absurd_terms_for_a_published_offering_are_refused(make_property, manager):
    p = make_property(fixed_amount=100_000, min_investment=None, max_investment=None, return_rate_bps=None,
                      return_fixed_amount=2_000, return_frequency="monthly")
    data = {"return_fixed_amount": 50_000}
    with pytest.raises(ValidationError) as refused, unit_of_work():
        properties.save(db.session.get(Property, p.id), data, actor=manager)
    assert refused.value.errors["return_fixed_amount"] == [
        "At most 25.00 per month: 30 % a year on the fixed amount."]
    assert count(PropertyApproval, PropertyApproval.kind == "terms_change") == 0
    assert db.session.get(Property, p.id).return_fixed_amount == 2_000


def test_a_manager_who_also_holds_finance_cannot_approve_their_own_submission(make_property):
    from app.auth import services as auth

    with unit_of_work():
        both = auth.create_user("both@example.com", "a long enough passphrase 1", first_name="Bo", last_name="Th",
                                roles=("property_manager", "finance"), verified=True)
    assert has_permission(both, "properties.submit") and has_permission(both, "properties.approve")
    p = make_property(publish=False)
    with unit_of_work():
        request = properties.submit(p, actor=both)
    with pytest.raises(Forbidden, match="a different person"), unit_of_work():
        properties.approve(properties.get_request(request.id), actor=both)
    assert status_of(p) == "draft" and audited("properties.publication_approved") == 0
    assert count(PropertyApproval, PropertyApproval.status == "pending") == 1
