"""Ledger accounts: a user's wallet and held accounts, the platform's accounts (created on first use), balances.

Reading and opening accounts only; balances move through `post` and `post_many` (app.ledger.services), never here.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from flask import current_app
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from app.core.errors import NotFound
from app.core.money import Money
from app.extensions import db
from app.ledger.models import (
    ACCOUNT_KINDS,
    ADJUSTMENTS,
    FEE_REVENUE,
    GATEWAY_CLEARING,
    NO_OVERDRAFT_KINDS,
    OPERATOR_FUNDING,
    PAYOUTS_IN_TRANSIT,
    PROPERTY_ESCROW,
    RECEIVABLES,
    RETURNS_FUNDING,
    ROUNDING,
    USER_HELD,
    USER_KINDS,
    USER_WALLET,
    Account,
)

_PLATFORM_NAMES = {
    GATEWAY_CLEARING: "Gateway clearing",
    PROPERTY_ESCROW: "Property escrow",
    RETURNS_FUNDING: "Returns funding",
    FEE_REVENUE: "Fee revenue",
    PAYOUTS_IN_TRANSIT: "Payouts in transit",
    ROUNDING: "Rounding residue",
    ADJUSTMENTS: "Manual adjustments",
    RECEIVABLES: "Owed by investor",
    OPERATOR_FUNDING: "Operator funding received",
}


@dataclass(frozen=True)
class Balance:
    available: Money
    held: Money


class AccountOwner(Protocol):
    """What opening a user's accounts reads of the user (the ledger sits below app.auth)."""

    @property
    def id(self) -> int | None: ...

    @property
    def email(self) -> str: ...


def platform_currency() -> str:
    currency: str = current_app.config["FREEHOLD_CURRENCY"]
    return currency


def account_code(kind: str, *, user_id: int | None = None, ref: str | None = None) -> str:
    if kind in USER_KINDS:
        return f"user:{user_id}:{kind.removeprefix('user_')}"
    return f"{kind}:{ref}" if ref else kind


def user_account_name(kind: str, user_id: int | None) -> str:
    """The stored name of a user's account: neutral, no personal data ("wallet:user:42"); the owner is derived from
    the user when shown (Account.label)."""
    return f"{kind.removeprefix('user_')}:user:{user_id}"


def open_user_accounts(user: AccountOwner) -> tuple[Account, Account]:
    """Create the wallet and held accounts of a new user (call in the same transaction that creates the user)."""
    if user.id is None:
        db.session.flush()
    currency = platform_currency()
    accounts = []
    for kind in (USER_WALLET, USER_HELD):
        code = account_code(kind, user_id=user.id)
        account = db.session.scalar(select(Account).where(Account.code == code))
        if account is None:
            account = Account(code=code, kind=kind, name=user_account_name(kind, user.id), user_id=user.id,
                              currency=currency, balance=0, allow_negative=False)
            db.session.add(account)
        accounts.append(account)
    db.session.flush()
    return accounts[0], accounts[1]


def user_account(user_id: int, kind: str = USER_WALLET) -> Account:
    account = db.session.scalar(select(Account).where(Account.code == account_code(kind, user_id=user_id)))
    if account is None:
        raise NotFound("this user has no ledger account")
    return account


def platform_account(kind: str, ref: str | None = None) -> Account:
    """The platform account of `kind` (per gateway, per property, ...), created on first use. Platform accounts may
    go negative (clearing accounts), except the kinds of NO_OVERDRAFT_KINDS (a property's distributions account)."""
    if kind not in ACCOUNT_KINDS or kind in USER_KINDS:
        raise ValueError(f"not a platform account kind: {kind}")
    code = account_code(kind, ref=ref)
    account = db.session.scalar(select(Account).where(Account.code == code))
    if account is not None:
        return account
    name = _PLATFORM_NAMES.get(kind, kind) + (f": {ref}" if ref else "")
    try:
        with db.session.begin_nested():
            account = Account(code=code, kind=kind, name=name, ref=ref, currency=platform_currency(),
                              balance=0, allow_negative=kind not in NO_OVERDRAFT_KINDS)
            db.session.add(account)
    except IntegrityError:  # created by a concurrent transaction
        account = db.session.scalar(select(Account).where(Account.code == code))
        if account is None:  # not a concurrent creation of the same code: the error was another one
            raise
    return account


def balance_of(user_id: int) -> Balance:
    rows = db.session.execute(
        select(Account.kind, Account.balance, Account.currency).where(
            Account.user_id == user_id, Account.kind.in_(USER_KINDS))
    ).all()
    currency = platform_currency()
    values = {kind: bal for kind, bal, currency in rows}
    return Balance(Money(values.get(USER_WALLET, 0), currency), Money(values.get(USER_HELD, 0), currency))


# many at once (batch jobs) ----------------------------------------------------------------------------------------
def _postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def wallet_ids(user_ids: Iterable[int]) -> dict[int, int]:
    """The wallet account id of each user who has one, in one query: {user id: account id}."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    if _postgres():
        query = text("SELECT user_id, id FROM ledger_accounts "
                     "WHERE kind = 'user_wallet' AND user_id = ANY(CAST(string_to_array(:ids, ',') AS BIGINT[]))")
        return dict(db.session.execute(query, {"ids": ",".join(map(str, ids))}).all())
    query = text("SELECT user_id, id FROM ledger_accounts "
                 "WHERE kind = 'user_wallet' AND user_id IN (SELECT value FROM json_each(:ids))")
    return dict(db.session.execute(query, {"ids": json.dumps(ids)}).all())


def platform_account_ids(wanted: Iterable[tuple[str, str | None]]) -> dict[tuple[str, str | None], int]:
    """The ids of the platform accounts (kind, ref), those missing created (as platform_account does), in one
    query when they all exist. Created in code order: two transactions creating the same ones wait for each other
    and never deadlock."""
    codes = {(kind, ref): account_code(kind, ref=ref) for kind, ref in set(wanted)}
    if not codes:
        return {}
    found = dict(db.session.execute(select(Account.code, Account.id).where(Account.code.in_(list(codes.values()))))
                 .all())
    for (kind, ref), code in sorted(codes.items(), key=lambda item: item[1]):
        if code not in found:
            found[code] = platform_account(kind, ref).id
    return {key: found[code] for key, code in codes.items()}


def balances_of_kind(kind: str) -> dict[str, int]:
    """{account code: balance} of every account of one kind."""
    return dict(db.session.execute(select(Account.code, Account.balance).where(Account.kind == kind)).all())


@dataclass(frozen=True)
class AccountBalance:
    ref: str | None
    code: str
    currency: str
    balance: int


def below_zero(kind: str) -> list[AccountBalance]:
    """The accounts of one kind whose balance is below zero, lowest first."""
    rows = db.session.execute(select(Account.ref, Account.code, Account.currency, Account.balance)
                              .where(Account.kind == kind, Account.balance < 0)
                              .order_by(Account.balance, Account.code)).all()
    return [AccountBalance(ref, code, currency, int(balance)) for ref, code, currency, balance in rows]
