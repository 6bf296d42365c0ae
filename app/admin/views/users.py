"""People: users with their sign-ins and sessions, and the staff actions on them (each audited, with a reason
where it touches money or security). Roles and the permission table."""
from __future__ import annotations

from flask import abort, request, url_for
from flask_admin import expose
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from flask_login import current_user
from markupsafe import Markup

from app.admin.base import (
    BigListMixin,
    SecureModelView,
    act_on_account,
    exact_filters,
    range_filters,
    requires,
)
from app.admin.list_search import IndexedSearch
from app.auth import services
from app.auth import sessions as user_sessions
from app.auth.devices import DEVICES, device_of
from app.auth.devices import LABELS as DEVICE_LABELS
from app.auth.forms import SimpleForm
from app.auth.models import (
    STAFF_REQUEST_RESET_2FA,
    STAFF_REQUEST_UNBLOCK,
    LoginAttempt,
    Role,
    User,
    UserSession,
)
from app.core.money import Money
from app.core.security import BLOCK_LABELS, ROLES, grantable_roles, has_permission, role_permissions
from app.extensions import db
from app.kyc.services import overall_status as kyc_overall_status
from app.payments import card_funds


class UserView(BigListMixin, SecureModelView):
    permission = "users.view"
    details_template = "admin/user_details.html"
    column_list = ("id", "email", "first_name", "last_name", "roles", "status", "email_verified", "totp_enabled",
                   "failed_logins", "last_login_at", "created_at")
    column_details_list = ("id", "email", "first_name", "last_name", "roles", "status", "block_category",
                           "email_verified",
                           "email_verified_at", "totp_enabled", "failed_logins", "locked_until",
                           "terms_accepted_at", "password_changed_at", "last_login_at", "created_at")
    column_searchable_list = ("id", "email", "first_name", "last_name")  # prefixes, indexed (IndexedSearch)
    column_filters = ("status", "block_category", "email_verified", "totp_enabled", "roles.name", "created_at", "last_login_at")
    column_sortable_list = ("id", "email", "created_at")  # indexed columns only (a million users)
    column_default_sort = ("id", True)
    column_labels = {"block_category": "Kind of block", "totp_enabled": "2FA", "roles.name": "Role", "failed_logins": "Failed sign-ins"}
    column_formatters = {
        "roles": lambda v, c, m, n: Markup(" ").join(
            Markup('<span class="badge badge-secondary">{}</span>').format(r.name) for r in m.roles),
    }

    def render(self, template, **kwargs):
        if template == self.details_template and kwargs.get("model") is not None:
            user = kwargs["model"]
            kwargs.update(
                kyc_status=kyc_overall_status(user.id),
                sessions=user_sessions.live_for(user.id),
                sign_ins=services.recent_sign_ins(user.id, limit=15),
                form=SimpleForm(),
                can=lambda p: has_permission(current_user, p),
                all_roles=ROLES,
                grantable=grantable_roles(current_user),
                block_categories=BLOCK_LABELS,
                staff_requests=services.pending_staff_requests(user.id),
                room=card_funds.withdrawable(user.id),
                card_locks=[(lock, Money(lock.amount, lock.currency), Money(lock.remaining, lock.currency))
                            for lock in card_funds.locks_of(user.id)],
            )
        return super().render(template, **kwargs)

    # actions ----------------------------------------------------------------------------------------------------
    def _target(self, user_id: int) -> User:
        if not SimpleForm().validate_on_submit():
            abort(400)
        user = db.session.get(User, user_id)
        if user is None:
            abort(404)
        return user

    def _run(self, user: User, attempted: str, action, message):
        """Run the action as one unit of work; a refusal by the hierarchy is audited in a unit of its own."""
        return act_on_account(user, attempted, action, message, url_for(".details_view", id=user.id))

    @expose("/<int:user_id>/block", methods=["POST"])
    @requires("users.block")
    def block(self, user_id: int):
        user = self._target(user_id)
        return self._run(user, "users.block", lambda: services.block_user(
            user, actor=current_user, reason=request.form.get("reason"), category=request.form.get("category")),
            f"{user.email} is blocked; their sessions and API tokens are ended.")

    @expose("/<int:user_id>/unblock", methods=["POST"])
    @requires("users.unblock")
    def unblock(self, user_id: int):
        user = self._target(user_id)
        reason = request.form.get("reason")
        if user.is_staff:  # a second admin approves
            return self._run(user, "users.unblock", lambda: services.propose_staff_change(
                STAFF_REQUEST_UNBLOCK, user, actor=current_user, reason=reason),
                f"Unblocking {user.email} is proposed: it takes effect when a second admin approves it.")
        return self._run(user, "users.unblock", lambda: services.unblock_user(user, actor=current_user,
                                                                               reason=reason),
                         f"{user.email} is active again.")

    @expose("/<int:user_id>/reset-2fa", methods=["POST"])
    @requires("users.reset_2fa")
    def reset_2fa(self, user_id: int):
        user = self._target(user_id)
        reason = request.form.get("reason")
        if user.is_staff:  # a second admin approves
            return self._run(user, "users.reset_2fa", lambda: services.propose_staff_change(
                STAFF_REQUEST_RESET_2FA, user, actor=current_user, reason=reason),
                f"Resetting the two-factor authentication of {user.email} is proposed: it takes effect when a "
                "second admin approves it.")
        return self._run(user, "users.reset_2fa", lambda: services.reset_2fa(user, actor=current_user,
                                                                             reason=reason),
                         f"Two-factor authentication of {user.email} is reset; they set it up again at sign-in.")

    @expose("/<int:user_id>/resend-verification", methods=["POST"])
    @requires("users.resend_verification")
    def resend_verification(self, user_id: int):
        user = self._target(user_id)
        return self._run(user, "users.resend_verification",
                         lambda: services.staff_resend_verification(user, actor=current_user),
                         f"A new verification link is on its way to {user.email}.")

    @expose("/<int:user_id>/roles", methods=["POST"])
    @requires("roles.assign")
    def roles(self, user_id: int):
        user = self._target(user_id)
        wanted = set(request.form.getlist("roles"))
        return self._run(user, "roles.assign", lambda: services.set_roles(user, wanted, actor=current_user,
                                                                          reason=request.form.get("reason")),
                         f"Roles of {user.email} are now: {', '.join(sorted(wanted))}.")

    @expose("/<int:user_id>/sessions/revoke", methods=["POST"])
    @requires("sessions.revoke")
    def revoke_sessions(self, user_id: int):
        user = self._target(user_id)
        return self._run(user, "sessions.revoke_all", lambda: services.end_sessions(
            user, actor=current_user, reason=request.form.get("reason")),
            f"Every session and API token of {user.email} is ended.")


