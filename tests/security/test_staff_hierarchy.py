"""Attacks on the hierarchy among staff. Each test is one attempt: who tries it, what they try, and what they must
get (a clear refusal, nothing changed, the attempt audited where a staff member tried it). Only an admin acts on a
staff account; unblocking one and resetting its two-factor authentication take a second admin; a block's
category decides who lifts it; nobody acts on their own account; `flask users reset-2fa` is the break-glass."""
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select, text

from app import create_app
from app.auth import services
from app.auth import sessions as user_sessions
from app.auth.models import StaffActionRequest, User
from app.core.audit import AuditRecord
from app.core.db import unit_of_work
from app.core.errors import Conflict, Forbidden
from app.extensions import db
from tests.concurrency import run_threads
from tests.support import csrf_from, test_config


def records(action, target=None):
    db.session.expire_all()
    query = select(AuditRecord).where(AuditRecord.action == action)
    if target is not None:
        query = query.where(AuditRecord.target_id == str(target.id))
    return list(db.session.scalars(query.order_by(AuditRecord.id)))


def refusal_of(actor, target, attempted):
    """The audit record of `actor`'s refused attempt on `target`'s account."""
    found = [r for r in records("users.refused", target)
             if r.actor_id == actor.id and r.after["attempted"] == attempted]
    assert len(found) == 1, f"no single audited refusal of {attempted} by {actor.email}"
    return found[0]


def fresh(user):
    db.session.expire_all()
    return db.session.get(User, user.id)


@pytest.fixture
def console(app, make_user, login):
    """console(role or user) -> (staff member, post(path, **form) -> the page after the redirect), each signed in
    with 2FA on a browser of their own."""

    def _open(who):
        staff = make_user(role=who) if isinstance(who, str) else who
        browser = app.test_client()
        login(staff, http=browser)
        token = csrf_from(browser.get("/account/security").get_data(as_text=True))

        def post(path, **form):
            response = browser.post(path, data={"csrf_token": token, **form})
            if response.status_code != 302:
                return response
            return browser.get(response.headers["Location"])

        return staff, post

    return _open


def block(user, category="security", *, by):
    with unit_of_work():
        services.block_user(user, actor=by, reason="set-up", category=category)


def signed_in(app, login, user):
    login(user, http=app.test_client())
    return len(user_sessions.live_for(user.id))


# support over staff accounts -------------------------------------------------------------------------------------
@pytest.mark.parametrize("target_role", ["admin", "compliance"])
@pytest.mark.parametrize("action", ["block", "unblock", "reset-2fa", "sessions/revoke"])
def test_support_acts_on_a_staff_account_and_is_refused(app, console, make_user, login, target_role, action):
    target = make_user(role=target_role)
    admin = make_user(role="admin")
    if action == "unblock":
        block(target, by=admin)
    sessions_before = signed_in(app, login, target) if action == "sessions/revoke" else None
    support, post = console("support")

    page = post(f"/admin/users/{target.id}/{action}", reason="the caller said so", category="request")

    assert page.status_code == 200
    assert "Only an admin may" in page.get_data(as_text=True) and "staff account" in page.get_data(as_text=True)
    after = fresh(target)
    assert after.status == ("blocked" if action == "unblock" else "active")
    assert after.totp_enabled and after.totp_secret
    if sessions_before is not None:
        assert len(user_sessions.live_for(target.id)) == sessions_before == 1
    assert db.session.scalar(select(func.count(StaffActionRequest.id))) == 0
    attempted = {"block": "users.block", "unblock": "users.unblock", "reset-2fa": "users.reset_2fa",
                 "sessions/revoke": "sessions.revoke_all"}[action]
    refusal = refusal_of(support, target, attempted)
    assert refusal.reason == "the caller said so" and refusal.after["target_is_staff"] is True
    assert records(attempted, target) == []  # the action itself never ran


