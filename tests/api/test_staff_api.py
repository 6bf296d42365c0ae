"""The staff property API: a property manager sets up, changes, illustrates, submits and archives offerings with a
staff token, through the same services and checks as the console; everyone else is refused."""
from __future__ import annotations

import io

import pytest

from app.auth.models import User
from app.core.audit import AuditRecord
from app.core.money import Money
from app.extensions import db
from app.investing import services as investing
from app.investing.models import Investment
from app.ledger.services import platform_currency
from app.notifications import catalogue, rendering
from app.properties import services as properties
from app.properties.models import Property, PropertyApproval, PropertyDocument, PropertyPhoto
from tests.api.market_helpers import holding
from tests.concurrency import run_threads
from tests.core import files
from tests.support import PASSWORD, csrf_from, totp_now

BASE = "/api/v1/properties"
DRAFT = {"title": "Riverside Court", "city": "Porto", "country": "PT", "street": "Rua do Infante 21",
         "description": "Eighteen flats.", "target_amount": "750000.00", "min_investment": "100.00",
         "max_investment": "50000.00", "return_rate_bps": 750, "return_frequency": "quarterly",
         "return_periods": 20, "capital_back": True, "funding_starts_at": "2026-01-01T09:00:00",
         "funding_ends_at": "2030-05-31T18:00:00+00:00"}


def staff_token(client, user) -> dict:
    response = client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD,
                                                       "otp": totp_now(user)})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['data']['token']}"}


@pytest.fixture
def as_manager(client, manager):
    return staff_token(client, manager)


def _create(client, headers, **changes):
    response = client.post(BASE, headers=headers, json={**DRAFT, **changes})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["data"]


def _photo(name="front.jpg", data=None):
    return io.BytesIO(data if data is not None else files.jpeg(64, 48)), name


# who may ------------------------------------------------------------------------------------------------------------
def test_investor_tokens_get_403_on_every_property_operation(client, investor, token_for, make_property):
    headers = token_for(investor)
    p = make_property(publish=False)
    calls = [("post", BASE, {"json": DRAFT}), ("put", f"{BASE}/{p.id}", {"json": {"title": "Mine now"}}),
             ("post", f"{BASE}/{p.id}/photos", {"data": {"photos": _photo()}}),
             ("post", f"{BASE}/{p.id}/documents", {"data": {"title": "x", "document": (io.BytesIO(
                 files.minimal_pdf()), "a.pdf")}}),
             ("post", f"{BASE}/{p.id}/submit", {}), ("delete", f"{BASE}/{p.id}", {})]
    for method, url, kwargs in calls:
        response = getattr(client, method)(url, headers=headers, **kwargs)
        assert response.status_code == 403, (method, url, response.status_code)
        assert response.get_json()["status"] == "error"
    db.session.expire_all()
    assert db.session.get(Property, p.id).title == "Property 1"
    assert db.session.query(Property).count() == 1
    assert client.post(BASE, json=DRAFT).status_code == 401


ROLE_MATRIX = {"admin": 201, "compliance": 403, "finance": 403, "support": 403, "property_manager": 201}


@pytest.mark.parametrize("role", sorted(ROLE_MATRIX))
def test_role_matrix_for_creating_and_archiving(client, make_user, role, make_property):
    user = make_user(f"{role}@example.com", role=role)
    headers = staff_token(client, user)
    assert client.post(BASE, headers=headers, json=DRAFT).status_code == ROLE_MATRIX[role]
    p = make_property(publish=False)
    expected = 200 if ROLE_MATRIX[role] == 201 else 403
    assert client.delete(f"{BASE}/{p.id}", headers=headers).status_code == expected
    submitted = client.post(f"{BASE}/{p.id}/submit", headers=headers)
    assert submitted.status_code == (409 if expected == 200 else 403)  # archived: nothing to submit


