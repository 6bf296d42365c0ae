"""Beginning a deposit, as the portal and the API both do: the pending deposit is flushed, the gateway is asked
for its checkout (keyed on the deposit), and the deposit with its checkout commits in the caller's one unit of work.
The checkout's address reaches the investor only in the answer, after the commit, so the gateway can take a payment
only for a deposit that exists; a checkout opened by a transaction that then failed is never shown to anyone and
expires unpaid (decision 0011)."""
from __future__ import annotations

from collections.abc import Callable

from app.core.money import Money
from app.core.urls import external_url
from app.payments.deposits import open_payment, start_deposit
from app.payments.models import Deposit


def return_url(deposit: Deposit) -> str:
    """Where the gateway sends the investor back after paying (the portal asks the gateway what happened); under
    BASE_URL, never the Host the request came with."""
    return (external_url("portal.deposit_return", deposit_id=deposit.id)
            + "?session_id={CHECKOUT_SESSION_ID}")


def status_url(deposit: Deposit) -> str:
    """Where the gateway sends the investor who gives up paying: the deposit's status page."""
    return external_url("portal.deposit_status", deposit_id=deposit.id)


def begin_deposit(user, amount: Money, gateway: str, *,
                  success_url: Callable[[Deposit], str] = return_url,
                  cancel_url: Callable[[Deposit], str] = status_url) -> Deposit:
    """Start a deposit within the gateway's limits and open its payment at the gateway, in the caller's unit of
    work: the pending deposit is flushed, the gateway is asked for its checkout, and both commit together (a
    refusal or a crash before the commit leaves no deposit; see decision 0011 for why this order is safe)."""
    deposit = start_deposit(user, amount, gateway)
    return open_payment(deposit, success_url=success_url(deposit), cancel_url=cancel_url(deposit))