def test_compliance_cannot_propose_or_approve_changes_to_staff_accounts(console, make_user):
    admin, other = make_user(role="admin"), make_user(role="admin")
    target = make_user(role="finance")
    block(target, by=admin)
    compliance, post = console("compliance")
    page = post(f"/admin/users/{target.id}/unblock", reason="looks fine to me")
    assert "Only an admin may unblock a staff account" in page.get_data(as_text=True)
    assert fresh(target).status == "blocked"
    refusal_of(compliance, target, "users.unblock")
    with unit_of_work():
        request = services.propose_staff_change("unblock", target, actor=other, reason="cleared")
    assert post(f"/admin/staff_requests/{request.id}/approve", reason="me too").status_code == 403
    assert post("/admin/staff_requests/").status_code in (403, 405)
    assert fresh(target).status == "blocked"


# block categories --------------------------------------------------------------------------------------------------
def test_compliance_lifts_a_security_block_and_is_refused(console, make_user):
    investor = make_user()
    support = make_user(role="support")
    block(investor, "security", by=support)
    compliance, post = console("compliance")
    page = post(f"/admin/users/{investor.id}/unblock", reason="customer called")
    assert "A security block is lifted by an admin only" in page.get_data(as_text=True)
    assert fresh(investor).status == "blocked" and fresh(investor).block_category == "security"
    refusal_of(compliance, investor, "users.unblock")
    assert records("users.unblock", investor) == []


def test_support_lifts_a_compliance_block_and_is_refused(console, make_user):
    investor = make_user()
    block(investor, "compliance", by=make_user(role="compliance"))
    support, post = console("support")
    page = post(f"/admin/users/{investor.id}/unblock", reason="they asked nicely")
    assert "A compliance block is lifted by compliance or an admin" in page.get_data(as_text=True)
    assert fresh(investor).status == "blocked"
    refusal_of(support, investor, "users.unblock")


def test_support_lifts_a_block_made_at_the_users_request(console, make_user):
    investor = make_user()
    block(investor, "request", by=make_user(role="support"))
    support, post = console("support")
    page = post(f"/admin/users/{investor.id}/unblock", reason="the customer asked to reopen, ID checked")
    assert "is active again" in page.get_data(as_text=True)
    after = fresh(investor)
    assert after.status == "active" and after.block_category is None
    record = records("users.unblock", investor)[-1]
    assert record.actor_id == support.id and record.before == {"status": "blocked", "category": "request"}


def test_a_block_from_before_categories_is_a_security_block(console, make_user):
    investor = make_user()
    with unit_of_work():
        investor.status = "blocked"  # as the migration finds an old block, before it names it
    assert fresh(investor).blocked_as == "security"
    _compliance, post = console("compliance")
    assert "lifted by an admin only" in post(f"/admin/users/{investor.id}/unblock",
                                             reason="old block").get_data(as_text=True)
    _admin, post_admin = console("admin")
    assert "is active again" in post_admin(f"/admin/users/{investor.id}/unblock",
                                           reason="reviewed").get_data(as_text=True)


def test_a_block_needs_a_category_and_a_reason(console, make_user):
    investor = make_user()
    _support, post = console("support")
    assert "Pick the kind of block" in post(f"/admin/users/{investor.id}/block",
                                            reason="fraud").get_data(as_text=True)
    assert "reason is required" in post(f"/admin/users/{investor.id}/block", reason=" ",
                                        category="security").get_data(as_text=True)
    assert "Pick the kind of block" in post(f"/admin/users/{investor.id}/block", reason="fraud",
                                            category="whim").get_data(as_text=True)
    assert fresh(investor).status == "active" and records("users.block") == []
    post(f"/admin/users/{investor.id}/block", reason="chargebacks", category="security")
    assert fresh(investor).block_category == "security"
    assert records("users.block", investor)[-1].after["category"] == "security"


def test_an_admin_blocks_a_staff_account_at_once(console, make_user):
    target = make_user(role="support")
    _admin, post = console("admin")
    assert "is blocked" in post(f"/admin/users/{target.id}/block", reason="left the company",
                                category="security").get_data(as_text=True)
    assert fresh(target).status == "blocked"


