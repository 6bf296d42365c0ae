"""Attacks on the funding of distributions accounts: each refused with nothing written."""
from sqlalchemy import func, select

from app.extensions import db
from app.investing import funding
from app.investing.models import DistributionFunding
from app.ledger.models import JournalEntry
from tests.support import csrf_from


def _nothing_written(status="proposed", funding_id=None):
    assert db.session.scalar(select(func.count(JournalEntry.id))) == 0
    if funding_id is not None:
        db.session.expire_all()
        assert db.session.get(DistributionFunding, funding_id).status == status


def test_an_investor_cannot_reach_the_console(client, login, make_investor, make_property):
    p = make_property()
    login(make_investor("10.00"))
    assert client.get(f"/admin/distribution-funding/propose?property_id={p.id}").status_code in (302, 403)
    assert client.post("/admin/distribution-funding/propose", data={"property_id": str(p.id), "amount": "9.00",
                                                                    "bank_reference": "X"}).status_code in (400, 403)
    assert db.session.scalar(select(func.count(DistributionFunding.id))) == 0


def test_an_approval_without_its_csrf_token_is_refused(app, client, login, make_property, finance, finance2):
    p = make_property()
    f = funding.propose(p.id, amount="100.00", bank_reference="OPS-1", actor=finance)
    db.session.commit()
    login(finance2)
    assert client.post(f"/admin/distribution-funding/{f.id}/approve").status_code == 400
    _nothing_written(funding_id=f.id)


def test_the_maker_cannot_approve_by_a_crafted_post(client, login, make_property, finance):
    p = make_property()
    f = funding.propose(p.id, amount="100.00", bank_reference="OPS-1", actor=finance)
    db.session.commit()
    login(finance)
    page = client.get(f"/admin/distribution-funding/details/?id={f.id}").get_data(as_text=True)
    assert "/approve" not in page
    client.post(f"/admin/distribution-funding/{f.id}/approve", data={"csrf_token": csrf_from(page)})
    _nothing_written(funding_id=f.id)


def test_a_huge_or_negative_amount_in_the_form_is_refused(client, login, make_property, finance):
    p = make_property()
    login(finance)
    page = client.get("/admin/distribution-funding/propose").get_data(as_text=True)
    for amount in ("-100.00", "1e9", "99999999999999999999999.00", "10.123"):
        response = client.post("/admin/distribution-funding/propose", data={
            "property_id": str(p.id), "amount": amount, "bank_reference": "OPS", "csrf_token": csrf_from(page)})
        assert response.status_code == 422, amount
    assert db.session.scalar(select(func.count(DistributionFunding.id))) == 0
    _nothing_written()
