"""The console's Market section: listings, offers and the trade tape for market.view (finance, compliance, support),
halts for market.halt (finance, compliance), surveillance flags for market.surveillance (compliance); property
managers see none of it, and every page needs two-factor authentication. Exports are audited, halting and
reviewing take a reason or a note, and list pages read a fixed number of times whatever their rows."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core.audit import AuditRecord
from app.core.db import unit_of_work, utcnow
from app.extensions import db
from app.market import services as market
from app.market.models import SurveillanceFlag, TradingHalt
from app.settings import services as money_settings
from app.settings.models import SettingChange
from tests.market.trade_rows import holding, trade_row
from tests.support import csrf_from

LISTS = ("/admin/market_listings/", "/admin/market_offers/", "/admin/market_trades/", "/admin/market_halts/")
FLAGS = "/admin/market_flags/"


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


def _row(trade) -> str:
    """A trade's link on the tape."""
    return f"/admin/market_trades/details/?id={trade.id}&amp;"


@pytest.fixture
def console(app, login):
    def _console(user):
        http = app.test_client()
        assert login(user, http=http).status_code == 302
        return http

    return _console


def _post(http, path, **data):
    token = csrf_from(http.get("/admin/market_listings/").get_data(as_text=True)) if "csrf_token" not in data \
        else data.pop("csrf_token")
    return http.post(path, data={"csrf_token": token, **data}, follow_redirects=True)


@pytest.fixture
def tape(make_investor, make_property):
    """Two properties open to resale; three trades of the first (2 days ago at 1.00, yesterday at 1.10, today at
    1.60 between a buyer and a seller), one of the second."""
    p = make_property(resale_allowed=True)
    q = make_property(resale_allowed=True)
    seller, buyer, other = make_investor(), make_investor(), make_investor()
    held, held_q = holding(seller, p), holding(seller, q)
    now = utcnow()
    trades = [trade_row(p, seller=seller, buyer=other, seller_investment=held, units=3, price=100,
                        settled_at=now - timedelta(days=2)),
              trade_row(p, seller=seller, buyer=other, seller_investment=held, units=2, price=110,
                        settled_at=now - timedelta(days=1)),
              trade_row(p, seller=seller, buyer=buyer, seller_investment=held, units=5, price=160,
                        settled_at=now - timedelta(minutes=5)),
              trade_row(q, seller=seller, buyer=buyer, seller_investment=held_q, units=1, price=100,
                        settled_at=now - timedelta(hours=3))]
    return {"p": p, "q": q, "seller": seller, "buyer": buyer, "other": other, "trades": trades}


# who sees what -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("role", "lists", "flags"), [
    ("admin", 200, 200), ("finance", 200, 403), ("compliance", 200, 200), ("support", 200, 403),
    ("property_manager", 403, 403)])
def test_each_role_sees_what_the_permission_table_says(console, make_user, tape, role, lists, flags):
    http = console(make_user(role=role))
    for url in LISTS:
        assert http.get(url).status_code == lists, url
    assert http.get(FLAGS).status_code == flags
    trade = tape["trades"][0]
    for url in (f"/admin/market_listings/details/?id={trade.listing_id}",
                f"/admin/market_trades/details/?id={trade.id}"):
        assert http.get(url).status_code == lists, url
    menu = http.get("/admin/").get_data(as_text=True)
    assert ("/admin/market_trades/" in menu) == (lists == 200)
    assert ("/admin/market_flags/" in menu) == (flags == 200)


@pytest.mark.parametrize(("role", "may_halt"), [("support", False), ("property_manager", False), ("finance", True),
                                                ("compliance", True), ("admin", True)])
def test_only_market_halt_holders_halt(console, make_user, tape, role, may_halt):
    http = console(make_user(role=role))
    token = csrf_from(http.get("/account/security").get_data(as_text=True))
    response = http.post(f"/admin/market_halts/{tape['p'].id}/halt", data={"csrf_token": token,
                                                                           "reason": "valuation under review"})
    assert response.status_code == (302 if may_halt else 403)
    db.session.expire_all()
    halted = db.session.scalar(select(TradingHalt).where(TradingHalt.property_id == tape["p"].id))
    assert (halted is not None) == may_halt
    if role == "support":
        page = http.get("/admin/market_halts/").get_data(as_text=True)
        assert tape["p"].title in page and "Halt trading" not in page


