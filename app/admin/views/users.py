"""Users: search and read. Blocking, roles and 2FA resets come as audited actions."""
from markupsafe import Markup, escape

from app.admin.base import SecureModelView
from app.auth.models import Role, User
from app.extensions import db


class UserView(SecureModelView):
    column_list = ("id", "email", "first_name", "last_name", "roles", "status", "email_verified", "totp_enabled",
                   "last_login_at", "created_at")
    column_details_list = column_list + ("email_verified_at", "updated_at")
    column_searchable_list = ("email", "first_name", "last_name")
    column_filters = ("status", "email_verified", "totp_enabled", "roles.name", "created_at")
    column_sortable_list = ("id", "email", "status", "created_at", "last_login_at")
    column_default_sort = ("id", True)
    column_labels = {"totp_enabled": "2FA", "roles.name": "Role"}
    column_formatters = {
        "roles": lambda v, c, m, n: Markup(" ".join(
            f'<span class="badge badge-secondary">{escape(r.name)}</span>' for r in m.roles)),
    }


class RoleView(SecureModelView):
    column_list = ("name", "description")
    can_view_details = False


def register(admin) -> None:
    admin.add_view(UserView(User, db, name="Users", endpoint="users", category="People"))
    admin.add_view(RoleView(Role, db, name="Roles", endpoint="roles", category="People"))
