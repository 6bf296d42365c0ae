"""Demo data, made through the same services as real use. Idempotent: a second run changes nothing."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from app.auth import mfa, totp
from app.auth import services as auth
from app.auth.models import User
from app.core.db import unit_of_work
from app.core.money import Money
from app.extensions import db
from app.investing import returns
from app.investing.demo import fund_distributions, seed_properties
from app.kyc.demo import approve_identity, ensure_forms
from app.ledger.services import platform_currency
from app.market.demo import seed_market
from app.payments import services as payments
from app.payments.models import Deposit
from app.payouts import services as payouts
from app.payouts.models import PayoutMethod
from app.support.demo import seed_tickets

INVESTOR_EMAIL = "investor@example.com"
INVESTOR_PASSWORD = "Demo-investor-2026"  # noqa: S105 - the demo logins CONTRACT.md publishes
STAFF_PASSWORD = "Demo-staff-2026"  # noqa: S105 - the demo logins CONTRACT.md publishes
STAFF = (
    ("admin@example.com", "admin", "Ada", "Admin"),
    ("admin2@example.com", "admin", "Alan", "Admin"),  # the second admin that staff-account changes need
    ("compliance@example.com", "compliance", "Carl", "Compliance"),
    ("finance@example.com", "finance", "Fiona", "Finance"),
    ("finance2@example.com", "finance", "Frank", "Finance"),
    ("properties@example.com", "property_manager", "Paula", "Properties"),
    ("support@example.com", "support", "Sam", "Support"),
)
DEMO_DEPOSIT_REFERENCE = "demo-seed-investor-funding"
# Co-investors: verified, KYC approved, funded as they invest; they fund the demo properties beside the investor.
COINVESTORS = (
    ("coinvestor1@example.com", "Cora", "Coinvestor"),
    ("coinvestor2@example.com", "Colin", "Coinvestor"),
    ("coinvestor3@example.com", "Chloe", "Coinvestor"),
)


@dataclass
class Login:
    email: str
    password: str
    role: str
    totp_secret: str | None


def seed_demo() -> list[Login]:
    """Load the demo people (one unit of work), then the demo properties (they commit as they go: their photos are
    processed from committed rows), then fund each property's distributions (four eyes, as in real use), pay
    the returns their history has made due, and open the market on Northgate Logistics Park."""
    with unit_of_work():
        logins, investors = _people()
    manager = auth.user_by_email("properties@example.com")
    seed_properties(manager, auth.user_by_email("finance@example.com"), investors)
    with unit_of_work():  # the operators fund their distributions: finance proposes, a second finance approves
        fund_distributions(auth.user_by_email("finance@example.com"), auth.user_by_email("finance2@example.com"))
    _pay_due_returns()
    # the market on a funded offering: a trade on the tape, the investor's listing and an offer on it
    seed_market(auth.user_by_email(INVESTOR_EMAIL),
                {number: auth.user_by_email(email) for number, (email, _, _) in enumerate(COINVESTORS, start=1)})
    with unit_of_work():  # support tickets: one answered, one waiting for support
        seed_tickets(auth.user_by_email(INVESTOR_EMAIL), auth.user_by_email("support@example.com"))
    return logins


def _people() -> tuple[list[Login], dict]:
    ensure_forms()
    logins = [_investor()]
    for email, role, first, last in STAFF:
        logins.append(_staff(email, role, first, last))
    reviewer = auth.user_by_email("compliance@example.com")
    investor = auth.user_by_email(INVESTOR_EMAIL)
    approve_identity(investor, reviewer)
    _payout_method(investor)
    investors: dict[str | int, User | None] = {"investor": investor}
    for number, (email, first, last) in enumerate(COINVESTORS, start=1):
        investors[number] = _coinvestor(email, first, last)
        approve_identity(investors[number], reviewer)
    return logins, investors


def _coinvestor(email: str, first: str, last: str):
    user = auth.user_by_email(email)
    if user is None:
        user = auth.create_user(email, INVESTOR_PASSWORD, first_name=first, last_name=last, roles=("investor",),
                                verified=True, terms_accepted=True)
    return user


def _pay_due_returns() -> None:
    """Run the distribution engine for the returns the demo's history has made due (the distributions accounts were
    funded just before, through the four-eyes funding); nothing is paid twice on a second run. The engine commits
    per batch and runs outside any caller's transaction: it follows the demo data's unit."""
    if len(returns.due_ids(returns.today())):
        returns.distribute(trigger="cli")


def _investor() -> Login:
    user = auth.user_by_email(INVESTOR_EMAIL)
    if user is None:
        user = auth.create_user(INVESTOR_EMAIL, INVESTOR_PASSWORD, first_name="Iris", last_name="Investor",
                                roles=("investor",), verified=True, terms_accepted=True)
    deposit = db.session.scalar(select(Deposit).where(Deposit.gateway == "bank_transfer",
                                                      Deposit.gateway_reference == DEMO_DEPOSIT_REFERENCE))
    if deposit is None:
        deposit = payments.create_deposit(user.id, Money.parse("50000.00", platform_currency()), "bank_transfer",
                                          reference=DEMO_DEPOSIT_REFERENCE)
    payments.complete_deposit(deposit)
    return Login(INVESTOR_EMAIL, INVESTOR_PASSWORD, "investor", None)


def _payout_method(user) -> None:
    """The demo bank account, usable at once (demo data skips the cooling-off period), once."""
    if db.session.scalar(select(PayoutMethod.id).where(PayoutMethod.user_id == user.id)) is None:
        payouts.add_bank_method(user.id, holder_name="Iris Investor", bank_name="First Demo Bank",
                                account_number="000123456789", routing_number="021000021", country="US",
                                cooling_off=False)


def _staff(email: str, role: str, first: str, last: str) -> Login:
    user = auth.user_by_email(email)
    if user is None:
        user = auth.create_user(email, STAFF_PASSWORD, first_name=first, last_name=last, roles=(role,),
                                verified=True)
    if not user.totp_enabled:
        mfa.provision(user, totp.new_secret())
    return Login(email, STAFF_PASSWORD, role, user.totp_secret)