def test_staff_without_two_factor_are_sent_to_enrol(console, make_user, login, app):
    http = app.test_client()
    login(make_user(role="compliance", two_factor=False), http=http)
    for url in (*LISTS, FLAGS):
        response = http.get(url)
        assert response.status_code == 302 and response.headers["Location"] == "/account/2fa/setup", url


# listings, offers, the tape ----------------------------------------------------------------------------------------
def test_listings_show_money_and_filter(app, console, make_user, tape):
    http = console(make_user(role="support"))
    page = http.get("/admin/market_listings/").get_data(as_text=True)
    assert "USD 1.60" in page and "USD 1.00" in page and tape["seller"].email in page
    by_property = _filter(app, "market_listings", "Property", "is")
    page = http.get(f"/admin/market_listings/?{by_property}={tape['q'].id}").get_data(as_text=True)
    assert "USD 1.60" not in page and tape["q"].title in page
    seller = _filter(app, "market_listings", "Seller", "e-mail is")
    assert "USD 1.60" not in http.get(f"/admin/market_listings/?{seller}=nobody@example.com").get_data(as_text=True)
    status = _filter(app, "market_listings", "Status", "is")
    assert "USD 1.60" in http.get(f"/admin/market_listings/?{status}=sold").get_data(as_text=True)
    details = http.get(f"/admin/market_listings/details/?id={tape['trades'][2].listing_id}").get_data(as_text=True)
    assert 'data-testid="listing-trades"' in details and tape["buyer"].email in details
    assert "/halt" not in details and "cancel" not in details.lower()  # read-only: staff never trade for users


def test_the_tape_is_newest_first_and_filters(app, console, make_user, tape):
    http = console(make_user(role="finance"))
    page = http.get("/admin/market_trades/").get_data(as_text=True)
    t = tape["trades"]
    rows = [page.index(_row(x)) for x in (t[2], t[3], t[1], t[0])]
    assert rows == sorted(rows)
    buyer = _filter(app, "market_trades", "Buyer", "e-mail is")
    page = http.get(f"/admin/market_trades/?{buyer}={tape['buyer'].email}").get_data(as_text=True)
    assert _row(t[2]) in page and _row(t[0]) not in page
    seller = _filter(app, "market_trades", "Seller", "e-mail is")
    assert _row(t[2]) not in http.get(
        f"/admin/market_trades/?{seller}={tape['buyer'].email}").get_data(as_text=True)
    after = _filter(app, "market_trades", "Settled", "greater than")
    since = (utcnow() - timedelta(hours=4)).strftime("%Y-%m-%d %H:%M:%S")
    page = http.get(f"/admin/market_trades/?{after}={since}").get_data(as_text=True)
    assert _row(t[3]) in page and _row(t[1]) not in page
    assert 'data-testid="trade-chart-hint"' in page


def test_the_chart_of_a_property(app, console, make_user, tape):
    http = console(make_user(role="compliance"))
    by_property = _filter(app, "market_trades", "Property", "is")
    page = http.get(f"/admin/market_trades/?{by_property}={tape['p'].id}").get_data(as_text=True)
    assert 'data-testid="trade-chart"' in page and "3 trade(s)" in page
    assert "last price USD 1.60" in page and "<polyline" in page and "<script>" not in page.split("trade-chart")[1][:4000]


def test_the_export_is_audited(app, console, make_user, tape):
    staff = make_user(role="support")
    http = console(staff)
    buyer = _filter(app, "market_trades", "Buyer", "e-mail is")
    response = http.get(f"/admin/market_trades/export/csv/?{buyer}={tape['buyer'].email}")
    assert response.status_code == 200
    lines = response.get_data(as_text=True).strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("Id,Settled,Property")
    assert "1.60" in lines[1] and "8.00" in lines[1] and tape["buyer"].email in lines[1]
    trail = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "market.trades_export")).one()
    assert trail.actor_id == staff.id and trail.after["rows"] == 2
    assert trail.after["filters"][0]["value"] == tape["buyer"].email