# creating and changing ------------------------------------------------------------------------------------------------
def test_a_manager_creates_a_draft_in_major_units(client, as_manager, manager):
    data = _create(client, as_manager, amenities=[], faqs=[{"question": "Who manages it?", "answer": "A firm."}])
    assert data["status"] == "draft" and data["title"] == "Riverside Court"
    assert data["target_amount"] == {"amount": "750000.00", "currency": "USD"}
    assert data["faq"] == [{"question": "Who manages it?", "answer": "A firm."}]
    p = db.session.get(Property, data["id"])
    assert p.target_amount == 75_000_000 and p.min_investment == 10_000 and p.created_by_id == manager.id
    assert p.funding_starts_at.tzinfo is not None
    assert db.session.query(AuditRecord).filter_by(action="properties.created", actor_id=manager.id).count() == 1


def test_terms_that_do_not_hold_together_are_refused_and_nothing_is_stored(client, as_manager):
    response = client.post(BASE, headers=as_manager, json={**DRAFT, "min_investment": "900.00",
                                                           "max_investment": "100.00"})
    assert response.status_code == 422
    assert response.get_json()["errors"]
    assert db.session.query(Property).count() == 0
    for wrong in ({"target_amount": 1000.5}, {"target_amount": "-5.00"}, {"property_type": "castle"},
                  {"title": ""}, {"return_rate_bps": "lots"}):
        assert client.post(BASE, headers=as_manager, json={**DRAFT, **wrong}).status_code == 422, wrong
    assert client.post(BASE, headers=as_manager, data="{", content_type="application/json").status_code == 400
    assert db.session.query(Property).count() == 0


def test_update_changes_a_draft_and_refuses_bad_terms(client, as_manager):
    data = _create(client, as_manager)
    url = f"{BASE}/{data['id']}"
    changed = client.put(url, headers=as_manager, json={"title": "Riverside Court II", "max_investment": "40000.00"})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["data"]["max_investment"]["amount"] == "40000.00"
    refused = client.put(url, headers=as_manager, json={"max_investment": "10.00"})
    assert refused.status_code == 422
    db.session.expire_all()
    assert db.session.get(Property, data["id"]).max_investment == 4_000_000
    assert client.put(f"{BASE}/999999", headers=as_manager, json={"title": "x"}).status_code == 404


def test_changed_terms_of_a_published_offering_go_to_approval(client, as_manager, make_property):
    p = make_property()
    response = client.put(f"{BASE}/{p.id}", headers=as_manager, json={"max_investment": "9000.00",
                                                                      "description": "New words."})
    assert response.status_code == 200, response.get_json()
    data = response.get_json()["data"]
    assert data["approval_request"]["kind"] == "terms_change"
    assert data["approval_request"]["status"] == "pending"
    assert data["description"] == "New words."
    assert data["max_investment"]["amount"] == "10000.00", "the terms wait for finance"


def test_locked_terms_after_an_investment_are_a_409(client, as_manager, make_property, investor):
    p = make_property()
    holding(investor, p, "500.00")
    response = client.put(f"{BASE}/{p.id}", headers=as_manager, json={"max_investment": "9000.00"})
    assert response.status_code == 409
    assert "locked" in response.get_json()["message"]
    db.session.expire_all()
    assert db.session.get(Property, p.id).max_investment == 1_000_000
    ok = client.put(f"{BASE}/{p.id}", headers=as_manager, json={"description": "Still editable."})
    assert ok.status_code == 200


def test_finance_without_properties_edit_is_refused(client, finance, make_property):
    headers = staff_token(client, finance)
    p = make_property(publish=False)
    response = client.put(f"{BASE}/{p.id}", headers=headers, json={"title": "Finance was here"})
    assert response.status_code == 403
    assert "properties.edit" in response.get_json()["message"]
    assert client.post(f"{BASE}/{p.id}/submit", headers=headers).status_code == 403


