"""The language selector stores the investor's choice; the profile page and its messages read in it."""
from __future__ import annotations

from app.auth.models import User
from app.extensions import db
from tests.support import csrf_from


def test_language_selector_stores_the_choice_and_the_page_follows(client, login, investor):
    login(investor)
    page = client.get("/account/profile").get_data(as_text=True)
    assert "Save my language" in page
    response = client.post("/account/profile/language", data={"locale": "es", "csrf_token": csrf_from(page)})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, investor.id).locale == "es"
    spanish = client.get("/account/profile").get_data(as_text=True)
    assert "Guardar mi idioma" in spanish and "Su nombre" in spanish and "Perfil" in spanish
    assert "Save my language" not in spanish

    refused = client.post("/account/profile/language", data={"locale": "xx", "csrf_token": csrf_from(spanish)})
    assert refused.status_code == 422
    db.session.expire_all()
    assert db.session.get(User, investor.id).locale == "es"
    back = client.post("/account/profile/language", data={"locale": "", "csrf_token": csrf_from(spanish)})
    assert back.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, investor.id).locale is None


def test_profile_page_in_spanish_from_the_browser(client, login, investor):
    login(investor)
    page = client.get("/account/profile", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert "Correo electrónico" in page and "Enviarme un código" in page


def test_the_profile_page_needs_a_sign_in(client):
    response = client.get("/account/profile")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.post("/account/profile/name", data={"first_name": "A", "last_name": "B"}).status_code in (302, 400)


def test_forms_without_csrf_are_refused(client, login, investor):
    login(investor)
    response = client.post("/account/profile/name", data={"first_name": "Zed", "last_name": "Zulu"})
    assert response.status_code in (400, 422)
    db.session.expire_all()
    assert db.session.get(User, investor.id).first_name == "Test"
