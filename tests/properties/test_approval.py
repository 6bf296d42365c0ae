"""Publication and changes of published terms take two people: a property manager submits, a finance user who is
not the submitter approves (or rejects with a reason); the bounds on terms; what an offering commits the platform
to pay at full funding; the queue in the console."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.audit import AuditRecord
from app.core.db import unit_of_work, utcnow
from app.core.errors import Conflict, Forbidden, ValidationError
from app.extensions import db
from app.properties import services as properties
from app.properties import terms
from app.properties.models import Property, PropertyApproval
from tests.support import csrf_from, outbox


def _audit(action):
    return list(db.session.scalars(select(AuditRecord).where(AuditRecord.action == action)))


def _requests():
    return list(db.session.scalars(select(PropertyApproval).order_by(PropertyApproval.id)))


def _term_data(p, **changes):
    return {name: getattr(p, name) for name in terms.TERM_FIELDS} | changes


# the happy paths --------------------------------------------------------------------------------------------------
def test_submit_then_approve_publishes_and_tells_the_submitter(make_property, manager, finance):
    p = make_property(publish=False)
    with unit_of_work():
        request = properties.submit(p, actor=manager)
    assert db.session.get(Property, p.id).status == "draft"
    with unit_of_work():
        properties.approve(properties.get_request(request.id), actor=finance)
    p = db.session.get(Property, p.id)
    assert p.status == "active" and p.published_at is not None
    r = db.session.get(PropertyApproval, request.id)
    assert (r.status, r.decided_by_id, r.submitted_by_id) == ("approved", finance.id, manager.id)
    assert [a.actor_id for a in _audit("properties.submitted")] == [manager.id]
    assert [a.actor_id for a in _audit("properties.publication_approved")] == [finance.id]
    assert _audit("properties.active")
    mail = outbox(manager.email, "property_publication_approved")
    assert len(mail) == 1 and p.title in mail[0].subject and f"/admin/properties/details/?id={p.id}" in mail[0].body


def test_reject_needs_a_reason_and_the_draft_stays_editable(make_property, manager, finance):
    p = make_property(publish=False)
    with unit_of_work():
        request = properties.submit(p, actor=manager)
    with pytest.raises(ValidationError, match="reason"), unit_of_work():
        properties.reject(properties.get_request(request.id), actor=finance, reason="  ")
    assert db.session.get(PropertyApproval, request.id).status == "pending"
    with unit_of_work():
        properties.reject(properties.get_request(request.id), actor=finance, reason="The rent does not cover it.")
    r = db.session.get(PropertyApproval, request.id)
    assert (r.status, r.reason) == ("rejected", "The rent does not cover it.")
    assert db.session.get(Property, p.id).status == "draft"
    mail = outbox(manager.email, "property_request_rejected")
    assert len(mail) == 1 and "The rent does not cover it." in mail[0].body
    assert _audit("properties.publication_rejected")[0].reason == "The rent does not cover it."
    with unit_of_work():  # editable again, and can be submitted again
        properties.update_property(db.session.get(Property, p.id), {"description": "Better."}, actor=manager)
        again = properties.submit(db.session.get(Property, p.id), actor=manager)
    assert again.status == "pending"


def test_a_terms_change_of_a_published_offering_waits_for_approval(make_property, manager, finance):
    p = make_property(return_rate_bps=800)
    with unit_of_work():
        request = properties.save(p, _term_data(p, return_rate_bps=900) | {"description": "Now with a roof."},
                                  actor=manager)
    p = db.session.get(Property, p.id)
    assert request is not None and request.kind == "terms_change" and request.proposed == {"return_rate_bps": 900}
    assert (p.return_rate_bps, p.description) == (800, "Now with a roof.")  # content saved, terms waiting
    with unit_of_work():
        properties.approve(properties.get_request(request.id), actor=finance)
    p = db.session.get(Property, p.id)
    assert (p.return_rate_bps, p.expected_return_bps, p.status) == (900, 900, "active")
    assert _audit("properties.terms_change_approved")[0].after["terms"] == {"return_rate_bps": 900}
    assert outbox(manager.email, "property_terms_change_approved")


def test_content_of_a_published_offering_saves_directly(make_property, manager):
    p = make_property()
    with unit_of_work():
        assert properties.save(p, _term_data(p) | {"title": "Renamed"}, actor=manager) is None
    assert db.session.get(Property, p.id).title == "Renamed" and _requests()[-1].status == "approved"


def test_a_terms_change_is_refused_at_once_when_out_of_bounds_or_locked(make_property, manager):
    p = make_property()
    with pytest.raises(ValidationError) as refused, unit_of_work():
        properties.save(p, _term_data(p, return_rate_bps=3_100), actor=manager)
    assert refused.value.errors["return_rate_bps"] == ["At most 30.00 % a year."]
    properties.record_funding(p.id, 10_000)
    db.session.commit()
    with pytest.raises(Conflict, match="locked"), unit_of_work():
        properties.save(db.session.get(Property, p.id), _term_data(p, return_rate_bps=900), actor=manager)
    assert [r.kind for r in _requests()] == ["publish"]


def test_approving_a_terms_change_rechecks_the_lock(make_property, manager, finance):
    p = make_property()
    with unit_of_work():
        request = properties.save(p, _term_data(p, return_rate_bps=900), actor=manager)
    properties.record_funding(p.id, 10_000)  # someone invested meanwhile
    db.session.commit()
    with pytest.raises(Conflict, match="locked"), unit_of_work():
        properties.approve(properties.get_request(request.id), actor=finance)
    assert db.session.get(Property, p.id).return_rate_bps == 800
    assert db.session.get(PropertyApproval, request.id).status == "pending"


def test_the_submitter_may_withdraw(make_property, manager, make_user):
    p = make_property(publish=False)
    with unit_of_work():
        request = properties.submit(p, actor=manager)
    with pytest.raises(Forbidden), unit_of_work():
        properties.withdraw(properties.get_request(request.id), actor=make_user(role="property_manager"))
    with unit_of_work():
        properties.withdraw(properties.get_request(request.id), actor=manager)
    assert db.session.get(PropertyApproval, request.id).status == "withdrawn"


# what the platform commits to -----------------------------------------------------------------------------------
def test_commitment_of_a_fixed_amount_monthly_offering_by_hand():
    # 100 investments of 1,000.00, each paid 10.00 a month for 24 months, then the capital back
    p = Property(currency="USD", target_amount=10_000_000, fixed_amount=100_000, return_fixed_amount=1_000,
                 return_frequency="monthly", return_periods=24, capital_back=True)
    c = terms.commitment(p)
    assert (c["per_period"], c["returns"], c["capital"], c["periods"], c["total"]) == \
        (100_000, 2_400_000, 10_000_000, 24, 12_400_000)
    assert c["sentence"] == ("USD 24,000.00 in returns over 24 periods (USD 1,000.00 per month), then "
                             "USD 100,000.00 of capital back.")


def test_commitment_of_a_rate_and_of_a_lifetime_offering():
    rate = Property(currency="USD", target_amount=10_000_000, min_investment=10_000, max_investment=100_000,
                    return_rate_bps=800, return_frequency="quarterly", return_periods=20, capital_back=True)
    assert (terms.commitment(rate)["per_period"], terms.commitment(rate)["returns"]) == (200_000, 4_000_000)
    lifetime = Property(currency="USD", target_amount=10_000_000, min_investment=10_000, max_investment=100_000,
                        return_rate_bps=600, return_frequency="monthly", return_periods=None, capital_back=False)
    c = terms.commitment(lifetime)
    assert (c["returns"], c["per_year"], c["lifetime"], c["capital"]) == (None, 600_000, True, 0)
    assert "for the property's lifetime" in c["sentence"]


# bounds -----------------------------------------------------------------------------------------------------------
def _fixed(**overrides):
    values = dict(currency="USD", target_amount=10_000_000, fixed_amount=100_000, min_investment=None,
                  max_investment=None, return_rate_bps=None, return_fixed_amount=2_500, return_frequency="monthly",
                  return_periods=12, capital_back=True, funding_starts_at=utcnow(),
                  funding_ends_at=utcnow() + timedelta(days=5))
    return Property(**(values | overrides))


def test_the_rate_cap_is_one_function():
    assert terms.rate_cap_bps() == terms.DEFAULT_RATE_CAP_BPS == 3_000


@pytest.mark.parametrize("overrides,field,message", [
    ({"return_fixed_amount": None, "return_rate_bps": 10_000}, "return_rate_bps", "At most 30.00 % a year."),
    ({"return_fixed_amount": None, "return_rate_bps": 3_100}, "return_rate_bps", "At most 30.00 % a year."),
    ({"return_fixed_amount": 50_000}, "return_fixed_amount",
     "At most 25.00 per month: 30 % a year on the fixed amount."),
    ({"return_fixed_amount": 2_501}, "return_fixed_amount",
     "At most 25.00 per month: 30 % a year on the fixed amount."),
    ({"return_frequency": "days", "return_every_days": 73, "return_fixed_amount": 6_001}, "return_fixed_amount",
     "At most 60.00 per 73 days: 30 % a year on the fixed amount."),
    ({"installments_count": 4, "installment_interval": 1, "installment_unit": "months", "late_fee": 12_500},
     "late_fee", "At most 25.00: 10 % of the installment."),
])
def test_terms_beyond_the_bounds_are_refused(overrides, field, message):
    assert message in terms.problems(_fixed(**overrides)).get(field, [])


def test_terms_at_the_bounds_pass():
    assert terms.problems(_fixed()) == {}  # 25.00 a month on 1,000.00 is 30 % a year
    assert terms.problems(_fixed(return_fixed_amount=None, return_rate_bps=3_000)) == {}
    assert terms.problems(_fixed(installments_count=4, installment_interval=1, installment_unit="months",
                                 late_fee=2_500)) == {}


def test_an_existing_offering_beyond_the_bounds_stays_but_cannot_be_published(make_property, manager):
    p = make_property(publish=False)
    db.session.execute(Property.__table__.update().where(Property.id == p.id).values(return_rate_bps=5_000))
    db.session.commit()
    p = db.session.get(Property, p.id)
    with unit_of_work():  # a content change leaves the old terms alone
        properties.update_property(p, {"description": "Still here."}, actor=manager)
    assert "terms within the platform's bounds" in terms.missing_to_publish(p)
    with pytest.raises(Conflict, match="bounds"), unit_of_work():
        properties.submit(p, actor=manager)
    assert _requests() == []


def test_the_video_link_must_be_https(make_property, manager):
    p = make_property(publish=False)
    with pytest.raises(ValidationError) as refused, unit_of_work():
        properties.update_property(p, {"video_url": "http://video.example/tour"}, actor=manager)
    assert refused.value.errors == {"video_url": ["Use an https:// link."]}
    with unit_of_work():
        properties.update_property(p, {"video_url": "https://video.example/tour"}, actor=manager)
    assert db.session.get(Property, p.id).video_url == "https://video.example/tour"


# the console ------------------------------------------------------------------------------------------------------
def test_console_submit_then_finance_approves_from_the_queue(client, login, make_property, manager, finance):
    p = make_property(publish=False, title="Harbour <b>Lofts</b>")
    login(manager)
    page = client.get(f"/admin/properties/details/?id={p.id}").get_data(as_text=True)
    assert "Submit for publication" in page and "/publish" not in page
    assert "Harbour <b>Lofts</b>" not in page
    done = client.post(f"/admin/properties/{p.id}/submit", data={"csrf_token": csrf_from(page)},
                       follow_redirects=True)
    assert "submitted for publication" in done.get_data(as_text=True)
    request = _requests()[0]
    assert client.get(f"/admin/property_approvals/details/?id={request.id}").status_code == 403

    client = type(client)(client.application)
    login(finance, http=client)
    queue = client.get("/admin/property_approvals/").get_data(as_text=True)
    assert "Harbour &lt;b&gt;Lofts&lt;/b&gt;" in queue and "<b>Lofts</b>" not in queue
    details = client.get(f"/admin/property_approvals/details/?id={request.id}").get_data(as_text=True)
    assert "What the platform commits to pay at full funding" in details
    # 100,000.00 at 8 % a year: 2,000.00 a quarter for 20 quarters, then the capital
    assert "USD 40,000.00 in returns over 20 periods (USD 2,000.00 per quarter)" in details
    assert "USD 140,000.00" in details
    assert "<b>Lofts</b>" not in details
    approved = client.post(f"/admin/property_approvals/{request.id}/approve",
                           data={"csrf_token": csrf_from(details)}, follow_redirects=True)
    assert "Approved: publication of" in approved.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Property, p.id).status == "active"


def test_console_terms_change_shows_before_and_after_and_rejects_with_a_reason(client, login, make_property,
                                                                                manager, finance):
    p = make_property(return_rate_bps=800)
    with unit_of_work():
        request = properties.save(p, _term_data(p, return_rate_bps=950), actor=manager)
    login(finance)
    details = client.get(f"/admin/property_approvals/details/?id={request.id}").get_data(as_text=True)
    assert "return_rate_bps" in details and "800" in details and "950" in details
    token = csrf_from(details)
    refused = client.post(f"/admin/property_approvals/{request.id}/reject", data={"csrf_token": token, "reason": ""},
                          follow_redirects=True)
    assert "reason" in refused.get_data(as_text=True).lower()
    db.session.expire_all()
    assert db.session.get(PropertyApproval, request.id).status == "pending"
    client.post(f"/admin/property_approvals/{request.id}/reject",
                data={"csrf_token": token, "reason": "Too generous."})
    db.session.expire_all()
    assert db.session.get(PropertyApproval, request.id).status == "rejected"
    assert db.session.get(Property, p.id).return_rate_bps == 800


def test_console_edit_of_published_terms_makes_a_request(client, login, make_property, manager):
    from tests.properties.test_setup import _edit_form

    now = utcnow().replace(microsecond=0)
    p = make_property(funding_starts_at=now - timedelta(days=1), funding_ends_at=now + timedelta(days=40))
    login(manager)
    content = client.post(f"/admin/properties/edit/?id={p.id}", data=_edit_form(client, p, title="Renamed"),
                          follow_redirects=True)
    assert "wait for finance" not in content.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Property, p.id).title == "Renamed"
    response = client.post(f"/admin/properties/edit/?id={p.id}",
                           data=_edit_form(client, db.session.get(Property, p.id), annual_rate="9.00"),
                           follow_redirects=True)
    assert "wait for finance&#39;s approval" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Property, p.id).return_rate_bps == 800
    changes = db.session.scalars(select(PropertyApproval).where(PropertyApproval.kind == "terms_change")).all()
    assert [c.proposed for c in changes] == [{"return_rate_bps": 900}]


def test_cancelling_a_submitted_draft_withdraws_its_request(make_property, manager, finance):
    p = make_property(publish=False)
    with unit_of_work():
        request = properties.submit(p, actor=manager)
    with unit_of_work():
        properties.cancel(db.session.get(Property, p.id), actor=manager, reason="Sponsor withdrew.")
    db.session.expire_all()
    r = db.session.get(PropertyApproval, request.id)
    assert (r.status, r.reason) == ("withdrawn", "the offering was cancelled")
    with pytest.raises(Conflict), unit_of_work():
        properties.approve(r, actor=finance)
    assert db.session.get(Property, p.id).status == "cancelled"


def test_the_editing_service_alone_never_changes_published_terms(make_property, manager):
    from app.properties import editing

    p = make_property()
    with pytest.raises(Conflict, match="only through approval"), unit_of_work():
        editing.update_property(p, {"return_rate_bps": 2_000}, actor=manager)
    db.session.expire_all()
    assert db.session.get(Property, p.id).return_rate_bps == 800


def test_the_rate_cap_moves_only_by_two_admins(make_user):
    """The cap is the admin four-eyes setting: one admin's proposal changes nothing; once a second admin approves,
    a rate up to the new cap holds together and one above it does not."""
    from app.settings import services as settings

    first, second = make_user("cap1@example.com", role="admin"), make_user("cap2@example.com", role="admin")
    finance_user = make_user("capfin@example.com", role="finance")
    with pytest.raises(Forbidden), unit_of_work():
        settings.propose("properties.rate_cap_bps", 4_000, actor=finance_user, reason="more yield")
    with unit_of_work():
        change = settings.propose("properties.rate_cap_bps", 4_000, actor=first, reason="new product line")
    assert terms.rate_cap_bps() == 3_000
    assert "return_rate_bps" in terms.problems(_fixed(return_fixed_amount=None, return_rate_bps=3_500))
    with pytest.raises(Forbidden), unit_of_work():
        settings.approve(change, actor=first)
    with unit_of_work():
        settings.approve(change, actor=second)
    assert terms.rate_cap_bps() == 4_000
    assert "return_rate_bps" not in terms.problems(_fixed(return_fixed_amount=None, return_rate_bps=3_500))
    assert terms.problems(_fixed(return_fixed_amount=None, return_rate_bps=4_100))["return_rate_bps"] == [
        "At most 40.00 % a year."]
