"""Fixtures shared by the deposit tests: the ledger verifies after every test, and an investor to deposit."""
import pytest

from app.extensions import db
from app.ledger.checks import verify


@pytest.fixture(autouse=True)
def ledger_always_verifies():
    yield
    db.session.rollback()
    report = verify()
    assert report.ok, report.violations


@pytest.fixture
def investor(make_user):
    return make_user()
