"""Closing one's own account: refused with each thing left named, refused with a wrong password, and when it
happens: no sign-in any more (a neutral refusal), sessions and tokens ended, personal data gone, a goodbye to the
old address, the ledger and the audit trail intact."""
from sqlalchemy import select

from app.account.models import DataExport
from app.auth.models import ApiToken, LoginAttempt, User
from app.core.audit import AuditRecord, verify_chain
from app.core.db import unit_of_work
from app.core.money import Money
from app.extensions import db
from app.kyc.models import KycSubmission, KycValue
from app.ledger.models import Account
from app.ledger.services import verify
from app.market import services as market
from app.notifications import services as notifications
from app.notifications.models import PushDevice
from app.payments import services as payments
from app.payouts import services as payouts
from app.payouts.models import PayoutMethod
from tests.factories import PayoutMethodFactory
from tests.market.support import list_units, money
from tests.support import PASSWORD, csrf_from, outbox


def fresh(user) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def close(client, headers, password=PASSWORD):
    return client.delete("/api/v1/me", json={"password": password}, headers=headers)


def test_closing_with_everything_left_names_each_thing(client, make_tradable, token_for, no_fee):
    seller, holding, _property = make_tradable()
    list_units(seller, holding, 5)
    other_seller, other_holding, _ = make_tradable()
    listing = list_units(other_seller, other_holding, 5)
    with unit_of_work():
        market.make_offer(seller, listing.id, 1, money("100.00"))
        method = PayoutMethodFactory(user=seller)
        payouts.request_payout(seller, Money.parse("10.00", "USD"), method.id)
        payments.create_deposit(seller.id, Money.parse("50.00", "USD"), "bank_transfer")

    answer = close(client, token_for(seller))
    assert answer.status_code == 409
    body = answer.get_json()
    assert set(body["errors"]) == {"money", "holdings", "listings", "offers", "payouts", "deposits"}
    for key in body["errors"]:
        assert key in body["message"]
    assert "withdraw" in body["errors"]["money"][0]
    assert fresh(seller).status == "active" and fresh(seller).email == seller.email


def test_closing_with_money_alone_says_so_and_changes_nothing(client, investor, token_for):
    answer = close(client, token_for(investor))
    assert answer.status_code == 409
    assert list(answer.get_json()["errors"]) == ["money"]
    assert Money.parse("1000.00", "USD").local("en") in answer.get_json()["errors"]["money"][0]
    assert fresh(investor).status == "active"
    assert db.session.scalar(select(db.func.count(AuditRecord.id)).where(AuditRecord.action == "account.close")) == 0


def test_a_wrong_password_is_refused_and_changes_nothing(client, make_investor, token_for):
    investor = make_investor(None)
    for password in ("wrong-password-1", ""):
        answer = close(client, token_for(investor), password)
        assert answer.status_code == 422, answer.get_json()
        assert "password" in answer.get_json()["errors"]
    assert client.delete("/api/v1/me", json={}, headers=token_for(investor)).status_code == 422
    assert fresh(investor).status == "active"


