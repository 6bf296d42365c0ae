"""The market pages through HTTP: browsing, a listing with the rule that returns follow the units, buying and
offering with a confirm step that shows every amount, listing units of a holding, "my listings and offers" with
their answers, trades in the portfolio and the wallet history. Refusals show a message and change nothing."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.core.money import Money
from app.extensions import db
from app.investing.models import Investment
from app.ledger.services import balance_of
from app.market.models import OPEN, Listing, Offer, Trade
from tests.support import csrf_from


def usd(amount: str) -> str:
    """An amount as the portal shows it in English ("$1,250.00")."""
    return Money.parse(amount.replace(",", ""), "USD", allow_zero=True).local("en")

pytestmark = pytest.mark.usefixtures("market_fees")


def text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def token(http, path: str = "/market") -> str:
    return csrf_from(http.get(path).get_data(as_text=True))


def counts() -> tuple[int, int, int]:
    db.session.expire_all()
    return (db.session.scalar(select(func.count()).select_from(Listing)),
            db.session.scalar(select(func.count()).select_from(Offer)),
            db.session.scalar(select(func.count()).select_from(Trade)))


def available(user) -> int:
    db.session.expire_all()
    return balance_of(user.id).available.minor


@pytest.fixture
def seller(make_investor):
    return make_investor("5000.00", email="seller@example.com")


@pytest.fixture
def buyer(make_investor):
    return make_investor("5000.00", email="buyer@example.com")


@pytest.fixture
def listing(seller, make_holding, make_listing):
    inv = make_holding(seller, "1000.00", title="Northgate Logistics Park")
    return make_listing(seller, inv, 5, "110.00")


# browsing ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/market", "/market/mine", "/market/listings/1", "/market/sell/1"])
def test_the_market_pages_need_a_signed_in_user(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_the_market_lists_open_listings_per_property_with_their_figures(client, login, listing, buyer):
    login(buyer)
    page = text(client.get("/market"))
    assert 'href="/market"' in page and ">Market</a>" in page  # the navigation
    assert "Northgate Logistics Park" in page
    assert f"Listing #{listing.id}" in page
    assert usd("110.00") in page and "110%" in page  # the asking price and its share of nominal
    assert f"Lowest ask: <strong>{usd('110.00')}</strong>" in page
    assert "Last traded: <strong>—</strong>" in page
    assert "30-day volume: <strong>0 units</strong>" in page


def test_the_market_filters_by_property_and_price(client, login, seller, buyer, make_holding, make_listing, listing):
    other = make_holding(seller, "500.00", title="Harbour Flats")
    make_listing(seller, other, 2, "90.00")
    login(buyer)
    everything = text(client.get("/market"))
    assert "Harbour Flats" in everything and "Northgate Logistics Park" in everything
    only = text(client.get(f"/market?property={listing.property_id}"))
    assert "Northgate Logistics Park" in only and usd('90.00') not in only
    cheap = text(client.get("/market?min_price=80&max_price=100.00"))
    assert usd('90.00') in cheap and f"Listing #{listing.id}" not in cheap
    none = text(client.get("/market?min_price=500"))
    assert "No open listings match these filters." in none


def test_the_listing_states_that_returns_follow_the_units(client, login, listing, buyer):
    login(buyer)
    page = text(client.get(f"/market/listings/{listing.id}"))
    assert "Returns follow the units" in page
    assert "00:00 UTC on a period's due date receives that whole period" in page
    assert "stay with the seller" in page
    assert "5 of 5" in page and "Buy at the asking price" in page and "Make an offer" in page
    assert client.get("/market/listings/999999").status_code == 404


# buying ---------------------------------------------------------------------------------------------------------------
def test_buying_shows_every_amount_then_buys(client, login, listing, buyer, seller):
    login(buyer)
    csrf = token(client, f"/market/listings/{listing.id}")
    review = client.post(f"/market/listings/{listing.id}/buy", data={"units": "2", "csrf_token": csrf})
    page = text(review)
    assert review.status_code == 200
    assert counts() == (1, 0, 0)  # nothing happened yet
    # 2 x 110.00 = 220.00, the buyer's fee 1 % = 2.20, the total 222.20, the wallet 5,000.00 -> 4,777.80
    for shown in (usd('220.00'), usd('2.20'), usd('222.20'), usd('5,000.00'), usd('4,777.80')):
        assert shown in page
    key = re.search(r'name="key" value="([^"]+)"', page).group(1)
    data = {"units": "2", "confirm": "yes", "key": key, "csrf_token": csrf_from(page)}
    done = client.post(f"/market/listings/{listing.id}/buy", data=data)
    assert done.status_code == 302 and done.headers["Location"].startswith("/portfolio/")
    assert client.post(f"/market/listings/{listing.id}/buy", data=data).status_code == 302  # a replay buys nothing
    assert counts() == (1, 0, 1)
    assert available(buyer) == 500_000 - 22_220

    holding = text(client.get(done.headers["Location"]))
    assert "Bought on the market" in holding and usd('222.20') in holding
    portfolio = text(client.get("/portfolio"))
    assert f"Bought on the market for {usd('222.20')}" in portfolio
    wallet = text(client.get("/wallet"))
    assert "Bought 2 units of Northgate Logistics Park on the market" in wallet
    statement = client.get("/wallet/statement.csv").get_data(as_text=True)
    assert "Bought 2 units of Northgate Logistics Park on the market,Available,,222.20" in statement

    login(seller, http=(seller_http := client.application.test_client()))
    assert "Sold 2 units of Northgate Logistics Park on the market" in text(seller_http.get("/wallet"))
    mine = text(seller_http.get("/market/mine"))
    assert "3 of 5" in mine and "Sold 2 units of Northgate Logistics Park" in mine


@pytest.mark.parametrize("units, message", [
    ("0", "Enter a whole number of units, at least 1."),
    ("-3", "Enter a whole number of units, at least 1."),
    ("1.5", "Not a valid integer value."),
    ("99999999999", "Enter a whole number of units, at least 1."),
    ("6", "units"),  # more than remain
])
def test_buying_refusals_show_a_message_and_change_nothing(client, login, listing, buyer, units, message):
    login(buyer)
    before = available(buyer)
    response = client.post(f"/market/listings/{listing.id}/buy",
                           data={"units": units, "confirm": "yes", "key": "k1",
                                 "csrf_token": token(client, f"/market/listings/{listing.id}")})
    assert response.status_code in (409, 422)
    page = text(response)
    assert 'data-testid="buy-error"' in page and message in page
    assert counts() == (1, 0, 0) and available(buyer) == before


def test_a_seller_cannot_buy_their_own_units(client, login, listing, seller):
    login(seller)
    page = text(client.get(f"/market/listings/{listing.id}"))
    assert "Your listing" in page and "Buy at the asking price" not in page
    response = client.post(f"/market/listings/{listing.id}/buy",
                           data={"units": "1", "csrf_token": csrf_from(page)})
    assert response.status_code == 403
    assert "cannot buy your own units" in text(response)
    assert counts() == (1, 0, 0)


def test_a_purchase_the_wallet_cannot_pay_is_refused(client, login, listing, make_investor):
    poor = make_investor("100.00", email="poor@example.com")
    login(poor)
    response = client.post(f"/market/listings/{listing.id}/buy",
                           data={"units": "3", "confirm": "yes", "key": "k2",
                                 "csrf_token": token(client, f"/market/listings/{listing.id}")})
    assert response.status_code in (402, 409, 422)
    assert "add money to your wallet" in text(response).lower()
    assert counts() == (1, 0, 0) and available(poor) == 10_000


def test_every_market_form_needs_its_csrf_token(client, login, listing, buyer, seller):
    login(buyer)
    for path, data in ((f"/market/listings/{listing.id}/buy", {"units": "1", "confirm": "yes", "key": "x"}),
                       (f"/market/listings/{listing.id}/offer", {"units": "1", "price": "100", "confirm": "yes"}),
                       (f"/market/listings/{listing.id}/cancel", {}),
                       ("/market/offers/1/withdraw", {}), ("/market/offers/1/accept", {}),
                       ("/market/offers/1/reject", {}), ("/market/offers/1/counter", {"price": "100"}),
                       (f"/market/sell/{listing.investment_id}", {"units": "1", "price": "100", "confirm": "yes"})):
        assert client.post(path, data=data).status_code == 400, path
    assert counts() == (1, 0, 0)


# offers ------------------------------------------------------------------------------------------------------------
def _offer(http, listing, units="3", price="100.00", message="Would you take 100?"):
    csrf = token(http, f"/market/listings/{listing.id}")
    review = http.post(f"/market/listings/{listing.id}/offer",
                       data={"units": units, "price": price, "message": message, "csrf_token": csrf})
    assert review.status_code == 200, text(review)
    page = text(review)
    return page, http.post(f"/market/listings/{listing.id}/offer",
                           data={"units": units, "price": price, "message": message, "confirm": "yes",
                                 "csrf_token": csrf_from(page)})


def test_an_offer_shows_what_is_held_countered_and_accepted(client, app, login, listing, buyer, seller):
    login(buyer)
    review, made = _offer(client, listing)
    # 3 x 100.00 = 300.00 + 1 % fee 3.00 = 303.00 held; 5,000.00 -> 4,697.00 available
    assert usd('300.00') in review and usd('3.00') in review and usd('303.00') in review and usd('4,697.00') in review
    assert made.status_code == 302
    assert available(buyer) == 500_000 - 30_300
    mine = text(client.get("/market/mine"))
    assert f"Held from your wallet: <strong>{usd('303.00')}</strong>" in mine
    assert "Offer held: 3 units of Northgate Logistics Park" in text(client.get("/wallet"))

    seller_http = app.test_client()
    login(seller, http=seller_http)
    received = text(seller_http.get("/market/mine"))
    assert "Would you take 100?" in received and f"3 units at {usd('100.00')}" in received
    offer = db.session.scalar(select(Offer))
    countered = seller_http.post(f"/market/offers/{offer.id}/counter",
                                 data={"price": "105.00", "message": "Meet me at 105",
                                       "csrf_token": csrf_from(received)})
    assert countered.status_code == 302
    assert "Counter-offer sent" in text(seller_http.get("/market/mine"))

    page = text(client.get("/market/mine"))
    # 3 x 105.00 = 315.00 + 3.15 fee = 318.15: 15.15 more than the 303.00 held
    assert f"The seller counters at <strong>{usd('105.00')}</strong>" in page and "Meet me at 105" in page
    assert usd('318.15') in page and f"{usd('15.15')} more from your wallet" in page
    accepted = client.post(f"/market/offers/{offer.id}/accept", data={"csrf_token": csrf_from(page)})
    assert accepted.status_code == 302 and accepted.headers["Location"].startswith("/portfolio/")
    assert counts() == (1, 1, 1)
    assert available(buyer) == 500_000 - 31_815
    assert balance_of(buyer.id).held.minor == 0
    wallet = text(client.get("/wallet"))
    assert "Bought 3 units of Northgate Logistics Park on the market" in wallet


def test_offer_refusals_show_a_message_and_change_nothing(client, login, listing, buyer):
    login(buyer)
    csrf = token(client, f"/market/listings/{listing.id}")
    for data, message in (({"units": "3", "price": "abc"}, "price"), ({"units": "3", "price": "0"}, "price"),
                          ({"units": "0", "price": "100"}, "at least 1"),
                          ({"units": "3", "price": "100", "message": "x" * 501}, "under 500 characters"),
                          ({"units": "9", "price": "100", "confirm": "yes"}, "units")):
        response = client.post(f"/market/listings/{listing.id}/offer", data={**data, "csrf_token": csrf})
        assert response.status_code in (409, 422), data
        page = text(response)
        assert 'data-testid="offer-error"' in page and message in page.lower(), data
    assert counts() == (1, 0, 0) and available(buyer) == 500_000


def test_the_buyer_withdraws_an_offer_and_the_seller_rejects_another(client, app, login, listing, buyer, seller):
    login(buyer)
    _offer(client, listing, units="1")
    first = db.session.scalar(select(Offer))
    csrf = token(client, "/market/mine")
    assert client.post(f"/market/offers/{first.id}/withdraw", data={"csrf_token": csrf}).status_code == 302
    _offer(client, listing, units="2")
    second = db.session.scalar(select(Offer).where(Offer.id != first.id))
    seller_http = app.test_client()
    login(seller, http=seller_http)
    reject = seller_http.post(f"/market/offers/{second.id}/reject",
                              data={"csrf_token": token(seller_http, "/market/mine")})
    assert reject.status_code == 302
    db.session.expire_all()
    assert [o.status for o in db.session.scalars(select(Offer).order_by(Offer.id))] == ["withdrawn", "rejected"]
    assert available(buyer) == 500_000
    assert "Offer released: 1 unit of Northgate Logistics Park" in text(client.get("/wallet"))
    # the buyer cannot accept their own open offer, nor withdraw twice: a message, nothing changes
    again = client.post(f"/market/offers/{first.id}/withdraw", data={"csrf_token": csrf}, follow_redirects=True)
    assert 'alert-danger' in text(again)


def test_another_users_listing_and_offers_cannot_be_touched(client, login, listing, buyer, seller, make_investor):
    login(buyer)
    _offer(client, listing, units="1")
    offer = db.session.scalar(select(Offer))
    stranger = make_investor(email="stranger@example.com")
    http = client.application.test_client()
    login(stranger, http=http)
    csrf = token(http, "/market/mine")
    assert http.post(f"/market/listings/{listing.id}/cancel", data={"csrf_token": csrf}).status_code in (403, 404)
    for action in ("accept", "reject", "withdraw"):
        assert http.post(f"/market/offers/{offer.id}/{action}", data={"csrf_token": csrf}).status_code == 404
    assert http.post(f"/market/offers/{offer.id}/counter",
                     data={"price": "120", "csrf_token": csrf}).status_code == 404
    # the buyer cannot cancel the seller's listing either
    assert client.post(f"/market/listings/{listing.id}/cancel",
                       data={"csrf_token": token(client, "/market/mine")}).status_code in (403, 404)
    db.session.expire_all()
    assert db.session.get(Listing, listing.id).status == OPEN
    assert db.session.get(Offer, offer.id).status == OPEN


def test_the_seller_cancels_a_listing(client, login, listing, seller):
    login(seller)
    mine = text(client.get("/market/mine"))
    assert 'data-confirm="Cancel listing #' in mine
    response = client.post(f"/market/listings/{listing.id}/cancel", data={"csrf_token": csrf_from(mine)},
                           follow_redirects=True)
    assert "cancelled" in text(response)
    db.session.expire_all()
    assert db.session.get(Listing, listing.id).status == "cancelled"
    assert db.session.get(Investment, listing.investment_id).units_listed == 0


# selling ------------------------------------------------------------------------------------------------------------
def test_listing_units_shows_the_band_the_fee_and_the_net_then_lists(client, login, seller, make_holding):
    inv = make_holding(seller, "1000.00", title="Northgate Logistics Park")
    login(seller)
    holding = text(client.get(f"/portfolio/{inv.id}"))
    assert f'href="/market/sell/{inv.id}"' in holding and "Sell units" in holding
    form = text(client.get(f"/market/sell/{inv.id}"))
    assert "10 units available" in form and f"Allowed: {usd('50.00')} to {usd('150.00')}." in form
    review = client.post(f"/market/sell/{inv.id}", data={"units": "4", "price": "120.00",
                                                         "csrf_token": csrf_from(form)})
    page = text(review)
    # 4 x 120.00 = 480.00, the seller's fee 1 % = 4.80, the net 475.20
    assert review.status_code == 200 and usd('480.00') in page and usd('4.80') in page and usd('475.20') in page
    assert counts() == (0, 0, 0)
    done = client.post(f"/market/sell/{inv.id}", data={"units": "4", "price": "120.00", "confirm": "yes",
                                                       "csrf_token": csrf_from(page)})
    assert done.status_code == 302
    listing = db.session.scalar(select(Listing))
    assert (listing.units, listing.price_per_unit) == (4, 12_000)
    assert "4 units listed" in text(client.get(f"/portfolio/{inv.id}"))


@pytest.mark.parametrize("data, message", [
    ({"units": "4", "price": "200.00"}, "between 50.00 and 150.00"),
    ({"units": "4", "price": "10"}, "between 50.00 and 150.00"),
    ({"units": "11", "price": "100"}, "units"),
    ({"units": "0", "price": "100"}, "at least 1"),
    ({"units": "2", "price": "-5"}, "price"),
    ({"units": "2", "price": "100", "expires_on": "2001-01-01"}, "after today"),
])
def test_listing_refusals_show_a_message_and_change_nothing(client, login, seller, make_holding, data, message):
    inv = make_holding(seller, "1000.00")
    login(seller)
    response = client.post(f"/market/sell/{inv.id}", data={**data, "confirm": "yes",
                                                           "csrf_token": token(client, f"/market/sell/{inv.id}")})
    assert response.status_code in (409, 422)
    page = text(response)
    assert 'data-testid="sell-error"' in page and message in page.lower()
    assert counts() == (0, 0, 0)


def test_another_users_holding_cannot_be_listed(client, login, seller, buyer, make_holding):
    inv = make_holding(seller, "1000.00")
    login(buyer)
    assert client.get(f"/market/sell/{inv.id}").status_code == 404
    assert client.post(f"/market/sell/{inv.id}", data={"units": "1", "price": "100", "confirm": "yes",
                                                       "csrf_token": token(client)}).status_code == 404
    assert counts() == (0, 0, 0)


# queries -------------------------------------------------------------------------------------------------------------
def _queries(http, path, count_queries) -> int:
    http.get(path)  # warm up
    with count_queries() as statements:
        assert http.get(path).status_code == 200
    return len(statements)


def test_market_pages_cost_the_same_queries_for_2_or_20_listings(app, login, make_investor, make_holding,
                                                                  make_listing, count_queries):
    costs = {}
    for n in (2, 20):
        seller = make_investor("50000.00", email=f"seller{n}@example.com")
        buyer = make_investor("50000.00", email=f"buyer{n}@example.com")
        inv = make_holding(seller, f"{n * 100}.00", title=f"Block {n}")
        other = make_holding(seller, f"{n * 100}.00", title=f"Tower {n}")
        for _ in range(n // 2):
            make_listing(seller, inv, 1, "100.00")
            make_listing(seller, other, 1, "101.00")
        seller_http, buyer_http = app.test_client(), app.test_client()
        login(seller, http=seller_http)
        login(buyer, http=buyer_http)
        for listing in db.session.scalars(select(Listing).where(Listing.seller_id == seller.id)).all()[:n // 2]:
            _offer(buyer_http, listing, units="1", price="100.00", message="")
        first = db.session.scalar(select(Listing).where(Listing.seller_id == seller.id).order_by(Listing.id))
        costs[n] = {"market": _queries(buyer_http, "/market", count_queries),
                    "listing": _queries(buyer_http, f"/market/listings/{first.id}", count_queries),
                    "mine (seller)": _queries(seller_http, "/market/mine", count_queries),
                    "mine (buyer)": _queries(buyer_http, "/market/mine", count_queries),
                    "wallet (buyer)": _queries(buyer_http, "/wallet", count_queries)}
    assert costs[2] == costs[20], costs