# investors' 2FA stays with support ---------------------------------------------------------------------------------
def test_support_resets_an_investors_2fa_at_once(console, make_user):
    investor = make_user(two_factor=True)
    _support, post = console("support")
    assert "is reset" in post(f"/admin/users/{investor.id}/reset-2fa",
                              reason="lost phone, ID checked").get_data(as_text=True)
    assert not fresh(investor).totp_enabled


# two admins --------------------------------------------------------------------------------------------------------
def test_an_admin_approves_their_own_request_and_is_refused(console, make_user):
    target = make_user(role="compliance")
    admin, post = console("admin")
    page = post(f"/admin/users/{target.id}/reset-2fa", reason="lost phone")
    assert "takes effect when a second admin approves" in page.get_data(as_text=True)
    request = db.session.scalar(select(StaffActionRequest))
    assert request.proposer_id == admin.id and request.status == "pending"
    page = post(f"/admin/staff_requests/{request.id}/approve", reason="I trust myself")
    assert "A second, different admin must approve" in page.get_data(as_text=True)
    db.session.refresh(request)
    assert request.status == "pending" and fresh(target).totp_enabled
    refusal_of(admin, target, "staff_requests.approve")


def test_the_target_admin_approves_a_request_about_themselves_and_is_refused(console, make_user):
    proposer, target = make_user(role="admin"), make_user(role="admin")
    with unit_of_work():
        request = services.propose_staff_change("reset_2fa", target, actor=proposer, reason="lost phone")
    _, post = console(target)
    page = post(f"/admin/staff_requests/{request.id}/approve", reason="yes please")
    assert "Nobody may approve a change to their own account" in page.get_data(as_text=True)
    db.session.refresh(request)
    assert request.status == "pending" and fresh(target).totp_enabled
    refusal_of(target, target, "staff_requests.approve")


def test_two_admins_reset_a_staff_members_2fa_only_on_the_second_approval(app, console, make_user, login):
    target = make_user(role="finance")
    assert signed_in(app, login, target) == 1
    first, post_first = console("admin")
    second, post_second = console("admin")
    post_first(f"/admin/users/{target.id}/reset-2fa", reason="lost phone, video call done")
    assert fresh(target).totp_enabled and len(user_sessions.live_for(target.id)) == 1  # not yet
    request = db.session.scalar(select(StaffActionRequest))
    page = post_second(f"/admin/staff_requests/{request.id}/approve", reason="checked the video call")
    assert "Approved" in page.get_data(as_text=True)
    after = fresh(target)
    assert not after.totp_enabled and after.totp_secret is None
    assert user_sessions.live_for(target.id) == []
    db.session.refresh(request)
    assert (request.status, request.decided_by_id, request.decision_reason) == (
        "approved", second.id, "checked the video call")
    proposed = records("staff_requests.propose", target)[-1]
    assert proposed.actor_id == first.id and proposed.reason == "lost phone, video call done"
    approved = records("staff_requests.approve", target)[-1]
    assert approved.actor_id == second.id and approved.reason == "checked the video call"
    assert approved.after["proposed_by"] == first.email
    reset = records("users.reset_2fa", target)[-1]
    assert reset.actor_id == second.id and reset.after["proposed_by"] == first.email


def test_approving_twice_applies_once(console, make_user):
    target = make_user(role="support")
    proposer = make_user(role="admin")
    block(target, by=proposer)
    with unit_of_work():
        request = services.propose_staff_change("unblock", target, actor=proposer, reason="back from leave")
    _second, post_second = console("admin")
    _third, post_third = console("admin")
    assert "Approved" in post_second(f"/admin/staff_requests/{request.id}/approve",
                                     reason="confirmed").get_data(as_text=True)
    replay = post_second(f"/admin/staff_requests/{request.id}/approve", reason="confirmed").get_data(as_text=True)
    late = post_third(f"/admin/staff_requests/{request.id}/approve", reason="me too").get_data(as_text=True)
    assert "is approved" in replay and "is approved" in late
    assert len(records("users.unblock", target)) == 1 and len(records("staff_requests.approve", target)) == 1
    assert fresh(target).status == "active"


