"""Social sign-in against the fake identity provider (tests/fakes/identity_provider.py): fixtures and the browser's
round trip through it with the Flask test client."""
from __future__ import annotations

from urllib.parse import urlsplit

import requests

from tests.support import csrf_from


def switch_on(app, monkeypatch, idp, providers=("google", "github")) -> None:
    settings = {"google": {"GOOGLE_CLIENT_ID": idp.google_client_id, "GOOGLE_CLIENT_SECRET": idp.google_client_secret,
                           "GOOGLE_METADATA_URL": idp.metadata_url},
                "github": {"GITHUB_CLIENT_ID": idp.github_client_id, "GITHUB_CLIENT_SECRET": idp.github_client_secret,
                           "GITHUB_OAUTH_BASE": idp.url, "GITHUB_API_BASE": idp.url}}
    for provider in ("google", "github"):
        for key, value in settings[provider].items():
            monkeypatch.setitem(app.config, key, value if provider in providers else None)


def link_directly(user, provider: str, subject: str, email: str | None = None):
    """An identity linked earlier (set up straight in the database)."""
    from app.auth.models import SocialIdentity
    from app.core.db import unit_of_work
    from app.extensions import db

    with unit_of_work():
        identity = SocialIdentity(user_id=user.id, provider=provider, subject=subject, email=email)
        db.session.add(identity)
    return identity


def at_provider(response) -> str:
    """Follow the app's redirect to the provider, as the browser would; answer the provider's redirect back (the
    callback's path and query)."""
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    answer = requests.get(response.headers["Location"], allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    return f"{back.path}?{back.query}"


def sign_in_with(client, provider: str = "google"):
    """The whole sign-in round trip; returns the app's answer to the callback."""
    return client.get(at_provider(client.get(f"/login/{provider}")))


def link_with(client, provider: str = "google"):
    """Connect `provider` from the signed-in account's page; returns the app's answer to the callback."""
    page = client.get("/account/connections")
    started = client.post(f"/account/connections/{provider}/link",
                          data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    return client.get(at_provider(started))
