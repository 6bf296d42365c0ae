"""The investor's payout pages: bank accounts (add, change, remove), the request with the fee shown first,
the payout's page with cancel, and object-level checks."""
from sqlalchemy import select

from app.core.money import Money
from app.extensions import db
from app.payouts.models import Payout, PayoutMethod
from tests.payouts.helpers import BANK, balances, usable_method
from tests.support import csrf_from, outbox


def usd(amount: str) -> str:
    """An amount as the portal shows it in English ("$1,250.00")."""
    return Money.parse(amount.replace(",", ""), "USD", allow_zero=True).local("en")



def _post(client, url, data, page=None):
    html = client.get(page or url).get_data(as_text=True)
    return client.post(url, data={**data, "csrf_token": csrf_from(html)})


def test_add_change_and_remove_a_bank_account(client, login, investor):
    login(investor)
    page = client.get("/payout-methods/new").get_data(as_text=True)
    assert 'value="Test User"' in page, "the holder name starts as the verified name"
    bad = _post(client, "/payout-methods/new", {**BANK, "routing_number": "", "country": "X"})
    assert bad.status_code == 422 and "is-invalid" in bad.get_data(as_text=True)
    response = _post(client, "/payout-methods/new", BANK)
    assert response.status_code == 302
    listing = client.get("/payout-methods").get_data(as_text=True)
    assert "000123456789" not in listing and "6789" in listing and "from " in listing
    assert outbox(investor.email, "payout_method_added")
    method = db.session.scalar(select(PayoutMethod).where(PayoutMethod.user_id == investor.id))
    changed = _post(client, f"/payout-methods/{method.id}/edit", {**BANK, "account_number": "55554444"})
    assert changed.status_code == 302
    db.session.expire_all()
    assert db.session.get(PayoutMethod, method.id).account_number == "55554444"
    assert len(outbox(investor.email, "payout_method_added")) == 2
    removed = _post(client, f"/payout-methods/{method.id}/delete", {}, page="/payout-methods")
    assert removed.status_code == 302
    assert db.session.scalar(select(PayoutMethod.id).where(PayoutMethod.user_id == investor.id)) is None


def test_request_shows_the_fee_then_holds(client, login, investor, method):
    login(investor)
    assert "Withdraw" in client.get("/payouts").get_data(as_text=True)
    quote = _post(client, "/payouts/new", {"amount": "200.00", "payout_method_id": str(method.id)})
    html = quote.get_data(as_text=True)
    assert quote.status_code == 200 and 'data-testid="quote"' in html and usd('2.00') in html and usd('202.00') in html
    assert balances(investor) == (100_000, 0)
    done = client.post("/payouts/new", data={"amount": "200.00", "payout_method_id": str(method.id), "confirm": "yes",
                                            "csrf_token": csrf_from(html)})
    assert done.status_code == 302
    payout = db.session.scalar(select(Payout))
    assert done.headers["Location"].endswith(f"/payouts/{payout.id}")
    assert balances(investor) == (100_000 - 20_200, 20_200)
    detail = client.get(f"/payouts/{payout.id}").get_data(as_text=True)
    assert "requested" in detail and "Cancel payout" in detail
    cancelled = client.post(f"/payouts/{payout.id}/cancel", data={"csrf_token": csrf_from(detail)})
    assert cancelled.status_code == 302
    assert balances(investor) == (100_000, 0)
    again = client.post(f"/payouts/{payout.id}/cancel", data={"csrf_token": csrf_from(detail)},
                        follow_redirects=True)
    assert "cannot become cancelled" in again.get_data(as_text=True)
    assert balances(investor) == (100_000, 0)


def test_form_errors_not_500s(client, login, investor, method):
    login(investor)
    for data in ({"amount": "abc", "payout_method_id": str(method.id)},
                 {"amount": "5000.00", "payout_method_id": str(method.id)},
                 {"amount": "10.00", "payout_method_id": "999999"},
                 {"amount": "10.00", "payout_method_id": ""}):
        response = _post(client, "/payouts/new", {**data, "confirm": "yes"})
        assert response.status_code == 422, data
    assert client.post("/payouts/new", data={"amount": "10.00", "payout_method_id": str(method.id),
                                             "confirm": "yes"}).status_code == 400  # no CSRF token
    assert db.session.scalar(select(Payout.id)) is None


def test_without_kyc_the_page_says_what_is_missing(client, login, make_user):
    from app.kyc.demo import ensure_forms

    ensure_forms()
    user = make_user()
    login(user)
    assert 'data-testid="kyc-needed"' in client.get("/payouts/new").get_data(as_text=True)


def test_other_investors_pages_are_404(client, login, investor, method, make_user):
    from app.core.money import Money
    from app.payouts import services as payouts

    payout = payouts.request_payout(investor, Money(5_000, "USD"), method.id)
    db.session.commit()
    other = make_user()
    theirs = usable_method(other)
    login(investor)
    assert client.get(f"/payout-methods/{theirs.id}/edit").status_code == 404
    page = client.get("/payout-methods").get_data(as_text=True)
    assert client.post(f"/payout-methods/{theirs.id}/delete", data={"csrf_token": csrf_from(page)}).status_code == 404
    client.post("/logout", data={"csrf_token": csrf_from(page)})
    login(other)
    assert client.get(f"/payouts/{payout.id}").status_code == 404
    page = client.get("/payouts").get_data(as_text=True)
    assert client.post(f"/payouts/{payout.id}/cancel", data={"csrf_token": csrf_from(page)}).status_code == 404
    assert "#%d" % payout.id not in page
