"""The investor's language: English by default, the browser's Accept-Language before a choice, the choice stored on
the account from the footer's chooser, amounts and dates per locale; the console stays English."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from flask_babel import force_locale

from app.core.db import unit_of_work
from app.core.money import Money
from app.extensions import db
from app.portal import format_skeleton, percent_local
from tests.payouts.helpers import usable_method
from tests.support import csrf_from

SPANISH = {"Accept-Language": "es-ES,es;q=0.9"}


def _choose(client, locale, *, page="/", next_url=None, headers=None):
    html = client.get(page, headers=headers or {}).get_data(as_text=True)
    data = {"locale": locale, "csrf_token": csrf_from(html)}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/account/language", data=data, headers=headers or {})


def test_pages_are_english_by_default(client, make_investor, login):
    login(make_investor())
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Recent activity" in html and Money.parse("10000.00", "USD").local("en") == "$10,000.00"
    assert "$10,000.00" in html and "USD 10,000.00" not in html
    assert client.get("/login").status_code == 302  # signed in: the sign-in page sends home


def test_the_browser_language_decides_before_a_choice(client, make_investor):
    html = client.get("/login", headers=SPANISH).get_data(as_text=True)
    assert '<html lang="es">' in html and "Iniciar sesión" in html and "Contraseña" in html
    assert "Sign in" not in html.split("<main", 1)[1]
    english = client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in english and "Investors and staff sign in here." in english


def test_an_investor_with_spanish_reads_spanish_pages_and_amounts(client, make_investor, login):
    user = make_investor()
    user.locale = "es"
    db.session.commit()
    login(user)
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="es">' in html
    assert "Actividad reciente" in html and "Recent activity" not in html
    assert Money.parse("10000.00", "USD").local("es") in html  # "10.000,00 US$"
    assert "10.000,00" in html and "$10,000.00" not in html
    wallet = client.get("/wallet").get_data(as_text=True)
    assert "Movimientos" in wallet and "Descargar extracto (CSV)" in wallet
    # the account's choice wins over the browser's
    assert "Actividad reciente" in client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_the_footer_chooser_stores_the_choice_and_comes_back(client, make_investor, login):
    user = make_investor()
    login(user)
    html = client.get("/wallet").get_data(as_text=True)
    assert 'data-testid="language-chooser"' in html and ">Español<" in html and ">English<" in html
    response = _choose(client, "es", page="/wallet", next_url="/wallet?page=1")
    assert response.status_code == 303 and response.headers["Location"] == "/wallet?page=1"
    db.session.refresh(user)
    assert user.locale == "es"
    assert "Movimientos" in client.get("/wallet").get_data(as_text=True)
    assert _choose(client, "en").status_code == 303
    db.session.refresh(user)
    assert user.locale == "en" and "Recent activity" in client.get("/").get_data(as_text=True)


def test_the_chooser_refuses_what_it_does_not_offer(client, make_investor, login):
    user = make_investor()
    login(user)
    for bad in ("fr", "", "es'><script>", "EN"):
        assert _choose(client, bad).status_code == 400, bad
    html = client.get("/").get_data(as_text=True)
    no_token = client.post("/account/language", data={"locale": "es"})
    assert no_token.status_code == 400
    db.session.refresh(user)
    assert user.locale is None and '<html lang="en">' in html


def test_the_chooser_goes_back_only_to_this_site(client, make_investor, login):
    login(make_investor())
    for hostile in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        response = _choose(client, "es", next_url=hostile)
        assert response.status_code == 303 and response.headers["Location"] == "/", hostile


def test_signed_out_visitors_cannot_store_a_choice(client):
    response = client.post("/account/language", data={"locale": "es"})
    assert response.status_code in (302, 400)
    assert "/account/language" not in client.get("/login").get_data(as_text=True)


def test_flashes_and_form_errors_follow_the_language(client, make_investor, login):
    user = make_investor()
    user.locale = "es"
    db.session.commit()
    login(user)
    html = client.get("/account/security").get_data(as_text=True)
    response = client.post("/account/password", data={"current_password": "wrong", "password": "short",
                                                      "confirm": "other", "csrf_token": csrf_from(html)})
    page = response.get_data(as_text=True)
    assert "Use al menos 12 caracteres." in page or "Las contraseñas no coinciden." in page


def test_the_console_stays_english_for_staff_with_spanish(client, make_user, login):
    staff = make_user(role="admin", two_factor=True)
    staff.locale = "es"
    db.session.commit()
    login(staff)
    response = client.get("/admin/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Freehold console" in html
    assert '<html lang="es">' not in html
    assert "Iniciar sesión" not in html and "Cerrar sesión" not in html
    missing = client.get("/admin/no-such-page").get_data(as_text=True)
    assert "Página no encontrada" not in missing
    # the portal's pages they open do follow their language
    assert '<html lang="es">' in client.get("/account/security").get_data(as_text=True)


def test_dates_follow_the_locale(app):
    moment = datetime(2026, 12, 4, 14, 5)
    with app.test_request_context():
        with force_locale("en"):
            assert format_skeleton("yMMMd", moment) == "Dec 4, 2026"
            assert format_skeleton("yMMMdHm", moment) == "Dec 4, 2026, 14:05"
        with force_locale("es"):
            assert format_skeleton("yMMMd", moment) == "4 dic 2026"
            assert format_skeleton("yMMMMd", moment) == "4 de diciembre de 2026"
            assert format_skeleton("yMMMdHm", moment).endswith("14:05")


def test_percentages_follow_the_locale(app):
    with app.test_request_context():
        with force_locale("en"):
            assert [percent_local(v) for v in (12.5, "7.25", Decimal("110.0"), 0, 1)] == [
                "12.5%", "7.25%", "110%", "0%", "1%"]
            assert percent_local("12.345", 1) == "12.3%" and percent_local(1234) == "1,234%"
            assert [percent_local(v) for v in (None, "", "abc", "NaN")] == ["—"] * 4
        with force_locale("es"):
            assert percent_local(12.5) == "12,5\xa0%" and percent_local(1234) == "1.234\xa0%"


def test_a_spanish_investor_reads_fees_and_shares_the_spanish_way(client, make_investor, login):
    investor = make_investor("100.00")
    usable_method(investor)
    with unit_of_work():
        db.session.get(type(investor), investor.id).locale = "es"
    login(investor)
    page = client.get("/payouts/new").get_data(as_text=True)
    assert "Comisión del" in page and "\xa0%" in page
    deposit = client.get("/deposits/new").get_data(as_text=True)
    assert "comisión" in deposit and "\xa0%" in deposit and " %<" not in deposit
    assert "%%" not in deposit and "%%" not in page


def test_kinds_of_property_follow_the_locale(app):
    from app.portal import _property_type_label
    with app.test_request_context():
        with force_locale("es"):
            assert [_property_type_label(k) for k in ("residential", "mixed_use", "land")] == [
                "Residencial", "Uso mixto", "Terreno"]
        with force_locale("en"):
            assert _property_type_label("mixed_use") == "Mixed use" and _property_type_label("castle") == "Castle"
