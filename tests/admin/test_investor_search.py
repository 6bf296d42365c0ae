"""The lists of an investor's records (notifications, investments, payouts, adjustments, market records, sessions)
find them by the start of the investor's e-mail address or name, and by exact ids; a term's wildcards are literal."""
from __future__ import annotations

import re

import pytest

from app.core.db import unit_of_work
from app.extensions import db
from app.notifications.models import Notification


@pytest.fixture
def staff(make_user, login):
    user = make_user(role="admin")
    assert login(user).status_code == 302
    return user


def _titles(html: str) -> set[str]:
    return set(re.findall(r"note-for-[a-z]+-\d", html))


def test_notifications_are_found_by_the_start_of_the_investors_address_or_name(app, client, staff, make_user):
    maria = make_user("maria.lopez@example.com", first_name="Maria", last_name="Lopez")
    other = make_user("olga@example.com", first_name="Olga", last_name="Petrova")
    with unit_of_work():
        for who, name in ((maria, "maria"), (other, "olga")):
            for i in range(2):
                db.session.add(Notification(user_id=who.id, event="staff_message", in_app=True,
                                            title=f"note-for-{name}-{i}"))
    for term in ("maria.lo", "MARIA", "lopez", "Maria Lop"):
        html = client.get("/admin/notifications/", query_string={"search": term}).get_data(as_text=True)
        assert _titles(html) == {"note-for-maria-0", "note-for-maria-1"}, term
    for term in ("example.com", "%", "m_ria", "nobody"):  # the middle of a value, wildcards: nothing
        html = client.get("/admin/notifications/", query_string={"search": term}).get_data(as_text=True)
        assert _titles(html) == set(), term
    first = db.session.query(Notification).filter_by(title="note-for-olga-1").one()
    html = client.get("/admin/notifications/", query_string={"search": str(first.id)}).get_data(as_text=True)
    assert _titles(html) == {"note-for-olga-1"}
    assert "investor&#39;s e-mail or name" in html or "investor's e-mail or name" in html


@pytest.mark.parametrize("endpoint", ["investments", "payouts", "adjustments", "market_listings", "market_offers",
                                      "market_trades", "receivables", "sessions", "notifications"])
def test_each_investor_list_answers_an_investor_search(app, client, staff, make_user, endpoint):
    make_user("someone@example.com")
    response = client.get(f"/admin/{endpoint}/", query_string={"search": "someone@ex"})
    assert response.status_code == 200
    response = client.get(f"/admin/{endpoint}/", query_string={"search": "' OR 1=1 --"})
    assert response.status_code == 200


@pytest.mark.parametrize("endpoint", ["ledger_postings", "return_payments", "installments", "distribution_runs",
                                      "market_flags", "staff_messages", "gateway_settings", "roles", "amenities",
                                      "csv_mappings"])
def test_the_lists_that_had_no_search_answer_one(app, client, staff, endpoint):
    for term in ("42", "x%_", "<script>alert(1)</script>"):
        response = client.get(f"/admin/{endpoint}/", query_string={"search": term})
        assert response.status_code == 200, (endpoint, term)
        assert "<script>alert(1)</script>" not in response.get_data(as_text=True)
