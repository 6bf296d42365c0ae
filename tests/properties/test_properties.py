"""Terms rules, the workflow, funding, the catalogue (queries, search, filters, sorting), caching, the API shape."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.audit import AuditRecord
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, IllegalTransition, ValidationError
from app.extensions import cache, db
from app.properties import services as properties
from app.properties import terms, workflow
from app.properties.models import Property, PropertyFollower
from tests.core import files
from tests.support import csrf_from


def problems(**overrides):
    values = dict(target_amount=10_000_000, fixed_amount=None, min_investment=10_000, max_investment=100_000,
                  installments_count=None, installment_interval=None, installment_unit=None, late_fee=None,
                  return_rate_bps=800, return_fixed_amount=None, return_frequency="quarterly", return_every_days=None,
                  return_periods=20, capital_back=True, funding_starts_at=utcnow(),
                  funding_ends_at=utcnow() + timedelta(days=5))
    values.update(overrides)
    return terms.problems(Property(**values))


def test_coherent_terms_pass():
    assert problems() == {}
    assert problems(fixed_amount=100_000, min_investment=None, max_investment=None, installments_count=4,
                    installment_interval=1, installment_unit="months", late_fee=500) == {}


@pytest.mark.parametrize("overrides,field", [
    ({"min_investment": 200_000, "max_investment": 100_000}, "min_investment"),
    ({"fixed_amount": 100_000}, "fixed_amount"),  # both fixed and a range
    ({"min_investment": None, "max_investment": None}, "fixed_amount"),  # neither
    ({"fixed_amount": 100_001, "min_investment": None, "max_investment": None, "installments_count": 4,
      "installment_interval": 1, "installment_unit": "months", "target_amount": 100_001 * 10}, "installments_count"),
    ({"fixed_amount": 300_000, "min_investment": None, "max_investment": None}, "fixed_amount"),  # not a whole number
    ({"funding_ends_at": utcnow() - timedelta(days=1)}, "funding_ends_at"),
    ({"return_rate_bps": 0}, "return_rate_bps"),
    ({"return_rate_bps": 10_001}, "return_rate_bps"),
    ({"return_rate_bps": None}, "return_rate_bps"),
    ({"return_fixed_amount": 500}, "return_rate_bps"),  # both
    ({"return_rate_bps": None, "return_fixed_amount": 500}, "return_fixed_amount"),  # fixed sum on a range
    ({"return_periods": None, "capital_back": True}, "capital_back"),
    ({"return_frequency": "days", "return_every_days": None}, "return_every_days"),
    ({"max_investment": 20_000_000}, "max_investment"),
    ({"late_fee": 100}, "late_fee"),
    ({"target_amount": -5}, "target_amount"),
])
def test_incoherent_terms_are_refused(overrides, field):
    assert field in problems(**overrides)


def test_plain_words_example():
    p = Property(fixed_amount=100_000, return_fixed_amount=2_000, return_frequency="quarterly", return_periods=20,
                 capital_back=True, currency="USD", target_amount=1_000_000)
    assert terms.example(p)["sentence"] == ("Invest 1000.00, receive 20.00 every quarter for 5 years, "
                                            "then your 1000.00 back.")
    assert terms.expected_return_bps(p) == 800


def test_every_illegal_transition_is_refused(make_property, manager):
    draft = make_property(publish=False)
    with pytest.raises(IllegalTransition):
        properties.complete(draft, actor=manager)
    active = make_property()
    with pytest.raises(IllegalTransition):
        workflow.publish_approved(active, actor=manager)
    with pytest.raises(IllegalTransition):
        properties.complete(active, actor=manager)
    properties.record_funding(active.id, active.target_amount)
    db.session.commit()
    assert active.status == "funded" and active.funded_at
    with pytest.raises(IllegalTransition):
        properties.cancel(active, actor=manager, reason="too late")
    properties.complete(active, actor=manager)
    for attempt in (lambda: workflow.publish_approved(active, actor=manager),
                    lambda: properties.cancel(active, actor=manager, reason="x"),
                    lambda: properties.complete(active, actor=manager)):
        with pytest.raises(IllegalTransition):
            attempt()
    cancelled = make_property()
    properties.cancel(cancelled, actor=manager, reason="Sponsor withdrew.")
    with pytest.raises(IllegalTransition):
        workflow.publish_approved(cancelled, actor=manager)
    actions = {r.action for r in db.session.scalars(select(AuditRecord))}
    assert {"properties.active", "properties.funded", "properties.completed", "properties.cancelled"} <= actions


def test_submitting_for_publication_needs_permission_terms_and_a_cover(make_property, make_user):
    draft = make_property(publish=False)
    with pytest.raises(Forbidden):
        properties.submit(draft, actor=make_user(role="finance"))
    draft.photos[0].status = "processing"
    db.session.flush()
    with pytest.raises(Conflict, match="cover photo"):
        properties.submit(draft, actor=make_user(role="property_manager"))


def test_funding_never_exceeds_the_target_and_terms_lock(make_property):
    p = make_property(target_amount=1_000_000)
    with pytest.raises(Conflict):
        properties.record_funding(p.id, 1_000_001)
    db.session.rollback()
    properties.record_funding(p.id, 10_000)
    db.session.commit()
    before = properties.snapshot(p)
    p.return_rate_bps = 900
    with pytest.raises(Conflict, match="locked"):
        properties.check_terms_change(p, before)
    db.session.rollback()
    p.title = "A new name is fine"
    properties.check_terms_change(p, properties.snapshot(p))


def test_cancel_needs_a_reason_and_tells_followers(make_property, manager, make_user):
    from app.notifications.models import Notification

    p = make_property()
    fan = make_user()
    properties.follow(p, fan)
    db.session.commit()
    with pytest.raises(ValidationError):
        properties.cancel(p, actor=manager, reason=" ")
    properties.cancel(p, actor=manager, reason="Planning refused.")
    db.session.commit()
    note = db.session.scalar(select(Notification).where(Notification.user_id == fan.id))
    assert note.event == "property_status" and note.context["status"] == "cancelled"


@pytest.mark.parametrize("url", ["/properties", "/api/v1/properties"])
def test_catalogue_queries_are_constant_for_5_and_50(client, make_user, login, token_for, make_property,
                                                      count_queries, url):
    user = make_user()
    headers = token_for(user)
    login(user)
    for _ in range(5):
        make_property()

    def measure():
        cache.clear()
        with count_queries() as queries:
            response = client.get(url + ("?per_page=100" if "api" in url else ""), headers=headers)
            assert response.status_code == 200
        return len(queries)

    few = measure()
    for _ in range(45):
        make_property()
    many = measure()
    assert 0 < many == few, (few, many)


def test_api_fields_and_filters(client, make_user, token_for, make_property):
    headers = token_for(make_user())
    make_property(title="Range House", city="Porto", property_type="residential")
    make_property(title="Fixed Offices", city="Paris", property_type="commercial", fixed_amount=500_000,
                  min_investment=None, max_investment=None, installments_count=4, installment_interval=1,
                  installment_unit="months")
    make_property(title="Hidden Draft", publish=False)
    body = client.get("/api/v1/properties", headers=headers).get_json()
    assert body["meta"]["total"] == 2
    fixed = next(p for p in body["data"] if p["title"] == "Fixed Offices")
    assert fixed["fixed_amount"] == {"amount": "5000.00", "currency": "USD"} and fixed["max_investment"] is None
    assert fixed["installments"] == {"count": 4, "interval": "1 months"}
    ranged = next(p for p in body["data"] if p["title"] == "Range House")
    assert ranged["fixed_amount"] is None and ranged["min_investment"]["amount"] == "100.00"
    assert ranged["expected_return_rate"] == "8.00" and ranged["remaining_funding"]["amount"] == "100000.00"
    assert set(ranged["images"][0]) >= {"thumbnail", "medium", "large"}
    for key in ("id", "status", "property_type", "city", "country", "target_amount", "raised_amount",
                "return_frequency", "funding_starts_at", "funding_ends_at"):
        assert key in ranged
    assert [p["title"] for p in client.get("/api/v1/properties?type=commercial", headers=headers)
            .get_json()["data"]] == ["Fixed Offices"]
    assert [p["title"] for p in client.get("/api/v1/properties?city=porto", headers=headers)
            .get_json()["data"]] == ["Range House"]
    assert [p["title"] for p in client.get("/api/v1/properties?max_amount=1000.00", headers=headers)
            .get_json()["data"]] == ["Range House"]
    assert client.get("/api/v1/properties?min_amount=-5", headers=headers).status_code == 422
    assert client.get("/api/v1/properties?sort=sideways", headers=headers).status_code == 422
    draft = db.session.scalar(select(Property).where(Property.title == "Hidden Draft"))
    assert client.get(f"/api/v1/properties/{draft.id}", headers=headers).status_code == 404
    detail = client.get(f"/api/v1/properties/{ranged['id']}", headers=headers).get_json()["data"]
    assert "every quarter for 5 years" in detail["terms"]["example"]


def test_sorting(client, make_user, token_for, make_property):
    headers = token_for(make_user())
    low = make_property(title="Low", return_rate_bps=300, funding_ends_at=utcnow() + timedelta(days=50))
    high = make_property(title="High", return_rate_bps=1200, funding_ends_at=utcnow() + timedelta(days=5))
    properties.record_funding(low.id, 5_000_000)
    db.session.commit()
    titles = lambda sort: [p["title"] for p in client.get(f"/api/v1/properties?sort={sort}",  # noqa: E731
                                                          headers=headers).get_json()["data"]]
    assert titles("return_rate") == ["High", "Low"]
    assert titles("closing_soon") == ["High", "Low"]
    assert titles("funded") == ["Low", "High"]
    assert high


def test_search_finds_words_and_ranks_title_matches_first(client, make_user, token_for, make_property, postgres):
    headers = token_for(make_user())
    make_property(title="Quiet Apartments", description="Next to a lively marina with sailing boats.")
    make_property(title="Marina Towers", description="Tall towers.")
    make_property(title="Forest Cabins", description="Among pine trees.")
    titles = [p["title"] for p in client.get("/api/v1/properties?q=marina", headers=headers).get_json()["data"]]
    assert titles == ["Marina Towers", "Quiet Apartments"]
    assert [p["title"] for p in client.get("/api/v1/properties?q=sailing", headers=headers)
            .get_json()["data"]] == ["Quiet Apartments"]  # a word in the description only


def test_search_works_on_sqlite_too(client, make_user, token_for, make_property):
    headers = token_for(make_user())
    make_property(title="Quiet Apartments", description="Next to a lively marina.")
    make_property(title="Forest Cabins", description="Among pine trees.")
    assert [p["title"] for p in client.get("/api/v1/properties?q=marina", headers=headers)
            .get_json()["data"]] == ["Quiet Apartments"]


def test_cache_is_invalidated_after_an_edit_and_after_an_investment(client, make_user, token_for, make_property):
    headers = token_for(make_user())
    p = make_property(title="Before")
    first = client.get("/api/v1/properties", headers=headers).get_json()["data"][0]
    assert first["title"] == "Before" and first["raised_amount"]["amount"] == "0.00"
    db.session.execute(Property.__table__.update().where(Property.id == p.id).values(title="Sneaky"))
    db.session.commit()  # a change that bypasses the services: still the cached page
    assert client.get("/api/v1/properties", headers=headers).get_json()["data"][0]["title"] == "Before"
    p = db.session.get(Property, p.id)
    before = properties.snapshot(p)
    p.title = "After"
    properties.check_terms_change(p, before)  # the service path used by the console
    db.session.commit()
    assert client.get("/api/v1/properties", headers=headers).get_json()["data"][0]["title"] == "After"
    properties.record_funding(p.id, 250_000)
    db.session.commit()
    listed = client.get("/api/v1/properties", headers=headers).get_json()["data"][0]
    assert listed["raised_amount"]["amount"] == "2500.00"
    detail = client.get(f"/api/v1/properties/{p.id}", headers=headers).get_json()["data"]
    assert detail["raised_amount"]["amount"] == "2500.00"


def test_portal_catalogue_detail_follow_and_documents(client, make_user, login, make_property, manager):
    from app.properties.models import DocumentDownload

    p = make_property(title="Harbour Lofts", description="**Bright** lofts. <script>alert(1)</script>")
    properties.add_document(p, files.minimal_pdf(), "Offering memorandum", actor=manager)
    db.session.commit()
    user = make_user()
    login(user)
    listing = client.get("/properties?q=harbour").get_data(as_text=True)
    assert "Harbour Lofts" in listing
    page = client.get(f"/properties/{p.slug}")
    html = page.get_data(as_text=True)
    assert "<strong>Bright</strong>" in html and "<script>alert(1)</script>" not in html
    assert "every quarter for 5 years" in html and "Offering memorandum" in html
    client.post(f"/properties/{p.slug}/follow", data={"csrf_token": csrf_from(html)})
    assert db.session.scalar(select(PropertyFollower).where(PropertyFollower.user_id == user.id)) is not None
    document = p.documents[0]
    download = client.get(f"/properties/documents/{document.id}")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    assert "attachment" in download.headers["Content-Disposition"]
    logged = db.session.scalar(select(DocumentDownload))
    assert logged.user_id == user.id and logged.document_id == document.id
    anonymous = type(client)(client.application)
    assert anonymous.get(f"/properties/documents/{document.id}").status_code == 302  # sign in first


def test_photos_serve_a_placeholder_until_ready_and_drafts_stay_hidden(client, make_property, manager):
    p = make_property()
    photo = properties.add_photo(p, files.jpeg(800, 600), actor=manager)
    db.session.flush()
    url = f"/media/properties/photos/{photo.id}/thumbnail.jpg"
    db.session.commit()  # eager Celery: the task ran after this commit
    import io

    from PIL import Image

    ready = client.get(url)
    assert ready.status_code == 200 and Image.open(io.BytesIO(ready.data)).size == (300, 200)
    draft = make_property(publish=False)
    assert client.get(f"/media/properties/photos/{draft.photos[0].id}/large.jpg").status_code == 404


def test_console_creates_a_property_with_major_units(client, make_user, login):
    login(make_user(role="property_manager"))
    page = client.get("/admin/properties/new/")
    assert page.status_code == 200
    token = csrf_from(page.get_data(as_text=True))
    form = {"csrf_token": token, "title": "Console Court", "slug": "", "property_type": "residential",
            "description": "Nice.", "street": "1 High St", "city": "Leeds", "region": "", "postal_code": "LS1",
            "country": "gb", "target": "250000.00", "fixed": "", "minimum": "100.00", "maximum": "5000.00",
            "annual_rate": "7.25", "return_frequency": "quarterly", "return_periods": "12", "capital_back": "y",
            "funding_starts_at": "2026-12-01 00:00:00", "funding_ends_at": "2027-02-01 00:00:00"}
    bad = client.post("/admin/properties/new/", data=dict(form, minimum="9000.00"), follow_redirects=True)
    assert "minimum is above the maximum" in bad.get_data(as_text=True)
    assert db.session.scalar(select(Property)) is None
    ok = client.post("/admin/properties/new/", data=form)
    assert ok.status_code == 302
    p = db.session.scalar(select(Property))
    assert (p.slug, p.target_amount, p.min_investment, p.return_rate_bps, p.country, p.status) == \
        ("console-court", 25_000_000, 10_000, 725, "GB", "draft")


def test_finance_can_look_but_not_edit_or_publish(client, make_user, login, make_property):
    p = make_property(publish=False)
    login(make_user(role="finance"))
    assert client.get("/admin/properties/").status_code == 200
    token = csrf_from(client.get("/account/security").get_data(as_text=True))
    assert client.post(f"/admin/properties/{p.id}/publish", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/admin/properties/{p.id}/submit", data={"csrf_token": token}).status_code == 403
    assert db.session.get(Property, p.id).status == "draft"
    assert client.get("/admin/properties/new/").status_code in (302, 403)


def test_only_the_first_photo_is_the_cover(make_property, manager):
    p = make_property(publish=False)
    added = [properties.add_photo(p, files.jpeg(400, 300), actor=manager) for _ in range(3)]
    db.session.commit()
    db.session.expire_all()
    covers = [ph for ph in db.session.get(Property, p.id).photos if ph.is_cover]
    assert len(covers) == 1  # the fixture's photo stays the cover
    assert [ph.position for ph in added] == [2, 3, 4]
