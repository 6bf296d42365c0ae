"""Fixtures of the investing tests: shorter terms, and a KYC gate that races can skip. Investors come from the
suite's `make_investor` (tests/conftest.py)."""
from __future__ import annotations

import pytest

from app.kyc import services as kyc
from tests import support


@pytest.fixture
def make_property(make_property):
    """The shared property factory with a shorter term: eight quarterly periods."""

    def _make(**overrides):
        overrides.setdefault("return_periods", 8)
        return make_property(**overrides)

    return _make


@pytest.fixture
def kyc_open(monkeypatch):
    """Races with many investors: the KYC gate is proven elsewhere; here every verified user passes it."""
    monkeypatch.setattr(kyc, "require_approved", lambda user, purpose: None)


@pytest.fixture
def fund_distributions(app):
    """fund_distributions(property_id, amount): the operator funds the property's distributions account (a ledger
    entry of kind "funding" from the platform's operator-funding account), committed."""
    counter = {"n": 0}

    def _fund(property_id: int, amount: int):
        counter["n"] += 1
        return support.fund_distributions(property_id, amount, key=f"test-funding:{property_id}:{counter['n']}")

    return _fund
