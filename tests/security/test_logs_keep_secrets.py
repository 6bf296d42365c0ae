"""No secret reaches the logs: the flows that handle one (sign-in with a password and a 2FA code, a password reset
asked for and used, an API token issued and used, a deposit, a bank account added by its full number and by IBAN,
a KYC submission) run with every logger at DEBUG, and neither what the code logged nor what the log handler wrote
contains any of the secrets used.

Mail: the test configuration sends mail to a real SMTP server on loopback, so no mail is written to the log (only
the development configuration writes mail, links included, to the log, when it has no SMTP server: that one case
is allowed, and tests/security/test_secrets.py covers it)."""
from __future__ import annotations

import io
import logging

import pytest

from app.core.db import unit_of_work
from app.core.logs import make_handler
from app.kyc.demo import ensure_forms
from tests.payouts.helpers import BANK
from tests.support import IDENTITY_VALUES, PASSWORD, csrf_from, identity_parts, link_in, outbox, totp_now

NEW_PASSWORD = "Another-horse-battery-42"
WRONG_PASSWORD = "Wrong-horse-battery-77"
IBAN = "DE89370400440532013000"


# SQLAlchemy's echo (statements with their parameters, rows with decrypted values) stays at WARNING whatever
# LOG_LEVEL says (app/core/logs.py QUIET; test_the_set_up_never_turns_sql_echo_on)
PINNED = ("sqlalchemy",)


class Records(logging.Handler):
    """Every record as the code logged it, before any filter of the log's handler sees it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.name} {text} {record.__dict__}")


@pytest.fixture
def logs(monkeypatch):
    """Every logger at DEBUG; what the code logs (raw) and what the log set-up writes (text and JSON)."""
    root = logging.getLogger()
    raw, written = Records(), io.StringIO()
    handlers = [make_handler("text", stream=written), make_handler("json", stream=written)]
    monkeypatch.setattr(root, "handlers", [raw, *root.handlers, *handlers])
    monkeypatch.setattr(root, "level", logging.DEBUG)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and not name.startswith(PINNED):
            monkeypatch.setattr(logger, "level", logging.DEBUG)
            monkeypatch.setattr(logger, "disabled", False)
    logging.root.manager._clear_cache()
    yield raw, written
    logging.root.manager._clear_cache()


def test_no_flow_logs_a_secret(app, client, make_user, logs):
    raw, written = logs
    secrets: dict[str, str] = {"password": PASSWORD, "new password": NEW_PASSWORD, "wrong password": WRONG_PASSWORD,
                               "account number": BANK["account_number"], "IBAN": IBAN,
                               "document number": IDENTITY_VALUES["document_number"]}
    staff = make_user("root@example.com", role="admin")
    investor = make_user("ina@example.com", two_factor=True)
    secrets["staff TOTP secret"], secrets["investor TOTP secret"] = staff.totp_secret, investor.totp_secret
    with unit_of_work():
        identity, _ = ensure_forms()

    # sign-in: a wrong password, then the password and a 2FA code
    page = client.get("/login")
    client.post("/login", data={"email": staff.email, "password": WRONG_PASSWORD,
                                "csrf_token": csrf_from(page.get_data(as_text=True))})
    page = client.get("/login")
    assert client.post("/login", data={"email": staff.email, "password": PASSWORD,
                                       "csrf_token": csrf_from(page.get_data(as_text=True))}).status_code == 302
    secrets["sign-in code"] = code = totp_now(staff)
    step = client.get("/login/code")
    signed_in = client.post("/login/code", data={"code": code, "csrf_token": csrf_from(step.get_data(as_text=True))})
    assert signed_in.status_code == 302 and client.get("/admin/").status_code == 200

    # a password reset asked for and used
    anonymous = type(client)(app)
    page = anonymous.get("/password/forgot")
    anonymous.post("/password/forgot", data={"email": investor.email,
                                             "csrf_token": csrf_from(page.get_data(as_text=True))})
    link = link_in(outbox(investor.email, "reset_password")[-1])
    secrets["reset token"] = link.rstrip("/").rsplit("/", 1)[-1]
    form = anonymous.get(link)
    done = anonymous.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
                                      "csrf_token": csrf_from(form.get_data(as_text=True))})
    assert done.status_code == 302 and done.headers["Location"] == "/login"

    # an API token, by password and 2FA code
    secrets["API code"] = otp = totp_now(investor)
    issued = anonymous.post("/api/v1/auth/token", json={"email": investor.email, "password": NEW_PASSWORD,
                                                         "otp": otp})
    assert issued.status_code == 200, issued.get_json()
    secrets["API token"] = token = issued.get_json()["data"]["token"]
    headers = {"Authorization": f"Bearer {token}"}

    # a deposit, two bank accounts, a KYC submission
    deposit = anonymous.post("/api/v1/deposits", json={"amount": "250.00", "gateway": "bank_transfer"},
                             headers=headers)
    assert deposit.status_code == 201, deposit.get_json()
    assert anonymous.post("/api/v1/payout-methods", json=BANK, headers=headers).status_code == 201
    by_iban = {"holder_name": "Test User", "bank_name": "Deutsche Test", "iban": IBAN, "bic": "COBADEFFXXX",
               "country": "DE"}
    assert anonymous.post("/api/v1/payout-methods", json=by_iban, headers=headers).status_code == 201
    kyc = anonymous.post("/api/v1/kyc/submissions", data={"form_id": str(identity.id), **identity_parts()},
                         headers=headers, content_type="multipart/form-data")
    assert kyc.status_code == 201, kyc.get_json()

    code_lines, output = "\n".join(raw.lines), written.getvalue()
    assert "app.requests" in code_lines and "POST /api/v1/payout-methods 201" in output, "the capture saw the flows"
    assert any(line.startswith("{") for line in output.splitlines())
    for name, value in secrets.items():
        assert value not in code_lines, f"the code logged the {name}"
        assert value not in output, f"the log shows the {name}"