# uploads ------------------------------------------------------------------------------------------------------------
def test_photos_and_documents_are_checked_like_console_uploads(client, as_manager, make_property):
    p = make_property(publish=False)
    added = client.post(f"{BASE}/{p.id}/photos", headers=as_manager,
                        data={"photos": [_photo("a.jpg"), _photo("b.png", files.png(40, 30))]})
    assert added.status_code == 201, added.get_json()
    assert [ph["status"] for ph in added.get_json()["data"]] == ["processing", "processing"]
    assert db.session.query(PropertyPhoto).filter_by(property_id=p.id).count() == 3
    for bad in (files.html_as_jpeg(), files.svg(), files.gif(), files.png_bomb()):
        refused = client.post(f"{BASE}/{p.id}/photos", headers=as_manager, data={"photos": _photo("x.jpg", bad)})
        assert refused.status_code == 422, refused.get_json()
    assert client.post(f"{BASE}/{p.id}/photos", headers=as_manager, data={}).status_code == 422
    refused = client.post(f"{BASE}/{p.id}/photos", headers=as_manager,
                          data={"photos": [_photo("ok.jpg"), _photo("../../etc/passwd")]})
    assert refused.status_code == 422
    assert db.session.query(PropertyPhoto).filter_by(property_id=p.id).count() == 3, "nothing half-stored"

    document = client.post(f"{BASE}/{p.id}/documents", headers=as_manager,
                           data={"title": "Memorandum", "document": (io.BytesIO(files.minimal_pdf()), "m.pdf")})
    assert document.status_code == 201, document.get_json()
    assert document.get_json()["data"]["title"] == "Memorandum"
    for bad in (files.pdf_with_open_action_js(), files.html_pdf_polyglot(), files.jpeg()):
        refused = client.post(f"{BASE}/{p.id}/documents", headers=as_manager,
                              data={"title": "Bad", "document": (io.BytesIO(bad), "b.pdf")})
        assert refused.status_code == 422
    untitled = client.post(f"{BASE}/{p.id}/documents", headers=as_manager,
                           data={"title": " ", "document": (io.BytesIO(files.minimal_pdf()), "m.pdf")})
    assert untitled.status_code == 422
    assert db.session.query(PropertyDocument).filter_by(property_id=p.id).count() == 1
    assert client.post(f"{BASE}/999999/photos", headers=as_manager, data={"photos": _photo()}).status_code == 404


# submitting ---------------------------------------------------------------------------------------------------------
def test_a_manager_submits_a_ready_draft_for_approval(client, as_manager, make_property, manager):
    p = make_property(publish=False)
    response = client.post(f"{BASE}/{p.id}/submit", headers=as_manager)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["data"]["kind"] == "publish"
    request_ = db.session.query(PropertyApproval).one()
    assert request_.submitted_by_id == manager.id and request_.status == "pending"
    again = client.post(f"{BASE}/{p.id}/submit", headers=as_manager)
    assert again.status_code == 409
    not_ready = _create(client, as_manager)  # no photo yet
    assert client.post(f"{BASE}/{not_ready['id']}/submit", headers=as_manager).status_code == 409