def test_concurrent_approvals_apply_once(app, postgres, make_user):
    target = make_user(role="compliance")
    proposer = make_user(role="admin")
    approvers = [make_user(role="admin").id for _ in range(4)]
    with unit_of_work():
        request_id = services.propose_staff_change("reset_2fa", target, actor=proposer, reason="lost phone").id

    def approve(index):
        services.approve_staff_request(services.staff_request(request_id),
                                       actor=db.session.get(User, approvers[index]), reason="checked")
        return "approved"

    results = run_threads(app, 4, approve)
    assert results.count("approved") == 1, results
    assert all(isinstance(r, Conflict) for r in results if r != "approved"), results
    assert len(records("users.reset_2fa", target)) == 1


def test_a_second_request_for_the_same_change_is_refused(make_user):
    target, first, second = make_user(role="support"), make_user(role="admin"), make_user(role="admin")
    with unit_of_work():
        services.propose_staff_change("reset_2fa", target, actor=first, reason="lost phone")
    with pytest.raises(Conflict), unit_of_work():
        services.propose_staff_change("reset_2fa", target, actor=second, reason="lost phone too")


def test_another_admin_rejects_and_nothing_is_applied(console, make_user):
    target, proposer = make_user(role="support"), make_user(role="admin")
    with unit_of_work():
        request = services.propose_staff_change("reset_2fa", target, actor=proposer, reason="lost phone")
    _checker, post = console("admin")
    assert "is rejected" in post(f"/admin/staff_requests/{request.id}/decline",
                                 reason="not verified").get_data(as_text=True)
    assert fresh(target).totp_enabled
    assert post(f"/admin/staff_requests/{request.id}/approve", reason="changed my mind").status_code == 200
    assert fresh(target).totp_enabled and records("users.reset_2fa") == []


# nobody on their own account ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("action,form", [
    ("block", {"category": "security"}), ("reset-2fa", {}), ("sessions/revoke", {}),
    ("roles", {"roles": ["finance"]}),
])
def test_an_admin_acts_on_their_own_account_and_is_refused(console, make_user, action, form):
    make_user(role="admin")  # not the last admin: the refusal is the hierarchy's
    admin, post = console("admin")
    page = post(f"/admin/users/{admin.id}/{action}", reason="my own business", **form)
    assert "their own account" in page.get_data(as_text=True)
    after = fresh(admin)
    assert after.status == "active" and after.totp_enabled and after.role_names == {"admin"}
    assert len(user_sessions.live_for(admin.id)) == 1
    assert db.session.scalar(select(func.count(StaffActionRequest.id))) == 0
    refusal_of(admin, admin, {"block": "users.block", "reset-2fa": "users.reset_2fa",
                              "sessions/revoke": "sessions.revoke_all", "roles": "roles.assign"}[action])


def test_support_resets_their_own_2fa_and_is_refused(console):
    support, post = console("support")
    assert "their own account" in post(f"/admin/users/{support.id}/reset-2fa",
                                       reason="lost phone").get_data(as_text=True)
    assert fresh(support).totp_enabled


def test_nobody_acts_on_their_own_account_through_the_services(make_user):
    admin = make_user(role="admin")
    make_user(role="admin")
    for attempt in (lambda: services.block_user(admin, actor=admin, reason="x", category="security"),
                    lambda: services.unblock_user(admin, actor=admin, reason="x"),
                    lambda: services.end_sessions(admin, actor=admin, reason="x"),
                    lambda: services.set_roles(admin, {"finance"}, actor=admin, reason="x"),
                    lambda: services.propose_staff_change("reset_2fa", admin, actor=admin, reason="x")):
        with pytest.raises(Forbidden):
            attempt()
        db.session.rollback()