# halts -------------------------------------------------------------------------------------------------------------
def test_halting_needs_a_reason_and_resuming_too(console, make_user, tape):
    officer = make_user(role="finance")
    http = console(officer)
    url = f"/admin/market_halts/{tape['p'].id}"
    page = _post(http, url + "/halt", reason="   ").get_data(as_text=True)
    assert "reason is required" in page.lower()
    assert db.session.scalar(select(func.count(TradingHalt.id))) == 0
    page = _post(http, url + "/halt", reason="Valuation under review").get_data(as_text=True)
    assert "is halted" in page and "Valuation under review" in page
    trail = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "market.halted")).one()
    assert (trail.actor_id, trail.reason) == (officer.id, "Valuation under review")
    page = _post(http, url + "/resume", reason="").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(TradingHalt)).resumed_at is None
    page = _post(http, url + "/resume", reason="Valuation confirmed").get_data(as_text=True)
    assert "resumed" in page
    db.session.expire_all()
    assert db.session.scalar(select(TradingHalt)).resume_reason == "Valuation confirmed"
    assert _post(http, "/admin/market_halts/999999/halt", reason="x").status_code == 404


# surveillance flags -------------------------------------------------------------------------------------------------
@pytest.fixture
def flags(tape):
    with unit_of_work():
        for t in tape["trades"]:
            market.flag_trade(db.session.merge(t))
    return list(db.session.scalars(select(SurveillanceFlag).order_by(SurveillanceFlag.id)))


def test_flags_open_first_with_the_trade_and_both_parties(console, make_user, tape, flags):
    assert [f.kind for f in flags] == ["far_from_nominal", "far_from_last"]  # the trade at 1.60
    officer = make_user(role="compliance")
    http = console(officer)
    with unit_of_work():  # reviewed already
        db.session.get(SurveillanceFlag, flags[1].id).status = "cleared"
    page = http.get(FLAGS).get_data(as_text=True)
    first, cleared = (f"/admin/market_flags/details/?id={f.id}&amp;" for f in flags)
    assert page.index(first) < page.index(cleared)
    details = http.get(f"{FLAGS}details/?id={flags[0].id}").get_data(as_text=True)
    assert tape["seller"].email in details and tape["buyer"].email in details and "USD 1.60" in details
    assert 'data-testid="review-form"' in details and 'data-testid="other-flags"' in details


def test_a_review_needs_a_note_and_is_audited(console, make_user, flags):
    officer = make_user(role="compliance")
    http = console(officer)
    url = f"{FLAGS}{flags[0].id}/review"
    page = _post(http, url, outcome="clear", note="").get_data(as_text=True)
    assert "note is required" in page.lower()
    db.session.expire_all()
    assert db.session.get(SurveillanceFlag, flags[0].id).status == "open"
    page = _post(http, url, outcome="escalate", note="Price far above nominal: ask the seller.").get_data(as_text=True)
    assert f"Flag #{flags[0].id} escalated." in page
    trail = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "market.flag_escalated")).one()
    assert trail.actor_id == officer.id and trail.reason == "Price far above nominal: ask the seller."


@pytest.mark.parametrize("role", ["support", "finance", "property_manager"])
def test_only_compliance_reviews(console, make_user, flags, role):
    http = console(make_user(role=role))
    token = csrf_from(http.get("/account/security").get_data(as_text=True))
    response = http.post(f"{FLAGS}{flags[0].id}/review", data={"csrf_token": token, "outcome": "clear",
                                                               "note": "looks fine"})
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(SurveillanceFlag, flags[0].id).status == "open"


def test_a_party_to_the_trade_cannot_review_it(console, make_user, make_property, make_investor):
    p = make_property(resale_allowed=True)
    seller, officer = make_investor(), make_user(role="compliance")
    trade = trade_row(p, seller=seller, buyer=officer, seller_investment=holding(seller, p), price=300)
    with unit_of_work():
        flag = market.flag_trade(db.session.merge(trade))[0]
    http = console(officer)
    details = http.get(f"{FLAGS}details/?id={flag.id}").get_data(as_text=True)
    assert 'data-testid="party"' in details and 'data-testid="review-form"' not in details
    page = _post(http, f"{FLAGS}{flag.id}/review", outcome="clear", note="mine").get_data(as_text=True)
    assert "party to this trade" in page
    db.session.expire_all()
    assert db.session.get(SurveillanceFlag, flag.id).status == "open"


