"""Staff actions on users in the console: each needs its permission and a reason, each is audited."""
import pytest
from sqlalchemy import select

from app.auth import services
from app.auth.models import UserSession
from app.core.audit import AuditRecord
from app.core.errors import Forbidden, ValidationError
from app.extensions import db
from tests.support import csrf_from, outbox


def audited(action):
    return db.session.scalar(select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id.desc()))


@pytest.fixture
def staff_client(client, make_user, login):
    def _as(role):
        staff = make_user(role=role)
        login(staff)
        token = csrf_from(client.get("/account/security").get_data(as_text=True))
        return staff, token

    return _as


def test_search_and_details_show_sign_ins_and_sessions(client, make_user, login, staff_client):
    investor = make_user("findme@example.com", first_name="Findable")
    login(investor, http=type(client)(client.application))
    staff_client("support")
    listing = client.get("/admin/users/?search=findme").get_data(as_text=True)
    assert "findme@example.com" in listing
    details = client.get(f"/admin/users/details/?id={investor.id}").get_data(as_text=True)
    assert "Live sessions (1)" in details and "Recent sign-in attempts" in details and "KYC status" in details
    assert "password_hash" not in details and "totp_secret" not in details.lower().replace("totp enabled", "")


def test_block_needs_a_reason_kills_sessions_and_tokens_and_is_audited(client, make_user, login, staff_client,
                                                                       token_for):
    investor = make_user()
    device = type(client)(client.application)
    login(investor, http=device)
    headers = token_for(investor)
    staff, token = staff_client("compliance")  # a compliance block is lifted by compliance (or an admin)
    no_reason = client.post(f"/admin/users/{investor.id}/block",
                            data={"csrf_token": token, "reason": " ", "category": "compliance"}, follow_redirects=True)
    assert "reason is required" in no_reason.get_data(as_text=True)
    db.session.refresh(investor)
    assert investor.status == "active"
    client.post(f"/admin/users/{investor.id}/block",
                data={"csrf_token": token, "reason": "chargeback fraud", "category": "compliance"})
    db.session.refresh(investor)
    assert investor.status == "blocked"
    assert device.get("/").status_code == 302
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    record = audited("users.block")
    assert record.actor_id == staff.id and record.reason == "chargeback fraud"
    assert record.target_id == str(investor.id) and record.after["status"] == "blocked" and record.ip
    client.post(f"/admin/users/{investor.id}/unblock", data={"csrf_token": token, "reason": "resolved"})
    db.session.refresh(investor)
    assert investor.status == "active" and audited("users.unblock").reason == "resolved"


def test_reset_2fa_with_a_reason(client, make_user, staff_client):
    investor = make_user(two_factor=True)
    _staff, token = staff_client("support")
    client.post(f"/admin/users/{investor.id}/reset-2fa", data={"csrf_token": token, "reason": "lost phone, ID checked"})
    db.session.refresh(investor)
    assert not investor.totp_enabled and investor.totp_secret is None
    assert audited("users.reset_2fa").reason == "lost phone, ID checked"


def test_resend_verification(client, make_user, staff_client):
    investor = make_user(verified=False)
    staff_client("support")
    client.post(f"/admin/users/{investor.id}/resend-verification",
                data={"csrf_token": csrf_from(client.get("/account/security").get_data(as_text=True))})
    assert outbox(investor.email, "verify_email")
    assert audited("users.resend_verification") is not None


def test_unknown_user_is_404(client, staff_client):
    _, token = staff_client("admin")
    assert client.post("/admin/users/999999/block", data={"csrf_token": token, "reason": "x"}).status_code == 404


def test_admin_assigns_roles_and_sessions_of_the_target_end(client, make_user, login, staff_client):
    investor = make_user()
    device = type(client)(client.application)
    login(investor, http=device)
    _admin, token = staff_client("admin")
    client.post(f"/admin/users/{investor.id}/roles",
                data={"csrf_token": token, "reason": "joins finance", "roles": ["finance"]})
    db.session.refresh(investor)
    assert investor.role_names == {"finance"}
    assert device.get("/").status_code == 302
    record = audited("roles.assign")
    assert record.before == {"roles": ["investor"]} and record.after == {"roles": ["finance"]}


def test_nobody_grants_what_they_do_not_hold(make_user):
    admin = make_user(role="admin")
    compliance = make_user(role="compliance")
    target = make_user()
    from app.core.security import has_permission

    assert has_permission(admin, "roles.assign") and not has_permission(compliance, "roles.assign")
    with pytest.raises(Forbidden):
        services.set_roles(target, {"finance"}, actor=compliance, reason="sneaky")
    # a holder of roles.assign who lacks some permissions could only grant roles within them
    from app.core import security

    original = security.PERMISSIONS["roles.assign"]
    security.PERMISSIONS["roles.assign"] = frozenset({"support"})
    try:
        support = make_user(role="support")
        with pytest.raises(Forbidden):
            services.set_roles(target, {"finance"}, actor=support, reason="not mine to give")
        with pytest.raises(Forbidden):  # a role of their own, but making a staff account is an admin's
            services.set_roles(target, {"support"}, actor=support, reason="mine to give")
    finally:
        security.PERMISSIONS["roles.assign"] = original
    db.session.rollback()
    services.set_roles(target, {"finance", "investor"}, actor=admin, reason="admin holds every permission")


def test_the_last_admin_stays(make_user):
    admin = make_user(role="admin")
    other_staff = make_user(role="support")
    with pytest.raises(Forbidden):  # nobody changes their own roles, the last admin included
        services.set_roles(admin, {"investor"}, actor=admin, reason="oops")
    with pytest.raises(Forbidden):  # only an admin blocks a staff account
        services.block_user(admin, actor=other_staff, reason="oops", category="security")
    db.session.rollback()
    second = make_user(role="admin")
    services.set_roles(admin, {"finance"}, actor=second, reason="handing over")
    db.session.commit()
    assert admin.role_names == {"finance"}


def test_staff_cannot_block_themselves(make_user):
    support = make_user(role="support")
    with pytest.raises(Forbidden):
        services.block_user(support, actor=support, reason="x")


def test_role_change_needs_a_reason(make_user):
    admin, target = make_user(role="admin"), make_user()
    with pytest.raises(ValidationError):
        services.set_roles(target, {"support"}, actor=admin, reason="")


def test_staff_can_see_sign_ins_and_sessions(client, make_user, login, staff_client):
    investor = make_user("watched@example.com")
    login(investor, "wrong-password-99", http=type(client)(client.application))
    staff_client("compliance")
    html = client.get("/admin/sign_ins/").get_data(as_text=True)
    assert "watched@example.com" in html and "bad_password" in html
    assert client.get("/admin/sessions/").status_code == 200
    assert db.session.scalar(select(UserSession)) is not None
