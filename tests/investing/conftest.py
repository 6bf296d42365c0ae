"""Fixtures of the investing tests: shorter terms, and a KYC gate that races can skip. Investors come from the
suite's `make_investor` (tests/conftest.py)."""
from __future__ import annotations

import pytest

from app.kyc import services as kyc


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
