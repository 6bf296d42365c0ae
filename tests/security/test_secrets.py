"""No employee can read a live secret: staff who make the platform mail a verification or password reset link to
someone else find the link in no console page and no database column; only the mail at the SMTP server carries
it, and it works. A resend issues a new working link. Without SMTP only the development configuration logs mail.

Attacks: support and compliance trigger the mails (console resend, the public /password/forgot form, a resend
from the delivery log) and then read everything the console shows them and every text column of the database."""
from __future__ import annotations

import importlib.util
import logging
import re
from pathlib import Path

import pytest
from sqlalchemy import JSON, String, Text, select, text

from app.auth import services as auth
from app.core.audit import AuditRecord
from app.core.requestlog import DropRawRequestLines
from app.extensions import db
from app.notifications.models import Delivery, Notification
from app.notifications.secrets import PLACEHOLDER
from tests.support import csrf_from, link_in, outbox

NEW_PASSWORD = "Another-horse-battery-42"
CONSOLE_LISTS = ("/admin/deliveries/", "/admin/outbox/", "/admin/notifications/", "/admin/audit/", "/admin/users/",
                 "/admin/notification_templates/")


def token_of(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[-1]


def console_pages(http) -> str:
    """Every list page of the console's notifications, audit and users the signed-in staff member can open, and
    every detail page those lists link to (as text, one after the other)."""
    seen = []
    for url in CONSOLE_LISTS:
        page = http.get(url)
        if page.status_code != 200:
            continue
        html = page.get_data(as_text=True)
        seen.append(html)
        for details in sorted(set(re.findall(r'href="(/admin/[a-z_]+/details/\?id=\d+[^"]*)"', html))):
            seen.append(http.get(details.replace("&amp;", "&")).get_data(as_text=True))
    assert seen, "the staff member reached no console page"
    return "\n".join(seen)


def database_text() -> str:
    """Every text, varchar and JSON value of every table, read raw (encrypted columns as stored)."""
    db.session.commit()
    values = []
    for table in db.metadata.sorted_tables:
        columns = [c.name for c in table.columns if isinstance(c.type, (String, Text, JSON))]
        if not columns:
            continue
        quoted = ", ".join(f'"{c}"' for c in columns)
        for row in db.session.execute(text(f'SELECT {quoted} FROM "{table.name}"')):
            values.extend(str(v) for v in row if v is not None)
    return "\n".join(values)


def assert_nowhere(token: str, http) -> None:
    assert token not in database_text(), "the token is stored readable"
    assert token not in console_pages(http), "the console shows the token"


def sign_in_staff(client, make_user, login, role):
    staff = make_user(role=role)
    assert login(staff).status_code == 302
    return staff, csrf_from(client.get("/account/security").get_data(as_text=True))


def forgot(http, email: str) -> None:
    page = http.get("/password/forgot")
    http.post("/password/forgot", data={"email": email, "csrf_token": csrf_from(page.get_data(as_text=True))})


def reset_works(client, link: str) -> bool:
    form = client.get(link)
    if form.status_code != 200:
        return False
    done = client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
                                   "csrf_token": csrf_from(form.get_data(as_text=True))})
    return done.status_code == 302 and done.headers["Location"] == "/login"


def test_support_resends_a_verification_and_cannot_read_the_link(app, client, make_user, login):
    investor = make_user("vera@example.com", verified=False)
    _staff, token = sign_in_staff(client, make_user, login, "support")
    response = client.post(f"/admin/users/{investor.id}/resend-verification", data={"csrf_token": token})
    assert response.status_code == 302
    [mail] = outbox(investor.email, "verify_email")
    link = link_in(mail)
    assert link.startswith("/verify-email/") and link in mail.html
    assert_nowhere(token_of(link), client)
    [delivery] = db.session.scalars(select(Delivery).join(Notification).where(Notification.event == "verify_email"))
    assert delivery.status == "sent" and PLACEHOLDER in delivery.body and delivery.secret is None
    assert delivery.notification.link is None
    assert db.session.scalar(select(AuditRecord).where(AuditRecord.action == "users.resend_verification"))
    client.get("/logout")
    assert client.get(link).status_code == 302  # the recipient's link works
    db.session.refresh(investor)
    assert investor.email_verified


@pytest.mark.parametrize("role", ["support", "compliance"])
def test_staff_trigger_a_password_reset_and_cannot_read_the_link(app, client, make_user, login, role):
    investor = make_user("rhea@example.com")
    sign_in_staff(client, make_user, login, role)
    forgot(type(client)(app), investor.email)  # the public form, for someone else's address
    [mail] = outbox(investor.email, "reset_password")
    link = link_in(mail)
    assert link.startswith("/password/reset/")
    assert_nowhere(token_of(link), client)
    assert PLACEHOLDER in console_pages(client)  # the console shows the mail, redacted
    assert reset_works(type(client)(app), link)
    assert login(investor, NEW_PASSWORD, http=type(client)(app)).status_code == 302


