"""Investor portal: sign-in, sign-out, the dashboard's wallet from the ledger."""
from app.core.money import Money
from tests.support import PASSWORD, csrf_from


def usd(amount: str) -> str:
    """An amount as the portal shows it in English ("$1,250.00")."""
    return Money.parse(amount.replace(",", ""), "USD", allow_zero=True).local("en")


def test_every_portal_page_needs_login(client):
    for url in ("/", "/wallet"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


def test_login_shows_wallet_from_the_ledger(client, make_user, fund, login):
    user = make_user(first_name="Iris")
    fund(user, "50000.00")
    response = login(user)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    html = client.get("/").get_data(as_text=True)
    assert "Welcome, Iris" in html
    assert usd('50,000.00') in html
    assert "Deposit to your wallet" in html  # the ledger line behind the balance, in the investor's words
    assert "/static/bootstrap" in html or "bootstrap" in html
    assert "cdn.jsdelivr" not in html


def test_login_email_is_case_insensitive(client, make_user, login):
    user = make_user()
    assert login(user.email.upper()).status_code == 302


def test_wrong_password_or_unknown_user_is_refused(client, make_user, login):
    user = make_user()
    response = login(user, "not-the-password")
    assert response.status_code == 401
    assert "not correct" in response.get_data(as_text=True)
    assert login("ghost@example.com").status_code == 401
    assert client.get("/").status_code == 302


def test_blocked_user_cannot_sign_in(client, make_user, login):
    from app.extensions import db

    user = make_user()
    user.status = "blocked"
    db.session.commit()
    assert login(user).status_code == 401


def test_blocking_ends_an_open_session(client, make_user, login):
    from app.extensions import db

    user = make_user()
    login(user)
    assert client.get("/").status_code == 200
    user.status = "blocked"
    db.session.commit()
    assert client.get("/").status_code == 302


def test_login_form_without_csrf_token_is_400(client, make_user):
    user = make_user()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400


def test_logout_needs_post_with_csrf(client, make_user, login):
    login(make_user())
    page = client.get("/logout")
    assert page.status_code == 200 and client.get("/").status_code == 200  # GET only asks
    assert client.post("/logout").status_code == 400
    response = client.post("/logout", data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_next_parameter_cannot_redirect_off_site(client, make_user):
    user = make_user()
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"):
        page = client.get("/login")
        response = client.post(f"/login?next={evil}", data={
            "email": user.email, "password": PASSWORD, "csrf_token": csrf_from(page.get_data(as_text=True))})
        assert response.headers["Location"] == "/", evil
        client.post("/logout", data={"csrf_token": csrf_from(client.get("/logout").get_data(as_text=True))})


def test_staff_land_in_the_console(client, make_user, login):
    response = login(make_user(role="compliance"))
    assert response.headers["Location"] == "/admin/"


def test_wallet_page_paginates(client, make_user, fund, login):
    user = make_user()
    for i in range(30):
        fund(user, f"{i + 1}.00")
    login(user)
    html = client.get("/wallet").get_data(as_text=True)
    assert "Page 1 of 2" in html
    assert usd('465.00') in html  # 1 + 2 + ... + 30
    assert client.get("/wallet?page=2").status_code == 200
    assert client.get("/wallet?page=-3").status_code == 200


def test_dashboard_queries_do_not_grow_with_history(client, make_user, fund, login, count_queries):
    user = make_user()
    fund(user, "1.00")
    login(user)
    with count_queries() as few:
        client.get("/")
    for _ in range(10):
        fund(user, "1.00")
    with count_queries() as many:
        client.get("/")
    assert 0 < len(many) == len(few)


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)
