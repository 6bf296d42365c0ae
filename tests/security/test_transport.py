"""Mail leaves over a verified channel: STARTTLS and implicit TLS check the server's certificate against the
trusted authorities, so a server that cannot prove its name (a self-signed certificate, someone in the middle)
gets nothing; every mail carries Date and Message-ID.

Attacks: a man in the middle answers with a certificate of its own making; the mail must not be handed over."""
from __future__ import annotations

import datetime
import ipaddress
import ssl
from email.utils import parsedate_to_datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from app.extensions import db
from app.notifications import services as notifications
from app.notifications import tasks
from app.notifications.models import Delivery
from tests.notifications.smtp_server import SmtpServer
from tests.support import outbox


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, key, issuer: str, issuer_key, *, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A private CA with a server certificate for 127.0.0.1, and a self-signed one for the same address."""
    folder = tmp_path_factory.mktemp("pki")
    ca_key, server_key, rogue_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _certificate("Freehold test CA", ca_key, "Freehold test CA", ca_key, ca=True)
    server = _certificate("127.0.0.1", server_key, "Freehold test CA", ca_key, ca=False)
    rogue = _certificate("127.0.0.1", rogue_key, "127.0.0.1", rogue_key, ca=False)
    key_pem = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    (folder / "ca.pem").write_bytes(_pem(ca))
    (folder / "server.pem").write_bytes(_pem(server))
    (folder / "server.key").write_bytes(server_key.private_bytes(*key_pem))
    (folder / "rogue.pem").write_bytes(_pem(rogue))
    (folder / "rogue.key").write_bytes(rogue_key.private_bytes(*key_pem))
    return folder


def server_context(pki, name: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / f"{name}.pem", pki / f"{name}.key")
    return context


@pytest.fixture
def mail_to(app, monkeypatch):
    """Point the app's mail at `server` with the given TLS mode and authority file."""

    def _point(server: SmtpServer, *, starttls: bool = False, implicit: bool = False, ca_file=None):
        for key, value in {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": server.port, "MAIL_USE_TLS": starttls,
                           "MAIL_USE_SSL": implicit, "MAIL_CA_FILE": str(ca_file) if ca_file else None}.items():
            monkeypatch.setitem(app.config, key, value)

    monkeypatch.setattr(tasks, "backoff_seconds", lambda attempt: 0)
    return _point


def send_welcome(user) -> Delivery:
    notifications.notify(user, "welcome", link="http://localhost/")
    db.session.commit()
    db.session.expire_all()
    return db.session.scalars(select(Delivery).where(Delivery.channel == "email")).one()


def test_starttls_to_a_server_with_a_self_signed_certificate_sends_nothing(pki, mail_to, make_user):
    with SmtpServer(tls=server_context(pki, "rogue")) as rogue:
        mail_to(rogue, starttls=True)  # the system's authorities only: the rogue is not among them
        delivery = send_welcome(make_user())
        assert rogue.messages == []
    assert delivery.status == "failed" and "certificate" in delivery.last_error
    assert delivery.attempts == tasks.MAX_ATTEMPTS  # a certificate problem may be fixed: retried, then given up


def test_starttls_with_a_trusted_authority_delivers(pki, mail_to, make_user):
    with SmtpServer(tls=server_context(pki, "server")) as server:
        mail_to(server, starttls=True, ca_file=pki / "ca.pem")
        delivery = send_welcome(make_user("tls@example.com"))
        assert [m["to"] for m in server.messages] == [["tls@example.com"]]
    assert delivery.status == "sent"


def test_a_server_that_requires_starttls_gets_nothing_in_clear(pki, mail_to, make_user):
    with SmtpServer(tls=server_context(pki, "server")) as server:
        mail_to(server, starttls=False)
        delivery = send_welcome(make_user())
        assert server.messages == []
    assert delivery.status == "failed"


def test_implicit_tls_with_a_trusted_authority_delivers(pki, mail_to, make_user):
    with SmtpServer(tls=server_context(pki, "server"), implicit_tls=True) as server:
        mail_to(server, implicit=True, ca_file=pki / "ca.pem")
        delivery = send_welcome(make_user("ssl@example.com"))
        assert [m["to"] for m in server.messages] == [["ssl@example.com"]]
    assert delivery.status == "sent"


def test_implicit_tls_to_a_server_with_a_self_signed_certificate_sends_nothing(pki, mail_to, make_user):
    with SmtpServer(tls=server_context(pki, "rogue"), implicit_tls=True) as rogue:
        mail_to(rogue, implicit=True, ca_file=pki / "ca.pem")  # trusts our CA, not the rogue
        delivery = send_welcome(make_user())
        assert rogue.messages == []
    assert delivery.status == "failed" and "certificate" in delivery.last_error


def test_every_mail_has_date_message_id_and_its_event(app, make_user):
    user = make_user("hdr@example.com")
    notifications.notify(user, "welcome", link="http://localhost/")
    notifications.notify(user, "kyc_received", form="Identity")
    db.session.commit()
    mails = outbox(user.email)
    assert {m.event for m in mails} == {"welcome", "kyc_received"}
    ids = set()
    for mail in mails:
        sent = parsedate_to_datetime(mail.message["Date"])
        assert abs((datetime.datetime.now(datetime.UTC) - sent).total_seconds()) < 120
        assert mail.message["Message-ID"].startswith("<") and mail.message["Message-ID"].endswith("@localhost>")
        ids.add(mail.message["Message-ID"])
    assert len(ids) == 2
    delivery = db.session.scalars(select(Delivery).where(Delivery.channel == "email")).first()
    assert delivery.provider_id in ids
