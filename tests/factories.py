"""Test data, made the way the platform makes it: users through the account service, properties published
through the property service, money through completed deposits (so the ledger posts it), KYC approved through
the KYC services.

Each factory flushes (`sqlalchemy_session_persistence="flush"`) and never commits: the fixtures in
tests/conftest.py call them inside `unit_of_work()`, so a test sees committed rows, as a request would.

    UserFactory(role="finance")                          staff get 2FA unless two_factor=False
    InvestorFactory(kyc_approved_by=reviewer, balance="1000.00")
    PropertyFactory(actor=manager, return_periods=8)     active; publish=False leaves a draft
    DepositFactory(user=user, amount="50.00")            completed; complete=False leaves it pending
    PayoutMethodFactory(user=user)                       a US bank account past its cooling-off period
"""
from __future__ import annotations

import hashlib
from contextlib import contextmanager
from datetime import timedelta

import factory
from factory.alchemy import SQLAlchemyModelFactory

from app.auth import mfa, totp
from app.auth import services as auth
from app.auth.models import User
from app.core.db import utcnow
from app.core.money import Money
from app.extensions import db
from app.kyc import submission as kyc_submission
from app.kyc.demo import approve_identity
from app.ledger.services import platform_currency
from app.payments import services as payments
from app.payments.models import Deposit
from app.payouts import services as payouts
from app.payouts.models import PayoutMethod
from app.properties import services as properties
from app.properties.models import Property, PropertyPhoto
from tests.support import PASSWORD


class ServiceFactory(SQLAlchemyModelFactory):
    """A factory whose `make` goes through the domain's services instead of constructing the model."""

    class Meta:
        abstract = True
        sqlalchemy_session = db.session
        sqlalchemy_session_persistence = "flush"

    @classmethod
    def make(cls, **fields):
        raise NotImplementedError

    @classmethod
    def _create(cls, model_class, *args, **fields):
        made = cls.make(**fields)
        if cls._meta.sqlalchemy_session_persistence == "flush":
            cls._meta.sqlalchemy_session.flush()
        return made

    @classmethod
    def _build(cls, model_class, *args, **fields):
        raise TypeError(f"{cls.__name__} makes its objects through the services: use create()")


class UserFactory(ServiceFactory):
    """A user with the test password, e-mail verified; staff (any role but investor) with 2FA on."""

    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user-{n}@example.com")
    password = PASSWORD
    first_name = "Test"
    last_name = "User"
    role = "investor"
    verified = True
    two_factor = factory.LazyAttribute(lambda user: user.role != "investor")

    @classmethod
    def make(cls, *, email, password, first_name, last_name, role, verified, two_factor) -> User:
        user = auth.create_user(email, password, first_name=first_name, last_name=last_name, roles=(role,),
                                verified=verified)
        if two_factor:
            mfa.provision(user, totp.new_secret())
        return user


class DepositFactory(ServiceFactory):
    """A bank-transfer deposit, completed: the money is in the user's wallet through a ledger entry."""

    class Meta:
        model = Deposit

    user = factory.SubFactory(UserFactory)
    amount = "100.00"
    gateway = "bank_transfer"
    complete = True

    @classmethod
    def make(cls, *, user, amount, gateway, complete) -> Deposit:
        deposit = payments.create_deposit(user.id, Money.parse(amount, platform_currency()), gateway)
        if complete:
            payments.complete_deposit(deposit)
        return deposit


class InvestorFactory(UserFactory):
    """An investor; `kyc_approved_by=<compliance user>` has their identity approved through the KYC services,
    `balance="1000.00"` funds the wallet by a completed deposit (in that order)."""

    @factory.post_generation
    def kyc_approved_by(user, create, reviewer, **kwargs):
        if create and reviewer is not None:
            with documents_checked_once():
                approve_identity(user, reviewer)

    @factory.post_generation
    def balance(user, create, amount, **kwargs):
        if create and amount:
            DepositFactory(user=user, amount=amount)


_CHECKED: dict[tuple[str, tuple, tuple], object] = {}


@contextmanager
def documents_checked_once():
    """While an investor's identity is approved for a test's set-up, the same demo documents (the same bytes every
    time) go through the upload check in its child process once per process, not three times per investor: about
    0.1 s per document on a quiet machine, and most tests make an investor. The first investor of each worker runs
    the real check; tests that submit documents themselves (tests/core/test_uploads.py, tests/kyc, the portal and
    API forms) go through the check every time."""
    real = kyc_submission.clean_upload

    def checked_once(data, *args, **kwargs):
        key = (hashlib.sha256(bytes(data)).hexdigest(), args, tuple(sorted(kwargs.items())))
        if key not in _CHECKED:
            _CHECKED[key] = real(data, *args, **kwargs)
        return _CHECKED[key]

    kyc_submission.clean_upload = checked_once
    try:
        yield
    finally:
        kyc_submission.clean_upload = real


class PropertyFactory(ServiceFactory):
    """A property with coherent terms and a ready cover photo, submitted by `actor` (a property manager) and
    approved by `approver` (a finance user made on demand when not given) unless publish=False; any column can be
    overridden."""

    class Meta:
        model = Property

    slug = factory.Sequence(lambda n: f"prop-{n}")
    title = factory.Sequence(lambda n: f"Property {n}")
    property_type = "residential"
    city = "Lisbon"
    country = "PT"
    street = "1 Rua"
    description = "A fine building."
    currency = "USD"
    target_amount = 10_000_000
    raised_amount = 0
    min_investment = 10_000
    max_investment = 1_000_000
    return_rate_bps = 800
    return_frequency = "quarterly"
    return_periods = 20
    capital_back = True
    funding_starts_at = factory.LazyFunction(lambda: utcnow() - timedelta(days=1))
    funding_ends_at = factory.LazyFunction(lambda: utcnow() + timedelta(days=30))
    status = "draft"
    publish = True
    actor = None
    approver = None

    @classmethod
    def make(cls, *, publish, actor, approver, **columns) -> Property:
        p = Property(**columns)
        db.session.add(p)
        db.session.flush()
        properties.check_terms_change(p, {})
        db.session.add(PropertyPhoto(property_id=p.id, position=1, is_cover=True, original_key="x/o.jpg",
                                     thumbnail_key="x/t.jpg", medium_key="x/m.jpg", large_key="x/l.jpg",
                                     status="ready"))
        db.session.flush()
        db.session.refresh(p)
        if publish:
            publish_property(p, manager=actor, approver=approver)
        return p


def publish_property(p: Property, *, manager=None, approver=None) -> Property:
    """Publish through the real path: the manager submits, a finance user (made on demand) approves."""
    request = properties.submit(p, actor=manager or UserFactory(role="property_manager"))
    properties.approve(request, actor=approver or UserFactory(role="finance"))
    return p


class PayoutMethodFactory(ServiceFactory):
    """A bank account added through the payout service (announced by e-mail), then aged past its cooling-off
    period so that it can be paid to at once; pass iban=..., routing_number=None, country=... for others."""

    class Meta:
        model = PayoutMethod

    user = factory.SubFactory(UserFactory)
    holder_name = "Test User"
    bank_name = "First Test Bank"
    account_number = "000123456789"
    routing_number = "021000021"
    country = "US"

    @classmethod
    def make(cls, *, user, **account) -> PayoutMethod:
        method = payouts.add_bank_method(user.id, **account)
        method.usable_from = utcnow() - timedelta(minutes=1)
        method.created_at = method.updated_at = utcnow() - timedelta(days=30)
        return method
