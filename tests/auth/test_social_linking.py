"""Connecting a Google or GitHub identity from the signed-in account's page, and disconnecting it with the
password: only its owner links, never by e-mail; an identity belongs to one account; staff cannot link."""
from sqlalchemy import select

from app.auth import social
from app.auth.models import SocialIdentity, User
from app.core.audit import AuditRecord
from app.extensions import db
from tests.auth.social_support import at_provider, link_directly, link_with, sign_in_with, switch_on
from tests.concurrency import run_threads
from tests.support import PASSWORD, csrf_from, outbox


def identities(user=None):
    db.session.expire_all()
    query = select(SocialIdentity).order_by(SocialIdentity.id)
    if user is not None:
        query = query.where(SocialIdentity.user_id == user.id)
    return db.session.scalars(query).all()


def audited(action):
    return db.session.scalars(select(AuditRecord).where(AuditRecord.action == action)
                              .order_by(AuditRecord.id)).all()


def test_link_google_from_the_account_page_then_sign_in_with_it(client, make_user, login, social_on):
    user = make_user()
    login(user)
    response = client.get("/account/connections")
    page = response.get_data(as_text=True)
    assert "Connect Google" in page and "Connect GitHub" in page
    # its forms may go to the provider, and nowhere else
    assert f"form-action 'self' {social_on.url};" in response.headers["Content-Security-Policy"]
    assert "form-action 'self';" in client.get("/account/security").headers["Content-Security-Policy"]
    social_on.approve_as("g-owner", "owner@gmail.example")
    response = link_with(client, "google")
    assert response.status_code == 302 and response.headers["Location"] == "/account/connections"
    [identity] = identities(user)
    assert (identity.provider, identity.subject, identity.email) == ("google", "g-owner", "owner@gmail.example")
    page = client.get("/account/connections").get_data(as_text=True)
    assert "Your Google account is connected" in page and "owner@gmail.example" in page and "Disconnect Google" in page
    [record] = audited("auth.social_linked")
    assert record.after["provider"] == "google"
    assert any("Google account was connected" in mail.body for mail in outbox(user.email, "security_notice"))

    client.post("/logout", data={"csrf_token": csrf_from(client.get("/logout").get_data(as_text=True))})
    assert client.get("/").status_code == 302
    assert sign_in_with(client, "google").headers["Location"] == "/"
    assert client.get("/").status_code == 200


def test_link_github(client, make_user, login, social_on):
    user = make_user()
    login(user)
    social_on.approve_as("9001", "dev@example.org", login="dev")
    link_with(client, "github")
    [identity] = identities(user)
    assert (identity.provider, identity.subject) == ("github", "9001")


def test_the_connections_page_needs_a_signed_in_account(client, social_on):
    assert client.get("/account/connections").status_code == 302
    assert client.post("/account/connections/google/link").status_code in (302, 400)
    assert client.get("/account/connections/google/callback?code=a&state=b").status_code == 302
    assert identities() == []


def test_linking_needs_the_form_token(client, make_user, login, social_on):
    login(make_user())
    assert client.post("/account/connections/google/link").status_code == 400


def test_an_identity_linked_to_another_account_is_refused(client, make_user, login, social_on):
    first, second = make_user(), make_user()
    link_directly(first, "google", "g-taken")
    login(second)
    social_on.approve_as("g-taken")
    response = link_with(client, "google")
    assert response.status_code == 302
    assert "already connected to another account" in client.get("/account/connections").get_data(as_text=True)
    assert identities(second) == [] and [i.user_id for i in identities()] == [first.id]
    assert len(audited("auth.social_link_refused")) == 1