def test_a_resend_from_the_delivery_log_issues_a_new_working_link(app, client, make_user, login):
    investor = make_user("otto@example.com")
    forgot(type(client)(app), investor.email)
    [first] = outbox(investor.email, "reset_password")
    sign_in_staff(client, make_user, login, "support")
    [delivery] = db.session.scalars(select(Delivery).join(Notification).where(
        Notification.event == "reset_password"))
    page = client.get(f"/admin/deliveries/details/?id={delivery.id}").get_data(as_text=True)
    assert token_of(link_in(first)) not in page and PLACEHOLDER in page
    response = client.post(f"/admin/deliveries/{delivery.id}/resend", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    first_mail, second_mail = outbox(investor.email, "reset_password")
    old, new = link_in(first_mail), link_in(second_mail)
    assert old != new, "a resend copies no link: it issues a new one"
    assert_nowhere(token_of(new), client)
    copy = db.session.scalar(select(Delivery).where(Delivery.resent_from_id == delivery.id))
    assert copy.status == "sent" and copy.secret is None and PLACEHOLDER in copy.body
    record = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "notifications.resend"))
    assert token_of(new) not in str(record.after)
    assert reset_works(type(client)(app), new)
    assert type(client)(app).get(old).status_code == 400  # spent with the password it was made for


def test_a_resend_of_a_verification_already_done_is_refused(app, client, make_user, login):
    investor = make_user("ida@example.com", verified=False)
    _, token = sign_in_staff(client, make_user, login, "support")
    client.post(f"/admin/users/{investor.id}/resend-verification", data={"csrf_token": token})
    delivery = db.session.scalar(select(Delivery).join(Notification).where(Notification.event == "verify_email"))
    type(client)(app).get(link_in(outbox(investor.email, "verify_email")[-1]))
    page = client.post(f"/admin/deliveries/{delivery.id}/resend", data={"csrf_token": token}, follow_redirects=True)
    assert "already verified" in page.get_data(as_text=True)
    assert db.session.scalar(select(Delivery).where(Delivery.resent_from_id == delivery.id)) is None


def test_without_smtp_production_never_logs_the_link(app, client, make_user, monkeypatch, caplog):
    monkeypatch.setitem(app.config, "MAIL_SERVER", None)
    monkeypatch.setitem(app.config, "CONFIG_NAME", "production")
    investor = make_user("pia@example.com")
    with caplog.at_level(logging.DEBUG):
        forgot(client, investor.email)
    assert outbox() == []
    delivery = db.session.scalar(select(Delivery).join(Notification).where(Notification.event == "reset_password"))
    assert delivery.status == "logged" and delivery.secret is None
    assert "/password/reset/" not in caplog.text and "not sent: no SMTP server" in caplog.text


def test_without_smtp_development_logs_the_mail_with_its_link(app, client, make_user, monkeypatch, caplog):
    monkeypatch.setitem(app.config, "MAIL_SERVER", None)
    monkeypatch.setitem(app.config, "CONFIG_NAME", "development")
    investor = make_user("dev@example.com")
    with caplog.at_level(logging.INFO):
        forgot(client, investor.email)
    match = re.search(r"https?://[^/\s]+(/password/reset/\S+)", caplog.text)
    assert match, "development writes each mail, link included, to the log"
    assert token_of(match.group(1)) not in database_text()
    assert reset_works(type(client)(app), match.group(1))


def test_request_logs_name_the_route_not_the_token(app, client, make_user, caplog):
    investor = make_user("lou@example.com")
    forgot(type(client)(app), investor.email)
    link = link_in(outbox(investor.email, "reset_password")[-1])
    with caplog.at_level(logging.INFO, logger="app.requests"):
        assert client.get(link).status_code == 200
    assert "GET /password/reset/<token> 200" in caplog.text
    assert token_of(link) not in caplog.text


def test_the_development_servers_raw_request_lines_are_dropped():
    raw = logging.LogRecord("werkzeug", logging.INFO, __file__, 1,
                            '127.0.0.1 - - [03/Dec/2026 08:00:00] "GET /password/reset/abc.def HTTP/1.1" 200 -',
                            None, None)
    other = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, "Running on http://127.0.0.1:5000", None, None)
    assert DropRawRequestLines().filter(raw) is False and DropRawRequestLines().filter(other) is True



def test_the_migration_scrubs_links_already_stored():
    path = Path(__file__).resolve().parents[2] / "migrations" / "versions" / "20261203_secret_links.py"
    spec = importlib.util.spec_from_file_location("secret_links_migration", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    body = "Open this link:\n\nhttp://localhost/password/reset/eyJ1aWQiOjF9.aXk.sig-_x\n\nThanks"
    html = '<a href="https://freehold.example/verify-email/eyJ1aWQiOjF9.aXk.sig">Verify</a>'
    assert migration._scrub(body) == f"Open this link:\n\n{PLACEHOLDER}\n\nThanks"
    assert migration._scrub(html) == f'<a href="{PLACEHOLDER}">Verify</a>'
    assert migration.PLACEHOLDER == PLACEHOLDER


def test_two_links_issued_in_the_same_second_differ(make_user):
    investor = make_user("twin@example.com", verified=False)
    assert auth.reset_token(investor) != auth.reset_token(investor)
    assert auth.verification_token(investor) != auth.verification_token(investor)
