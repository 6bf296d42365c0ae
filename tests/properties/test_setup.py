"""Setting a property up through the service (plain data, field errors) and through the console's edit form."""
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from app.core.audit import AuditRecord
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, ValidationError
from app.extensions import db
from app.properties import services as properties
from app.properties.models import Amenity, Property, PropertyFaq
from tests.support import csrf_from

TERMS = dict(target_amount=10_000_000, min_investment=10_000, max_investment=1_000_000, return_rate_bps=800,
             return_frequency="quarterly", return_periods=20, capital_back=True)


def test_create_from_plain_data(manager):
    db.session.add(Amenity(name="Gym"))
    db.session.flush()
    p = properties.create_property(dict(TERMS, title="Dock Lofts", slug="", property_type="residential",
                                        country="pt", city="Porto", installment_unit="",
                                        funding_starts_at=datetime(2030, 1, 1), amenities=["Gym"],
                                        faqs=[{"question": "Who manages it?", "answer": "A local firm.",
                                               "position": 1}]), actor=manager)
    db.session.commit()
    assert (p.slug, p.status, p.raised_amount, p.country, p.created_by_id) == ("dock-lofts", "draft", 0, "PT",
                                                                               manager.id)
    assert p.installment_unit is None and p.funding_starts_at.tzinfo is not None
    assert p.expected_return_bps == 800 and [a.name for a in p.amenities] == ["Gym"]
    assert [(f.question, f.position) for f in p.faqs] == [("Who manages it?", 1)]
    created = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "properties.created"))
    assert created.actor_id == manager.id and created.after["terms"]["target_amount"] == "10000000"


@pytest.mark.parametrize("overrides,field", [
    ({"min_investment": 2_000_000}, "min_investment"),
    ({"title": " "}, "title"),
    ({"amenities": ["Helipad"]}, "amenities"),
    ({"faqs": [{"question": "", "answer": "x"}]}, "faqs"),
    ({"colour": "blue"}, "colour"),
])
def test_create_refuses_with_field_errors(manager, overrides, field):
    with pytest.raises(ValidationError) as refused:
        properties.create_property({**TERMS, "title": "Dock Lofts", **overrides}, actor=manager)
    assert field in refused.value.errors
    db.session.rollback()
    assert db.session.scalar(select(Property)) is None


def test_setting_up_needs_the_edit_permission(make_user, make_property):
    with pytest.raises(Forbidden):
        properties.create_property(dict(TERMS, title="Dock Lofts"), actor=make_user(role="finance"))
    p = make_property(publish=False)
    with pytest.raises(Forbidden):
        properties.update_property(p, {"title": "Renamed"}, actor=make_user(role="finance"))


def test_update_changes_what_is_given_and_locks_terms_once_invested(make_property, manager):
    p = make_property(title="Before")
    properties.update_property(p, {"title": "After", "faqs": [{"question": "Q?", "answer": "A."}]}, actor=manager)
    db.session.commit()
    assert p.title == "After" and p.min_investment == 10_000 and len(p.faqs) == 1
    faq_id = p.faqs[0].id
    properties.update_property(p, {"faqs": [{"id": faq_id, "question": "Q2?", "answer": "A2."}]}, actor=manager)
    db.session.commit()
    assert [(f.id, f.question) for f in p.faqs] == [(faq_id, "Q2?")]
    properties.update_property(p, {"faqs": [{"id": faq_id, "delete": True}]}, actor=manager)
    db.session.commit()
    assert p.faqs == [] and db.session.get(PropertyFaq, faq_id) is None
    properties.record_funding(p.id, 10_000)
    db.session.commit()
    assert properties.has_investments(p)
    with pytest.raises(Conflict, match="locked") as locked:
        properties.update_property(p, {"min_investment": 20_000}, actor=manager)
    assert locked.value.errors == {"min_investment": ["Locked: investors have already invested."]}
    db.session.rollback()
    properties.update_property(p, {"description": "Still editable."}, actor=manager)
    db.session.commit()
    assert p.description == "Still editable." and p.min_investment == 10_000


def test_has_investments_asks_investing_when_nothing_is_raised(make_property, monkeypatch):
    from app.investing import services as investing

    p = make_property()
    assert not properties.has_investments(p)
    monkeypatch.setattr(investing, "has_investments", lambda property_id: property_id == p.id)
    assert properties.has_investments(p)  # e.g. an investment cancelled for default gave its funding back


def _edit_form(client, p, **changes):
    page = client.get(f"/admin/properties/edit/?id={p.id}").get_data(as_text=True)
    form = {"csrf_token": csrf_from(page), "title": p.title, "slug": p.slug, "property_type": p.property_type,
            "description": p.description, "street": p.street, "city": p.city, "region": p.region,
            "postal_code": p.postal_code, "country": p.country, "target": "100000.00", "fixed": "",
            "minimum": "100.00", "maximum": "10000.00", "annual_rate": "8.00", "fixed_return": "",
            "late_fee_amount": "", "installment_unit": "", "return_frequency": "quarterly", "return_periods": "20",
            "capital_back": "y",
            "funding_starts_at": p.funding_starts_at.strftime("%Y-%m-%d %H:%M:%S"),
            "funding_ends_at": p.funding_ends_at.strftime("%Y-%m-%d %H:%M:%S")}
    form.update(changes)
    return form


def test_console_edits_content_terms_and_faq(client, make_user, login, make_property):
    p = make_property(publish=False, funding_starts_at=utcnow().replace(microsecond=0) + timedelta(days=1),
                      funding_ends_at=utcnow().replace(microsecond=0) + timedelta(days=40))
    login(make_user(role="property_manager"))
    saved = client.post(f"/admin/properties/edit/?id={p.id}", data=_edit_form(
        client, p, title="Renamed Court", minimum="250.00", annual_rate="7.5",
        **{"faqs-0-question": "Who manages it?", "faqs-0-answer": "A local firm.", "faqs-0-position": "1"}))
    assert saved.status_code == 302
    db.session.expire_all()
    p = db.session.get(Property, p.id)
    assert (p.title, p.min_investment, p.return_rate_bps, p.expected_return_bps) == ("Renamed Court", 25_000, 750,
                                                                                     750)
    assert [f.question for f in p.faqs] == ["Who manages it?"]
    faq_id = p.faqs[0].id
    client.post(f"/admin/properties/edit/?id={p.id}", data=_edit_form(
        client, p, minimum="250.00", annual_rate="7.5",
        **{"faqs-0-id": str(faq_id), "faqs-0-question": "Who runs it?", "faqs-0-answer": "A local firm.",
           "faqs-0-position": "1"}))
    db.session.expire_all()
    assert [(f.id, f.question) for f in db.session.get(Property, p.id).faqs] == [(faq_id, "Who runs it?")]
    edited = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "properties.edited")).all()
    assert len(edited) == 2


def test_console_shows_why_terms_are_refused(client, make_user, login, make_property):
    p = make_property()
    properties.record_funding(p.id, 10_000)
    db.session.commit()
    login(make_user(role="property_manager"))
    locked = client.post(f"/admin/properties/edit/?id={p.id}", data=_edit_form(client, p, minimum="200.00"),
                         follow_redirects=True)
    assert "terms are locked: investors have already invested" in locked.get_data(as_text=True)
    bad_money = client.post(f"/admin/properties/edit/?id={p.id}", data=_edit_form(client, p, target="12.345"),
                            follow_redirects=True)
    assert "Target amount:" in bad_money.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Property, p.id).min_investment == 10_000