def test_one_identity_per_provider(client, make_user, login, social_on):
    user = make_user()
    link_directly(user, "google", "g-first")
    login(user)
    # the page offers no second link, and a hand-made request is refused
    page = client.get("/account/connections")
    social_on.approve_as("g-second")
    started = client.post("/account/connections/google/link",
                          data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    client.get(at_provider(started))
    assert [i.subject for i in identities(user)] == ["g-first"]
    assert "disconnect it first" in client.get("/account/connections").get_data(as_text=True)


def test_staff_cannot_link(client, make_user, login, social_on):
    staff = make_user(role="support")
    login(staff)
    page = client.get("/account/connections")
    assert "cannot be connected" in page.get_data(as_text=True) and "Connect Google" not in page.get_data(as_text=True)
    response = client.post("/account/connections/google/link",
                           data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 403
    assert "/token" not in social_on.paths() and "/o/oauth2/auth" not in social_on.paths()
    assert identities() == []


def test_a_replayed_link_answer_is_refused(client, make_user, login, social_on):
    user = make_user()
    login(user)
    social_on.approve_as("g-once")
    page = client.get("/account/connections")
    started = client.post("/account/connections/google/link",
                          data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    callback = at_provider(started)
    assert client.get(callback).status_code == 302 and len(identities(user)) == 1
    again = client.get(callback)
    assert again.status_code == 302
    assert "not genuine" in client.get("/account/connections").get_data(as_text=True)
    assert len(identities(user)) == 1


def test_unlink_needs_the_password(client, make_user, login, social_on):
    user = make_user()
    link_directly(user, "google", "g-unlink", "me@gmail.example")
    login(user)
    page = client.get("/account/connections")
    token = csrf_from(page.get_data(as_text=True))
    wrong = client.post("/account/connections/google/unlink", data={"csrf_token": token, "password": "not-it-at-all"})
    assert wrong.status_code == 422 and "not your current password" in wrong.get_data(as_text=True)
    assert len(identities(user)) == 1
    assert len(audited("auth.social_unlink_refused")) == 1
    empty = client.post("/account/connections/google/unlink", data={"csrf_token": token, "password": ""})
    assert empty.status_code == 422 and len(identities(user)) == 1
    right = client.post("/account/connections/google/unlink", data={"csrf_token": token, "password": PASSWORD})
    assert right.status_code == 302 and identities(user) == []
    [record] = audited("auth.social_unlinked")
    assert record.before["subject"] == "g-unlink"
    assert any("Google account was disconnected" in mail.body for mail in outbox(user.email, "security_notice"))
    # the identity no longer signs in
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/logout").get_data(as_text=True))})
    social_on.approve_as("g-unlink")
    sign_in_with(client, "google")
    assert client.get("/").status_code == 302


def test_unlinking_what_is_not_linked_is_a_404(client, make_user, login, social_on):
    other = make_user()
    link_directly(other, "github", "77")
    login(make_user())
    token = csrf_from(client.get("/account/connections").get_data(as_text=True))
    response = client.post("/account/connections/github/unlink", data={"csrf_token": token, "password": PASSWORD})
    assert response.status_code == 404
    assert len(identities(other)) == 1


def test_connection_pages_of_a_provider_that_is_off_are_404(client, app, monkeypatch, make_user, login, idp):
    switch_on(app, monkeypatch, idp, providers=("google",))
    login(make_user())
    token = csrf_from(client.get("/account/connections").get_data(as_text=True))
    assert client.post("/account/connections/github/link", data={"csrf_token": token}).status_code == 404
    assert client.get("/account/connections/github/callback?code=a&state=b").status_code == 404
    page = client.get("/account/connections").get_data(as_text=True)
    assert "Connect Google" in page and "Connect GitHub" not in page


def test_the_pages_speak_spanish(client, make_user, login, social_on):
    user = make_user()
    link_directly(user, "github", "4242", "yo@example.org")
    login(user)
    spanish = {"Accept-Language": "es"}
    page = client.get("/account/connections", headers=spanish).get_data(as_text=True)
    assert "Cuentas conectadas" in page and "Conectar Google" in page and "Desconectar GitHub" in page
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/logout").get_data(as_text=True))})
    assert "Iniciar sesión con Google" in client.get("/login", headers=spanish).get_data(as_text=True)
    social_on.approve_as("g-nobody")
    client.get(at_provider(client.get("/login/google", headers=spanish)), headers=spanish)
    assert "Ninguna cuenta está vinculada a esta cuenta de Google" in client.get(
        "/login", headers=spanish).get_data(as_text=True)


def test_two_accounts_linking_one_identity_at_once_end_with_one_link(app, postgres, make_user):
    ids = [make_user().id, make_user().id]
    seen = social.ProviderIdentity("google", "g-contested", "x@gmail.example")

    def link(index):
        return social.link(db.session.get(User, ids[index]), seen)

    results = run_threads(app, 2, link)
    refused = [r for r in results if isinstance(r, social.SocialRefusal)]
    assert len(refused) == 1 and refused[0].code == "linked_elsewhere", results
    [identity] = identities()
    assert identity.user_id in ids