def test_closing_erases_the_person_and_keeps_the_records(app, client, make_investor, token_for, login):
    investor = make_investor(None, first_name="Iris", last_name="Quill")
    old_email = investor.email
    with unit_of_work():
        notifications.set_phone_number(investor, "+14155550123")
        notifications.register_device(investor, "device-token-1", "ios")
        PayoutMethodFactory(user=investor, holder_name="Iris Quill")
    headers = token_for(investor)
    browser = app.test_client()
    login(investor, http=browser)
    assert browser.get("/account/security").status_code == 200
    earlier_login = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "auth.login",
                                                                AuditRecord.actor_id == investor.id))
    assert earlier_login.actor_email == old_email

    answer = close(client, headers)
    assert answer.status_code == 200, answer.get_json()

    user = fresh(investor)
    assert user.status == "closed" and user.closed_at is not None
    assert user.email == f"closed-{user.id}@closed.invalid"
    assert (user.first_name, user.last_name, user.phone_number, user.totp_secret) == ("Closed account", "", None, None)
    assert db.session.scalar(select(PushDevice).where(PushDevice.user_id == user.id)) is None
    method = db.session.scalar(select(PayoutMethod).where(PayoutMethod.user_id == user.id))
    assert method.holder_name == "Closed account" and method.account_number == "" and method.routing_number is None
    values = db.session.scalars(select(KycValue).join(KycSubmission).where(KycSubmission.user_id == user.id)).all()
    assert values and all(v.value is None and v.secret_value is None for v in values)
    assert {a.email for a in db.session.scalars(select(LoginAttempt).where(LoginAttempt.user_id == user.id))} \
        == {user.email}
    names = {a.kind: a.name for a in db.session.scalars(select(Account).where(Account.user_id == user.id))}
    assert names == {"user_wallet": f"wallet:user:{user.id}", "user_held": f"held:user:{user.id}"}

    # no way back in: the token, the session, the old address, the placeholder, a reset link
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert all(t.revoked_at is not None for t in db.session.scalars(select(ApiToken).where(
        ApiToken.user_id == user.id)))
    assert browser.get("/account/security").status_code == 302
    for email in (old_email, user.email):
        refused = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
        assert refused.status_code == 401
        assert refused.get_json()["message"] == client.post("/api/v1/auth/token", json={
            "email": "nobody@example.com", "password": PASSWORD}).get_json()["message"]
    page = client.get("/password/forgot")
    client.post("/password/forgot", data={"email": old_email, "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert outbox(to=old_email, event="reset_password") == []

    # a goodbye to the old address; the audit trail keeps what it recorded, unaltered; the ledger verifies
    goodbye = outbox(to=old_email, event="account_closed")
    assert len(goodbye) == 1 and "closed" in goodbye[0].body
    db.session.expire_all()
    assert db.session.get(AuditRecord, earlier_login.id).actor_email == old_email
    closing = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "account.close"))
    assert closing.target_id == str(user.id) and closing.after["via"] == "self"
    _checked, broken, problem = verify_chain()
    assert broken is None, problem
    assert verify().violations == []


def test_a_closed_account_cannot_be_closed_again_or_export(client, make_investor, token_for):
    investor = make_investor(None)
    headers = token_for(investor)
    assert close(client, headers).status_code == 200
    assert close(client, headers).status_code == 401  # its token ended with it
    assert db.session.scalar(select(db.func.count(DataExport.id))) == 0


def test_the_portal_names_what_to_do_first_with_links(client, investor, login):
    login(investor)
    page = client.get("/account/close")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-testid="blocker-money"' in html and "/payouts" in html
    assert 'data-testid="close-account"' not in html
    posted = client.post("/account/close", data={"password": PASSWORD, "confirm": "y",
                                                 "csrf_token": csrf_from(client.get("/account/data")
                                                                         .get_data(as_text=True))})
    assert posted.status_code == 409
    assert fresh(investor).status == "active"


def test_the_portal_closes_the_account_and_signs_out(client, make_investor, login):
    investor = make_investor(None)
    login(investor)
    page = client.get("/account/close").get_data(as_text=True)
    token = csrf_from(page)
    wrong = client.post("/account/close", data={"password": "not-it-at-all", "confirm": "y", "csrf_token": token})
    assert wrong.status_code == 422 and fresh(investor).status == "active"
    unticked = client.post("/account/close", data={"password": PASSWORD, "csrf_token": token})
    assert unticked.status_code == 422 and fresh(investor).status == "active"
    done = client.post("/account/close", data={"password": PASSWORD, "confirm": "y", "csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"].startswith("/login")
    assert fresh(investor).status == "closed"
    assert client.get("/account/data").status_code == 302


def test_a_staff_member_cannot_close_their_own_account_here(client, make_user, token_for):
    staff = make_user(role="admin")
    answer = close(client, token_for(staff))
    assert answer.status_code == 403
    assert fresh(staff).status == "active"
