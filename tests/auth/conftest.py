"""Fixtures of the accounts tests: the fake identity provider for social sign-in."""
import pytest

from tests.auth.social_support import switch_on
from tests.fakes.identity_provider import FakeIdentityProvider


@pytest.fixture
def idp():
    """A started fake identity provider (Google-like and GitHub-like), stopped after the test."""
    server = FakeIdentityProvider().start()
    yield server
    server.stop()


@pytest.fixture
def social_on(app, monkeypatch, idp):
    """Google and GitHub switched on against the fake; returns the fake."""
    switch_on(app, monkeypatch, idp)
    return idp
