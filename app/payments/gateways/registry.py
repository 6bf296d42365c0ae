"""The payment gateways by name. Gateway modules are imported when a gateway is first asked for, so importing
the registry pulls in no payment provider's code."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module

from app.payments.gateways.base import Gateway

_PATHS: dict[str, tuple[str, str]] = {
    "stripe": ("app.payments.gateways.stripe", "StripeGateway"),
    "bank_transfer": ("app.payments.gateways.bank_transfer", "BankTransferGateway"),
    "razorpay": ("app.payments.gateways.razorpay", "RazorpayGateway"),
    "paypal": ("app.payments.gateways.paypal", "PayPalGateway"),
}


class _LazyGateways(Mapping):
    """name -> Gateway class, importing the class's module on access."""

    def __getitem__(self, name: str) -> type[Gateway]:
        module, attribute = _PATHS[name]
        return getattr(import_module(module), attribute)

    def __contains__(self, name: object) -> bool:
        return name in _PATHS

    def __iter__(self) -> Iterator[str]:
        return iter(_PATHS)

    def __len__(self) -> int:
        return len(_PATHS)

    def __repr__(self) -> str:
        return f"GATEWAYS({', '.join(_PATHS)})"


GATEWAYS: Mapping[str, type[Gateway]] = _LazyGateways()


def gateway_names() -> tuple[str, ...]:
    return tuple(_PATHS)


def get_gateway(name: str) -> Gateway:
    """A new instance of the gateway called `name` (gateways keep no state: they read the app config)."""
    if not isinstance(name, str) or name not in _PATHS:
        raise ValueError(f"unknown payment gateway {name!r}: expected one of {', '.join(_PATHS)}")
    return GATEWAYS[name]()
