"""The gateway registry."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.payments.gateways.bank_transfer import BankTransferGateway
from app.payments.gateways.base import Gateway
from app.payments.gateways.paypal import PayPalGateway
from app.payments.gateways.razorpay import RazorpayGateway
from app.payments.gateways.registry import GATEWAYS, gateway_names, get_gateway

ROOT = Path(__file__).resolve().parents[2]


def test_names():
    assert gateway_names() == ("stripe", "bank_transfer", "razorpay", "paypal")
    assert tuple(GATEWAYS) == gateway_names()
    assert len(GATEWAYS) == 4
    assert "razorpay" in GATEWAYS and "paypal" in GATEWAYS and "square" not in GATEWAYS


@pytest.mark.parametrize("name, cls", [("bank_transfer", BankTransferGateway), ("razorpay", RazorpayGateway),
                                       ("paypal", PayPalGateway)])
def test_get_gateway(name, cls):
    gateway = get_gateway(name)
    assert type(gateway) is cls
    assert isinstance(gateway, Gateway)
    assert gateway.name == name
    assert GATEWAYS[name] is cls


def test_get_stripe():
    stripe_module = pytest.importorskip("app.payments.gateways.stripe")
    gateway = get_gateway("stripe")
    assert type(gateway) is stripe_module.StripeGateway
    assert isinstance(gateway, Gateway)
    assert gateway.name == "stripe"


@pytest.mark.parametrize("name", ["square", "", "Razorpay", "PayPal", "stripe ", None, 3])
def test_unknown_names_are_refused(name):
    with pytest.raises(ValueError) as caught:
        get_gateway(name)
    message = str(caught.value)
    assert "unknown payment gateway" in message
    assert "stripe, bank_transfer, razorpay, paypal" in message


def test_unknown_key_in_the_mapping():
    with pytest.raises(KeyError):
        GATEWAYS["square"]
    assert GATEWAYS.get("square") is None


def test_importing_the_registry_imports_no_gateway():
    code = ("import sys, app.payments.gateways.registry as r; "
            "assert not [m for m in sys.modules if m.startswith('app.payments.gateways.') "
            "and m.rsplit('.', 1)[1] in r.gateway_names()], sorted(sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
