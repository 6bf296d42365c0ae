from datetime import timedelta

import pytest

from app.core.db import utcnow
from app.extensions import db
from app.properties import services as properties
from app.properties.models import Property, PropertyPhoto


@pytest.fixture
def manager(make_user):
    return make_user(role="property_manager")


@pytest.fixture
def make_property(app, manager):
    """An active property (published through the service) with the given terms."""
    counter = {"n": 0}

    def _make(*, publish=True, **overrides):
        counter["n"] += 1
        n = counter["n"]
        values = dict(slug=f"inv-prop-{n}", title=f"Investing Property {n}", property_type="residential",
                      city="Lisbon", country="PT", street="1 Rua", description="A fine building.", currency="USD",
                      target_amount=10_000_000, raised_amount=0, min_investment=10_000, max_investment=1_000_000,
                      return_rate_bps=800, return_frequency="quarterly", return_periods=8, capital_back=True,
                      funding_starts_at=utcnow() - timedelta(days=1), funding_ends_at=utcnow() + timedelta(days=30),
                      status="draft")
        values.update(overrides)
        p = Property(**values)
        db.session.add(p)
        db.session.flush()
        properties.check_terms_change(p, {})
        db.session.add(PropertyPhoto(property_id=p.id, position=1, is_cover=True, original_key="x/o.jpg",
                                     thumbnail_key="x/t.jpg", medium_key="x/m.jpg", large_key="x/l.jpg",
                                     status="ready"))
        db.session.flush()
        db.session.refresh(p)
        if publish:
            properties.publish(p, actor=manager)
        db.session.commit()
        return p

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
