"""The console's lists over big tables (postings, journal entries, investments, return payments, audit trail,
sign-in attempts): no count over the whole table, an estimate ("about N") or a capped count ("more than N")
instead, pages that still turn, filters that still narrow, and a fixed number of queries per page."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import text

from app.admin.base import BigListMixin
from app.admin.list_search import IndexedSearch
from app.auth.models import LoginAttempt
from app.core.audit import record
from app.core.db import unit_of_work, utcnow
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import ADJUSTMENTS, OPERATOR_FUNDING

BIG_LISTS = {"ledger_postings": "ledger_postings", "ledger_entries": "ledger_entries", "investments": "investments",
             "return_payments": "return_payments", "audit": "audit_log", "sign_ins": "login_attempts",
             "users": "users", "tickets": "support_tickets"}


def _view(app, endpoint: str):
    admin = app.extensions["admin"]
    admin = admin[0] if isinstance(admin, list) else admin
    return next(v for v in admin._views if v.endpoint == endpoint)


def _filter(app, endpoint: str, name: str, operation: str) -> str:
    view = _view(app, endpoint)
    for idx, flt in enumerate(view._filters):
        if str(flt.name) == name and str(flt.operation()) == operation:
            return f"flt0_{view.get_filter_arg(idx, flt)}"
    raise AssertionError(f"{endpoint}: no filter {name} {operation}")


@pytest.fixture
def staff(make_user, login):
    user = make_user(role="admin")
    assert login(user).status_code == 302
    return user


def _attempts(count: int, *, email: str = "who-{i}@example.com", channel: str = "portal",
              user_id: int | None = None) -> None:
    with unit_of_work():
        start = utcnow() - timedelta(hours=1)
        for i in range(count):
            db.session.add(LoginAttempt(user_id=user_id, email=email.format(i=i), ip="10.0.0.1", channel=channel, success=False,
                                        reason="bad_password", created_at=start + timedelta(seconds=i)))


def _entries(count: int) -> None:
    with unit_of_work():
        operator = ledger.platform_account(OPERATOR_FUNDING)
        adjustments = ledger.platform_account(ADJUSTMENTS)
        for i in range(count):
            ledger.post([(operator, -100 - i), (adjustments, 100 + i)], key=f"list-{i}", kind="adjustment",
                        memo=f"list entry {i}")


def _audit(count: int) -> None:
    with unit_of_work():
        for i in range(count):
            record("list.checked", actor=None, target=("users", str(i)), after={"i": i})


def _list_label(html: str) -> str:
    found = re.search(r'class="nav-link active">List(?: \(([^)]*)\))?', html)
    assert found, "no list tab"
    return found.group(1) or ""


def _is_big(view) -> bool:
    return isinstance(view, BigListMixin)


def test_every_big_list_uses_the_bounded_count_and_sorts_only_by_what_it_offers(app):
    for endpoint in BIG_LISTS:
        view = _view(app, endpoint)
        assert _is_big(view), endpoint
        assert view.column_default_sort == ("id", True), endpoint
        assert not view._search_supported or isinstance(view, IndexedSearch), \
            f"{endpoint}: a substring search reads the whole table"


def test_page_two_shows_other_rows_and_the_pager_turns(app, client, staff):
    _attempts(60)
    first = client.get("/admin/sign_ins/").get_data(as_text=True)
    second = client.get("/admin/sign_ins/?page=1").get_data(as_text=True)
    on_first = set(re.findall(r"who-\d+@example\.com", first))
    on_second = set(re.findall(r"who-\d+@example\.com", second))
    assert len(on_first) == 50 and len(on_second) == 10
    assert not on_first & on_second
    assert "who-59@example.com" in on_first  # newest first
    assert "?page=1" in first


def test_a_page_past_the_last_one_a_list_shows_is_held_to_it(app, client, staff, monkeypatch):
    monkeypatch.setattr(type(_view(app, "sign_ins")), "max_list_rows", 100)
    _attempts(160)
    last = client.get("/admin/sign_ins/?page=1").get_data(as_text=True)
    beyond = client.get("/admin/sign_ins/?page=7").get_data(as_text=True)
    assert set(re.findall(r"who-\d+@example\.com", beyond)) == set(re.findall(r"who-\d+@example\.com", last))
    assert "The list stops at 100 rows" in beyond


def test_filters_still_narrow_the_big_lists(app, client, staff):
    _attempts(5)
    _attempts(3, email="someone@example.com", channel="api")
    html = client.get(f"/admin/sign_ins/?{_filter(app, 'sign_ins', 'Email', 'equals')}=someone@example.com"
                      ).get_data(as_text=True)
    assert "someone@example.com" in html and "who-1@example.com" not in html
    assert _list_label(html) == "3"
    _audit(4)
    html = client.get(f"/admin/audit/?{_filter(app, 'audit', 'Target ID', 'equals')}=2").get_data(as_text=True)
    assert _list_label(html) == "1"
    _entries(3)
    key = _filter(app, "ledger_entries", "Idempotency key", "equals")
    html = client.get(f"/admin/ledger_entries/?{key}=list-1").get_data(as_text=True)
    assert "list entry 1" in html and "list entry 2" not in html


def test_no_list_counts_a_whole_table(app, client, staff, count_queries, postgres):
    _attempts(5)
    _entries(3)
    _audit(3)
    channel = _filter(app, "sign_ins", "Channel", "equals")
    for endpoint, table in BIG_LISTS.items():
        for query in ("", "?page=1", f"?{channel}=portal" if endpoint == "sign_ins" else "?sort=0"):
            with count_queries() as statements:
                assert client.get(f"/admin/{endpoint}/{query}").status_code == 200
            counts = [s for s in statements if re.search(r"count\s*\(", s, re.IGNORECASE) and table in s]
            unbounded = [s for s in counts if not re.search(r"\bLIMIT\b", s, re.IGNORECASE)]
            assert not unbounded, f"{endpoint}{query}: {unbounded}"


def test_estimated_and_capped_counts_are_labelled(app, client, staff, monkeypatch, postgres):
    monkeypatch.setattr(type(_view(app, "sign_ins")), "count_cap", 3)
    _attempts(10)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE login_attempts"))
    html = client.get("/admin/sign_ins/").get_data(as_text=True)
    assert re.fullmatch(r"about \d+", _list_label(html)), _list_label(html)
    assert "Page 1 of about" in html
    html = client.get(f"/admin/sign_ins/?{_filter(app, 'sign_ins', 'Channel', 'equals')}=portal"
                      ).get_data(as_text=True)
    assert _list_label(html) == "more than 3"
    html = client.get(f"/admin/sign_ins/?{_filter(app, 'sign_ins', 'Email', 'equals')}=who-1@example.com"
                      ).get_data(as_text=True)
    assert _list_label(html) == "1"


def _more_entries(count: int) -> None:
    with unit_of_work():
        operator = ledger.platform_account(OPERATOR_FUNDING)
        adjustments = ledger.platform_account(ADJUSTMENTS)
        for i in range(count):
            ledger.post([(operator, -500 - i), (adjustments, 500 + i)], key=f"more-{i}", kind="adjustment")


@pytest.mark.parametrize("endpoint", ["sign_ins", "ledger_entries", "ledger_postings", "audit"])
def test_queries_per_page_do_not_grow_with_its_rows(app, client, staff, count_queries, endpoint):
    """5 rows, then 50 (each sign-in attempt with its user, each entry with its postings and accounts)."""
    make = {"sign_ins": lambda n, first: _attempts(n, email=f"{'who' if first else 'more'}-{{i}}@example.com",
                                                   user_id=staff.id),
            "audit": lambda n, first: _audit(n),
            "ledger_entries": lambda n, first: (_entries if first else _more_entries)(n),
            "ledger_postings": lambda n, first: (_entries if first else _more_entries)(n)}[endpoint]
    make(5, True)
    client.get(f"/admin/{endpoint}/")
    with count_queries() as few:
        assert client.get(f"/admin/{endpoint}/").status_code == 200
    make(45, False)
    with count_queries() as many:
        assert client.get(f"/admin/{endpoint}/").status_code == 200
    assert len(many) == len(few), "\n".join(s[:70] for s in [*few, "--", *many])


def test_investments_and_return_payments_pages_do_not_grow_with_their_rows(app, client, make_user, login,
                                                                           make_investor, make_property,
                                                                           count_queries):
    """5 investments (of different investors and properties) with a return payment each, then 50."""
    from app.core.money import Money
    from app.investing import services as investing
    from app.investing.models import ReturnPayment

    def invest(count: int) -> None:
        for _ in range(count):
            user, prop = make_investor("5000.00"), make_property()
            inv = investing.invest(user, prop.id, Money.parse("1000.00", "USD"), acknowledged=True)
            db.session.commit()
            with unit_of_work():
                db.session.add(ReturnPayment(investment_id=inv.id, period_index=1, due_on=utcnow().date(),
                                             amount=667, capital=0))

    invest(5)
    assert login(make_user(role="admin")).status_code == 302
    pages = ("/admin/investments/", "/admin/return_payments/")
    few = {}
    for page in pages:
        client.get(page)
        with count_queries() as statements:
            assert client.get(page).status_code == 200
        few[page] = len(statements)
    invest(45)
    for page in pages:
        with count_queries() as statements:
            html = client.get(page).get_data(as_text=True)
        assert len(statements) == few[page], page
        assert html.count("/admin/investments/details/?id=") >= 50, page


@pytest.mark.parametrize("endpoint,name", [("audit", "Created at"), ("ledger_entries", "Created at"),
                                           ("sign_ins", "When")])
def test_time_filters_take_a_utc_moment_and_narrow_the_list(app, client, staff, endpoint, name):
    """A date and time typed into a time filter is UTC; the list narrows instead of failing."""
    _attempts(2)
    _entries(2)
    _audit(2)
    later = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    earlier = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    after = client.get(f"/admin/{endpoint}/?{_filter(app, endpoint, name, 'greater than')}={later}")
    assert after.status_code == 200 and _list_label(after.get_data(as_text=True)) in ("", "0")
    between = client.get(f"/admin/{endpoint}/?{_filter(app, endpoint, name, 'between')}={earlier} to {later}")
    assert between.status_code == 200 and _list_label(between.get_data(as_text=True)) not in ("", "0")