# archiving ----------------------------------------------------------------------------------------------------------
def test_archiving_an_offering_nobody_invested_in(client, as_manager, make_property, manager, investor, token_for,
                                                  login):
    p = make_property()
    client.post(f"{BASE}/{p.id}/submit", headers=as_manager)  # a draft-only route: 409, nothing pending
    response = client.delete(f"{BASE}/{p.id}", headers=as_manager, query_string={"reason": "never launched"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["data"]["status"] == "archived"
    db.session.expire_all()
    assert db.session.get(Property, p.id).status == "archived", "kept, never deleted"
    entry = db.session.query(AuditRecord).filter_by(action="properties.archived").one()
    assert entry.actor_id == manager.id and entry.reason == "never launched"
    reader = token_for(investor)
    assert client.get(f"{BASE}/{p.id}", headers=reader).status_code == 404
    listed = client.get(BASE, headers=reader).get_json()["data"]
    assert p.id not in [item["id"] for item in listed]
    login(investor)
    assert client.get(f"/properties/{p.slug}").status_code == 404
    assert p.title not in client.get("/properties").get_data(as_text=True)
    assert client.delete(f"{BASE}/{p.id}", headers=as_manager).status_code == 409
    assert client.put(f"{BASE}/{p.id}", headers=as_manager, json={"title": "Back"}).status_code == 409
    assert client.post(f"{BASE}/{p.id}/photos", headers=as_manager, data={"photos": _photo()}).status_code == 409


def test_archiving_an_offering_with_investments_is_a_409(client, as_manager, make_property, investor):
    p = make_property()
    holding(investor, p, "500.00")
    response = client.delete(f"{BASE}/{p.id}", headers=as_manager)
    assert response.status_code == 409
    assert "invested" in response.get_json()["message"]
    db.session.expire_all()
    assert db.session.get(Property, p.id).status == "active"


def test_hostile_titles_stay_text_in_the_console(client, as_manager, manager, login):
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    data = _create(client, as_manager, title=hostile)
    login(manager, code=totp_now(manager, 1))  # the token took this step's code: each is accepted once
    for url in ("/admin/properties/", f"/admin/properties/details/?id={data['id']}"):
        page = client.get(url)
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert" in html


def test_an_idempotency_key_creates_one_draft(client, as_manager):
    keyed = {**as_manager, "Idempotency-Key": "draft-1"}
    first = client.post(BASE, headers=keyed, json=DRAFT)
    again = client.post(BASE, headers=keyed, json=DRAFT)
    assert first.status_code == again.status_code == 201
    assert first.get_json()["data"]["id"] == again.get_json()["data"]["id"]
    assert client.post(BASE, headers=keyed, json={**DRAFT, "title": "Other"}).status_code == 409
    assert db.session.query(Property).count() == 1


@pytest.mark.parametrize("channel", ["email", "in_app", "push"])
def test_followers_read_that_an_archived_offering_is_no_longer_offered_in_their_language(app, channel):
    context = {**catalogue.sample_context("property_status"), "status": "archived"}
    with app.test_request_context():
        english = rendering.render("property_status", channel, context, locale="en")
        spanish = rendering.render("property_status", channel, context, locale="es")
    assert "no longer offered" in english.body.lower() and "archived" not in english.body
    assert "ya no se ofrece" in spanish.body.lower()
    if spanish.subject is not None and channel != "push":
        assert "ya no se ofrece" in spanish.subject


def test_archiving_and_investing_at_once_never_leave_an_archived_offering_with_money(app, postgres, make_property,
                                                                                   manager, investor):
    p = make_property()
    property_id, investor_id, manager_id = p.id, investor.id, manager.id

    def work(index):
        if index == 0:
            return properties.archive(db.session.get(Property, property_id),
                                      actor=db.session.get(User, manager_id), reason="race")
        return investing.invest(db.session.get(User, investor_id), property_id,
                                Money.parse("500.00", platform_currency()), acknowledged=True)

    results = run_threads(app, 2, work)
    db.session.expire_all()
    archived = db.session.get(Property, property_id)
    invested = db.session.query(Investment).filter_by(property_id=property_id).count()
    assert sum(not isinstance(r, Exception) for r in results) == 1, results
    assert (archived.status == "archived") == (invested == 0)
    assert archived.status != "archived" or archived.raised_amount == 0


def test_the_console_archives_with_a_reason_through_the_same_service(client, manager, make_property, investor, login):
    empty, invested = make_property(), make_property()
    holding(investor, invested, "500.00")
    login(manager)
    page = client.get(f"/admin/properties/details/?id={empty.id}").get_data(as_text=True)
    assert 'data-testid="archive"' in page
    token = csrf_from(page)
    no_reason = client.post(f"/admin/properties/{empty.id}/archive", data={"csrf_token": token},
                            follow_redirects=True)
    assert "reason is required" in no_reason.get_data(as_text=True)
    assert client.post(f"/admin/properties/{empty.id}/archive",
                       data={"csrf_token": token, "reason": "never launched"}).status_code == 302
    refused = client.post(f"/admin/properties/{invested.id}/archive",
                          data={"csrf_token": token, "reason": "try"}, follow_redirects=True)
    assert "cannot be archived" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert (db.session.get(Property, empty.id).status, db.session.get(Property, invested.id).status) == \
        ("archived", "active")
    assert db.session.query(AuditRecord).filter_by(action="properties.archived").one().reason == "never launched"
