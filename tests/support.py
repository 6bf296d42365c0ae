"""Plain helpers the tests import: the test configuration and app builder, the password every test user has,
reading forms (CSRF token), codes (TOTP), mail (as a real SMTP server on loopback received it) and ports. Fixtures live in the conftest modules;
data is made by tests/factories.py."""
from __future__ import annotations

import contextvars
import io
import os
import re
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage

import pyotp
from flask.testing import FlaskClient

from app import create_app
from tests.core import files
from tests.notifications.smtp_server import SmtpServer

PASSWORD = "Correct-horse-battery-9"
TEST_FERNET_KEYS = "8fQR6ze4U6Q9aoZAiZxFUyofI5SLGCLDA6aoBDUQcb4=,lD3N1DRqUyftfHn3HscJqcDRgWGX8hJ6f8EtIMNrpXQ="
# pytest-xdist runs the suite in several processes (gw0, gw1, ...), each importing this module: everything below is
# per process, so each worker has its own database, rate limits, cache keys, uploads folder, SMTP server and ports
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
RUN_ID = uuid.uuid4().hex[:8]  # keeps this process's rate limits, cache keys and database apart from any other
UPLOADS = tempfile.mkdtemp(prefix="freehold-uploads-")  # never the real instance/ folder
_MAIL_SERVER: list[SmtpServer] = []


def mail_server() -> SmtpServer:
    """The SMTP server (aiosmtpd on 127.0.0.1) every test app sends to, started once per process; it keeps what
    it receives in memory (emptied before each test by the suite's fixture)."""
    if not _MAIL_SERVER:
        _MAIL_SERVER.append(SmtpServer().__enter__())
    return _MAIL_SERVER[0]


# the application under test ----------------------------------------------------------------------------------------
def test_config(database_url: str, **overrides) -> dict:
    config = {
        "CONFIG": "testing",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "FIELD_ENCRYPTION_KEYS": TEST_FERNET_KEYS,
        "RATELIMIT_KEY_PREFIX": f"freehold-test-{RUN_ID}",
        "CACHE_KEY_PREFIX": f"freehold-test-{RUN_ID}:",
        "UPLOAD_FOLDER": UPLOADS,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": mail_server().port,
        "MAIL_USE_TLS": False,
        "MAIL_USE_SSL": False,
    }
    if os.environ.get("REDIS_URL"):
        config["REDIS_URL"] = os.environ["REDIS_URL"]
        config["RATELIMIT_STORAGE_URI"] = os.environ["REDIS_URL"]
        # limiter.reset() (before each test) deletes every key under the storage's prefix: this process's own, not
        # those of another worker's test that is counting attempts right now
        config["RATELIMIT_STORAGE_OPTIONS"] = {"key_prefix": f"LIMITS-{RUN_ID}"}
    config.update(overrides)
    return config


test_config.__test__ = False  # not a test


class IsolatedClient(FlaskClient):
    """Each request runs in its own application context (own `g`, own database session), as in production,
    even though the test itself keeps an app context pushed for calling services."""

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


def build_app(database_url: str, **overrides):
    application = create_app(test_config(database_url, **overrides))
    application.test_client_class = IsolatedClient
    return application


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for a server the test starts). The kernel picks it at random
    from its free ports, so two xdist workers (or two runs on one machine) do not get the same one in practice."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# forms and codes ---------------------------------------------------------------------------------------------------
def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def totp_now(user, offset_steps: int = 0) -> str:
    return pyotp.TOTP(user.totp_secret).at(time.time() + 30 * offset_steps)


IDENTITY_VALUES = {"document_type": "passport", "document_number": "P9876543", "issuing_country": "GB",
                   "date_of_birth": "1980-02-29"}


def identity_parts(front=None, selfie=None, **overrides):
    """multipart data for POST /api/v1/kyc/submissions or the portal form."""
    data = dict(IDENTITY_VALUES, **overrides)
    data["front_image"] = (io.BytesIO(front if front is not None else files.jpeg_with_gps(60, 40)), "front.jpg")
    data["selfie"] = (io.BytesIO(selfie if selfie is not None else files.png(40, 40)), "selfie.png")
    return {k: v for k, v in data.items() if v is not None}


# mail --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mail:
    """One message as the SMTP server received it."""

    to_address: str
    subject: str
    body: str  # the text part
    html: str | None  # the HTML part
    event: str | None  # its X-Freehold-Event header
    message: EmailMessage


def _part(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None
    return part.get_content().replace("\r\n", "\n").removesuffix("\n")  # as rendered, without SMTP's CRLF


def received_mail() -> list[Mail]:
    """Every message the test's SMTP server received, oldest first (one per recipient)."""
    mails = []
    for item in list(mail_server().messages):
        message = item["message"]
        for to in item["to"]:
            mails.append(Mail(to_address=to, subject=str(message["Subject"] or ""),
                              body=_part(message, "plain") or "", html=_part(message, "html"),
                              event=message["X-Freehold-Event"], message=message))
    return mails


def outbox(to: str | None = None, event: str | None = None) -> list[Mail]:
    """The mail received over SMTP, oldest first, optionally for one address and one event."""
    return [m for m in received_mail() if (to is None or m.to_address == to) and (event is None or m.event == event)]


def link_in(mail, *, path_only: bool = True) -> str:
    match = re.search(r"https?://[^/\s]+(/\S+)" if path_only else r"(https?://\S+)", mail.body)
    assert match, f"no link in {mail.body!r}"
    return match.group(1)


def set_setting(key: str, value: int) -> None:
    """Test setup: write a setting that guards money directly (in production it takes a proposal and a second
    person's approval, app/settings). The value must be within the setting's bounds."""
    from sqlalchemy import select

    from app.core.db import unit_of_work
    from app.extensions import db
    from app.settings.models import MoneySetting
    from app.settings.registry import get

    spec = get(key)
    assert spec.floor <= value <= spec.ceiling, f"{key}={value} is outside {spec.floor}..{spec.ceiling}"
    with unit_of_work():
        row = db.session.scalar(select(MoneySetting).where(MoneySetting.key == key))
        if row is None:
            db.session.add(MoneySetting(key=key, value=value))
        else:
            row.value = value


def fund_distributions(property_id: int, amount: int, key: str | None = None):
    """Put `amount` minor units into the property's distributions account from operator funding and commit, as an
    approved funding does (app.investing.funding): returns and distributions are paid only from what was funded."""
    from app.extensions import db  # the app's modules are imported once a test runs, after the app is built
    from app.ledger import services as ledger
    from app.ledger.models import OPERATOR_FUNDING, RETURNS_FUNDING

    target = ledger.platform_account(RETURNS_FUNDING, ref=str(property_id))
    source = ledger.platform_account(OPERATOR_FUNDING)
    db.session.commit()  # the accounts first: PostgreSQL checks a posting's accounts once per statement
    entry = ledger.post([(source, -amount), (target, amount)],
                        key=key or f"test-funding:{property_id}:{uuid.uuid4().hex}",
                        kind="distribution_funding", memo=f"property #{property_id} distributions funded for the test")
    db.session.commit()
    return entry