# settings ------------------------------------------------------------------------------------------------------------
def test_market_settings_are_a_four_eyes_group(console, finance, finance2):
    maker, checker = console(finance), console(finance2)
    page = maker.get("/admin/money_settings/").get_data(as_text=True)
    assert "<h3 class=\"h5 mt-4\">Market</h3>" in page and "setting-market.seller_fee_bps" in page
    assert "/admin/money_settings/#setting-market.seller_fee_bps" in maker.get("/admin/").get_data(as_text=True)
    token = csrf_from(page)
    maker.post("/admin/money_settings/propose", data={"csrf_token": token, "key": "market.seller_fee_bps",
                                                      "new_value": "150", "reason": "market costs"})
    change = db.session.scalar(select(SettingChange).where(SettingChange.key == "market.seller_fee_bps"))
    assert change is not None and money_settings.value("market.seller_fee_bps") == 100
    page = maker.post(f"/admin/money_settings/{change.id}/approve", data={"csrf_token": token},
                      follow_redirects=True).get_data(as_text=True)
    assert "A different person must approve this change." in page
    token = csrf_from(checker.get("/admin/money_settings/").get_data(as_text=True))
    checker.post(f"/admin/money_settings/{change.id}/approve", data={"csrf_token": token})
    db.session.expire_all()
    assert money_settings.value("market.seller_fee_bps") == 150


# reads -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", [*LISTS, FLAGS])
def test_list_pages_read_a_fixed_number_of_times(console, make_user, make_investor, make_property, count_queries,
                                                 url):
    http = console(make_user(role="admin"))
    p = make_property(resale_allowed=True)
    seller = make_investor()
    held = holding(seller, p)

    def more(n):
        for _ in range(n):
            t = trade_row(p, seller=seller, buyer=make_investor(balance=None), seller_investment=held, price=200)
            with unit_of_work():
                market.flag_trade(db.session.merge(t))

    more(1)
    with count_queries() as few:
        assert http.get(url).status_code == 200
    more(4)
    with count_queries() as many:
        assert http.get(url).status_code == 200
    assert 0 < len(many) == len(few), (len(few), len(many))


# a live market: an open listing and a prefunded offer on it ----------------------------------------------------------
@pytest.fixture
def live_market(make_property, make_investor):
    """An open listing of 10 units at 1.05 and a buyer's offer of 4 units at 1.02, its cost held."""
    from sqlalchemy import update

    from app.core.money import Money
    from app.investing import services as investing
    from app.properties.models import Property

    p = make_property(resale_allowed=True, resale_lockup_days=0)
    seller, buyer = make_investor(), make_investor()
    with unit_of_work():
        held = investing.invest(seller, p.id, Money.parse("200.00", p.currency), acknowledged=True)
        if held.units == 0:  # where investing does not count units yet, count them as it would
            held.units = investing.units_in(held.paid_amount, p.unit_price)
            db.session.execute(update(Property).where(Property.id == p.id)
                               .values(units_sold=Property.units_sold + held.units))
        long_ago = utcnow() - timedelta(days=400)
        db.session.execute(update(Property).where(Property.id == p.id).values(
            funding_starts_at=long_ago - timedelta(days=30), funding_ends_at=long_ago))
    with unit_of_work():
        listing = market.create_listing(seller, held.id, 10, Money.parse("1.05", p.currency))
    with unit_of_work():
        offer = market.make_offer(buyer, listing.id, 4, Money.parse("1.02", p.currency))
    return {"p": p, "seller": seller, "buyer": buyer, "listing": listing, "offer": offer}


def test_offers_show_what_they_hold(app, console, make_user, live_market):
    http = console(make_user(role="support"))
    offer = live_market["offer"]
    held = f"USD {offer.held_amount // 100:,}.{offer.held_amount % 100:02d}"
    page = http.get("/admin/market_offers/").get_data(as_text=True)
    assert live_market["buyer"].email in page and "USD 1.02" in page and held in page and ">open<" in page
    status = _filter(app, "market_offers", "Status", "is")
    assert held not in http.get(f"/admin/market_offers/?{status}=withdrawn").get_data(as_text=True)
    by_property = _filter(app, "market_offers", "Property", "is")
    assert held in http.get(f"/admin/market_offers/?{by_property}={live_market['p'].id}").get_data(as_text=True)
    listing = http.get(f"/admin/market_listings/details/?id={live_market['listing'].id}").get_data(as_text=True)
    assert 'data-testid="listing-offers"' in listing and held in listing and "USD 1.05" in listing
    board = http.get("/admin/market_halts/").get_data(as_text=True)
    assert live_market["p"].title in board and "trading" in board


def test_a_halt_releases_the_live_offers(console, make_user, live_market):
    from app.market.models import Offer

    http = console(make_user(role="compliance"))
    page = _post(http, f"/admin/market_halts/{live_market['p'].id}/halt",
                 reason="Valuation under review").get_data(as_text=True)
    assert "is halted" in page
    db.session.expire_all()
    assert db.session.get(Offer, live_market["offer"].id).status not in ("open", "countered")
