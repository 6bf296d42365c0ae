import pytest

from app.extensions import db


@pytest.fixture
def make_property(make_property):
    """The shared property factory with a shorter term: eight quarterly periods."""

    def _make(**overrides):
        overrides.setdefault("return_periods", 8)
        return make_property(**overrides)

    return _make


@pytest.fixture
def kyc_reviewer(make_user):
    return make_user(role="compliance")


@pytest.fixture
def investor(app, make_user, fund, kyc_reviewer):
    """A verified investor with approved KYC (through the KYC services) and a funded wallet."""

    def _make(balance: str = "10000.00", **kwargs):
        from app.kyc.demo import approve_identity

        user = make_user(verified=True, **kwargs)
        approve_identity(user, kyc_reviewer)
        db.session.commit()
        if balance:
            fund(user, balance)
        return user

    return _make


@pytest.fixture
def kyc_open(monkeypatch):
    """Races with many investors: the KYC gate is proven elsewhere; here every verified user passes it."""
    from app.kyc import services as kyc

    monkeypatch.setattr(kyc, "require_approved", lambda user, purpose: None)