class RoleView(SecureModelView):
    column_searchable_list = ("name", "description")
    column_filters = ("name",)
    permission = "roles.view"
    can_view_details = False
    column_list = ("name", "description", "permissions")
    column_formatters = {
        "permissions": lambda v, c, m, n: Markup(" ").join(
            Markup('<span class="badge badge-light border">{}</span>').format(p) for p in sorted(role_permissions(m.name)))
            or Markup("<span class='text-muted'>none (portal only)</span>"),
    }


class DeviceFilter(BaseSQLAFilter):
    """The kind of device, read from the user agent (app/auth/devices.py); narrow by time too on a big table."""

    def apply(self, query, value, alias=None):
        return query.filter(device_of(LoginAttempt.user_agent, LoginAttempt.channel) == value)

    def operation(self):
        return "is"

    def validate(self, value):
        return value in DEVICES

    def get_options(self, view):
        return [(d, DEVICE_LABELS[d]) for d in DEVICES]


class LoginAttemptView(BigListMixin, SecureModelView):
    """Millions of attempts: the e-mail address and the IP are matched exactly (each has an index)."""

    permission = "signins.view"
    can_view_details = False
    column_list = ("created_at", "email", "user", "success", "reason", "channel", "ip", "user_agent")
    column_sortable_list = ("created_at",)
    column_searchable_list = ("email",)  # the start of the address (indexed)
    column_filters = (*exact_filters(LoginAttempt.email, "Email"), *exact_filters(LoginAttempt.ip, "IP"),
                      *exact_filters(LoginAttempt.user_id, "User ID", integer=True),
                      *range_filters(LoginAttempt.created_at, "When"), "success",
                      *exact_filters(LoginAttempt.reason, "Reason"), *exact_filters(LoginAttempt.channel, "Channel"),
                      DeviceFilter(LoginAttempt.user_agent, "Device"))
    column_default_sort = ("id", True)
    column_labels = {"created_at": "When"}


class UserSessionView(IndexedSearch, SecureModelView):
    permission = "sessions.view"
    simple_list_pager = True
    can_view_details = False
    column_list = ("user", "created_at", "last_seen_at", "expires_at", "remember", "mfa_verified", "ip",
                   "user_agent", "revoked_at", "revoked_reason")
    column_filters = ("user_id", "revoked_at", "mfa_verified", "remember", "created_at", "ip")
    column_searchable_list = ("user_id",)  # the exact user id, or the user (IndexedSearch)
    investor_columns = ("user_id",)
    column_default_sort = ("id", True)
    column_labels = {"mfa_verified": "2FA proven"}


def register(admin) -> None:
    admin.add_view(UserView(User, db, name="Users", endpoint="users", category="People"))
    admin.add_view(RoleView(Role, db, name="Roles and permissions", endpoint="roles", category="People"))
    admin.add_view(LoginAttemptView(LoginAttempt, db, name="Sign-in attempts", endpoint="sign_ins",
                                    category="Security"))
    admin.add_view(UserSessionView(UserSession, db, name="Sessions", endpoint="sessions", category="Security"))
