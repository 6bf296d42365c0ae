"""Staff editing an investor's profile from the console: a reason every time, never the e-mail address, a name
after approved KYC to compliance, a phone set by staff left unverified, hostile text refused or escaped, nobody on
their own account, staff accounts for admins only, closed accounts not at all; audited and the investor told."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.auth.models import USER_CLOSED
from app.core.audit import AuditRecord
from app.core.db import unit_of_work
from app.extensions import db
from app.kyc.models import NameChangeRequest
from app.notifications.models import Notification
from app.notifications.phone import mask
from tests.support import csrf_from


@pytest.fixture
def support(make_user):
    return make_user("support-pe@example.com", role="support")


def _edit(client, user, **fields):
    token = csrf_from(client.get("/admin/user-tools/").get_data(as_text=True))
    return client.post(f"/admin/user-tools/{user.id}/profile", data={"csrf_token": token, **fields})


def _audits(action: str) -> list[AuditRecord]:
    return list(db.session.scalars(select(AuditRecord).where(AuditRecord.action == action)
                                   .order_by(AuditRecord.id)))


def _fresh(user):
    db.session.expire_all()
    return db.session.get(type(user), user.id)


def test_the_form_is_on_the_users_page_without_the_email(client, login, support, investor):
    login(support)
    page = client.get(f"/admin/users/details/?id={investor.id}").get_data(as_text=True)
    form = page[page.index('data-testid="edit-profile-form"'):]
    form = form[:form.index("</form>")]
    assert 'name="first_name"' in form and 'name="phone"' in form and 'name="locale"' in form
    assert 'name="email"' not in form
    assert 'data-testid="name-goes-to-compliance"' in page  # the investor's identity is approved


def test_before_approved_kyc_the_name_changes_at_once(client, login, support, make_investor):
    person = make_investor(balance=None, kyc=False)
    login(support)
    response = _edit(client, person, first_name="Ana María", last_name="O'Neill-Núñez", phone="", locale="",
                     reason="Asked by phone, ticket 12")
    assert response.status_code == 302
    person = _fresh(person)
    assert (person.first_name, person.last_name) == ("Ana María", "O'Neill-Núñez")
    [record] = _audits("users.profile_edited")
    assert record.actor_id == support.id and record.reason == "Asked by phone, ticket 12"
    assert record.before == {"first_name": "Test", "last_name": "User"}
    assert record.after == {"first_name": "Ana María", "last_name": "O'Neill-Núñez"}  # only what changed
    notice = db.session.scalar(select(Notification).where(Notification.user_id == person.id,
                                                          Notification.event == "profile_updated_by_staff"))
    assert notice is not None and notice.context["fields"] == ["name"]


def test_after_approved_kyc_the_name_goes_to_compliance(client, login, support, investor):
    login(support)
    response = _edit(client, investor, first_name="Newname", last_name="User", reason="Marriage certificate seen")
    assert response.status_code == 302
    assert "waits for compliance" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert _fresh(investor).first_name == "Test"
    request = db.session.scalar(select(NameChangeRequest).where(NameChangeRequest.user_id == investor.id))
    assert (request.new_first_name, request.status, request.proposed_by_id) == ("Newname", "proposed", support.id)
    [record] = _audits("users.profile_edited")
    assert record.after["name_change_request"]["id"] == request.id and record.before == {}


def test_a_phone_set_by_staff_is_not_verified(client, login, support, investor):
    with unit_of_work():
        user = db.session.get(type(investor), investor.id)
        user.phone_number = "+14155550100"
        user.phone_verified_at = user.created_at
    login(support)
    assert _edit(client, investor, phone="+34 600 123 456", reason="New number").status_code == 302
    user = _fresh(investor)
    assert user.phone_number == "+34600123456" and user.phone_verified_at is None
    [record] = _audits("users.profile_edited")
    assert record.before == {"phone": mask("+14155550100")} and record.after["phone"] == mask("+34600123456")
    assert "+34600123456" not in str(record.after)  # the audit keeps numbers masked


def test_the_language(client, login, support, investor):
    login(support)
    assert _edit(client, investor, locale="es", reason="Prefers Spanish").status_code == 302
    assert _fresh(investor).locale == "es"
    assert _edit(client, investor, locale="xx", reason="Bad").status_code == 422


def test_a_reason_is_required(client, login, support, make_investor):
    person = make_investor(balance=None, kyc=False)
    login(support)
    response = _edit(client, person, first_name="Other", reason=" ")
    assert response.status_code == 422
    assert 'data-testid="error-reason"' in response.get_data(as_text=True)
    assert 'value="Other"' in response.get_data(as_text=True)  # what was typed is kept
    assert _fresh(person).first_name == "Test" and not _audits("users.profile_edited")


def test_the_email_is_never_changed(client, login, support, investor):
    login(support)
    before = investor.email
    response = _edit(client, investor, email="taken-over@example.com", first_name="Test", last_name="User",
                     reason="Trying the address")
    assert response.status_code == 302
    assert _fresh(investor).email == before
    assert not _audits("users.profile_edited")  # nothing else changed, so nothing was edited


def test_hostile_text_is_refused_and_an_existing_one_escaped(client, login, support, make_investor):
    person = make_investor(balance=None, kyc=False)
    login(support)
    response = _edit(client, person, first_name="<script>alert(1)</script>", reason="x")
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "Use letters, spaces, apostrophes, hyphens and dots only." in text
    with unit_of_work():  # a name from before the rules: shown escaped in the form
        db.session.get(type(person), person.id).last_name = '"><img src=x onerror=alert(1)>'
    page = client.get(f"/admin/user-tools/{person.id}/profile").get_data(as_text=True)
    assert "<img src=x" not in page and "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page


def test_nobody_edits_their_own_account(client, login, support):
    login(support)
    response = _edit(client, support, first_name="Self", reason="Myself")
    assert response.status_code == 302
    assert _fresh(support).first_name == "Test"
    [refusal] = _audits("users.refused")
    assert refusal.after["attempted"] == "users.edit_profile" and refusal.reason == "Myself"


def test_staff_profiles_only_by_admins(app, client, login, support, make_user):
    colleague = make_user(role="finance")
    login(support)
    assert 'data-testid="edit-profile"' not in client.get(
        f"/admin/users/details/?id={colleague.id}").get_data(as_text=True)
    _edit(client, colleague, first_name="Changed", reason="x")
    assert _fresh(colleague).first_name == "Test"
    assert _audits("users.refused")[0].after["refused"] == "only an admin may edit the profile of a staff account"
    admin = app.test_client()
    login(make_user(role="admin"), http=admin)
    assert _edit(admin, colleague, first_name="Changed", reason="Typo").status_code == 302
    assert _fresh(colleague).first_name == "Changed"


def test_closed_accounts_are_not_edited(client, login, support, make_investor):
    person = make_investor(balance=None, kyc=False)
    with unit_of_work():
        db.session.get(type(person), person.id).status = USER_CLOSED
    login(support)
    assert _edit(client, person, first_name="Ghost", reason="x").status_code == 422
    assert _fresh(person).first_name == "Test"


@pytest.mark.parametrize("role", ["finance", "property_manager"])
def test_refused_without_the_permission(client, login, make_user, investor, role):
    login(make_user(role=role))
    assert client.get(f"/admin/user-tools/{investor.id}/profile").status_code == 403
    token = csrf_from(client.get("/").get_data(as_text=True))
    assert client.post(f"/admin/user-tools/{investor.id}/profile",
                       data={"csrf_token": token, "first_name": "X", "reason": "x"}).status_code == 403


def test_compliance_may_edit(client, login, make_user, make_investor):
    person = make_investor(balance=None, kyc=False)
    login(make_user(role="compliance"))
    assert _edit(client, person, last_name="Compliant", reason="Verified spelling").status_code == 302
    assert _fresh(person).last_name == "Compliant"


def test_the_users_page_takes_a_constant_number_of_queries(client, login, support, investor, count_queries,
                                                           make_investor):
    other = make_investor(balance="50.00")
    with unit_of_work():
        db.session.get(type(other), other.id).phone_number = "+14155550100"
    login(support)
    urls = [f"/admin/users/details/?id={user.id}" for user in (investor, other)]
    for url in urls:
        client.get(url)
    counts = []
    for url in urls:
        with count_queries() as queries:
            assert client.get(url).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
