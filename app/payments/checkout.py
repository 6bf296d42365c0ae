"""Beginning a deposit, as the portal and the API both do: the pending deposit is committed first, then the gateway
is asked for its checkout and what it answers is committed in a second unit of work. The deposit row exists
before the gateway hears of it, so a payment the gateway takes always has a deposit to be credited to."""
from __future__ import annotations

from collections.abc import Callable

from app.core.db import in_unit_of_work, unit_of_work
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
    """Start a deposit within the gateway's limits and open its payment at the gateway: two units of work, so it
    runs outside any other (a DomainError from the second leaves the committed pending deposit, as it was)."""
    if in_unit_of_work():
        raise RuntimeError("begin_deposit commits twice: call it outside a unit of work")
    with unit_of_work():
        deposit = start_deposit(user, amount, gateway)
    with unit_of_work():
        open_payment(deposit, success_url=success_url(deposit), cancel_url=cancel_url(deposit))
    return deposit