# break-glass -------------------------------------------------------------------------------------------------------
def test_the_break_glass_command_resets_a_sole_admins_2fa_and_is_audited(app, make_user):
    admin = make_user("sole-admin@example.com", role="admin")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "reset-2fa", "--email", "sole-admin@example.com",
                                 "--reason", "sole admin lost the phone, ticket 42"])
    assert result.exit_code == 0, result.output
    assert "sole-admin@example.com" in result.output and "is reset" in result.output
    assert not fresh(admin).totp_enabled
    record = records("users.reset_2fa", admin)[-1]
    assert record.actor_id is None and record.reason == "sole admin lost the phone, ticket 42"
    assert record.after["via"] == "command line (break-glass)"


def test_the_break_glass_command_needs_a_reason_and_a_known_account(app, make_user):
    investor = make_user("lost-phone@example.com", two_factor=True)
    runner = app.test_cli_runner()
    missing = runner.invoke(args=["users", "reset-2fa", "--email", investor.email])
    assert missing.exit_code != 0 and "--reason" in missing.output
    blank = runner.invoke(args=["users", "reset-2fa", "--email", investor.email, "--reason", "  "])
    assert blank.exit_code != 0 and "reason is required" in blank.output
    unknown = runner.invoke(args=["users", "reset-2fa", "--email", "nobody@example.com", "--reason", "x"])
    assert unknown.exit_code != 0 and "no user" in unknown.output
    assert fresh(investor).totp_enabled and records("users.reset_2fa") == []
    done = runner.invoke(args=["users", "reset-2fa", "--email", investor.email, "--reason", "ID checked at desk"])
    assert done.exit_code == 0, done.output
    assert not fresh(investor).totp_enabled


# existing blocks ---------------------------------------------------------------------------------------------------
def test_the_migration_makes_existing_blocks_security_blocks(tmp_path):
    """A block made before categories existed cannot be lifted by compliance or support after the upgrade."""
    migrations = str(Path(__file__).resolve().parents[2] / "migrations")
    scratch = create_app(test_config(f"sqlite:///{tmp_path}/blocks.db"))
    with scratch.app_context():
        upgrade(directory=migrations, revision="0011_calendar_consumed")
        for email, status in (("old-block@example.com", "blocked"), ("active@example.com", "active")):
            db.session.execute(text(
                "INSERT INTO users (email, first_name, last_name, password_hash, status, email_verified, "
                "failed_logins, totp_enabled, created_at, updated_at) VALUES (:email, '', '', 'x', :status, 1, 0, 0, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"email": email, "status": status})
        db.session.commit()
        upgrade(directory=migrations)
        rows = dict(db.session.execute(text("SELECT email, block_category FROM users")).all())
        db.session.remove()
    assert rows == {"old-block@example.com": "security", "active@example.com": None}


def test_concurrent_proposals_of_the_same_change_leave_one_request(app, postgres, make_user):
    target = make_user(role="support")
    admins = [make_user(role="admin").id for _ in range(4)]
    target_id = target.id

    def propose(index):
        return services.propose_staff_change("reset_2fa", db.session.get(User, target_id),
                                             actor=db.session.get(User, admins[index]), reason="lost phone").status

    results = run_threads(app, 4, propose)
    assert results.count("pending") == 1, results
    assert all(isinstance(r, Conflict) for r in results if r != "pending"), results
    assert db.session.scalar(select(func.count(StaffActionRequest.id))) == 1


def test_the_dashboard_shows_admins_the_staff_changes_waiting(client, make_user, login):
    target, proposer = make_user(role="support"), make_user(role="admin")
    with unit_of_work():
        services.propose_staff_change("reset_2fa", target, actor=proposer, reason="lost phone")
    login(make_user(role="admin"))
    page = client.get("/admin/").get_data(as_text=True)
    assert "Staff changes to approve" in page and "/admin/staff_requests/" in page
    support = type(client)(client.application)
    login(make_user(role="support"), http=support)
    assert "Staff changes to approve" not in support.get("/admin/").get_data(as_text=True)
