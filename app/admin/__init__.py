"""The admin console (Flask-Admin 2, Bootstrap 4 theme), built per app instance."""
from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from app.admin.dashboard import DashboardView
from app.admin.views import (
    adjustments,
    alerts,
    audit,
    bank_statements,
    closures,
    declared,
    disputes,
    distributions,
    exports,
    funding,
    investments,
    kyc,
    ledger,
    market,
    messages,
    name_changes,
    notifications,
    ops_jobs,
    payments,
    payouts,
    periods,
    properties,
    reports,
    settings,
    staff_requests,
    tickets,
    user_tools,
    users,
)
from app.core.headers import csp_nonce


def init_admin(app: Flask) -> Admin:
    admin = Admin(
        app,
        name="Freehold console",
        index_view=DashboardView(name="Dashboard", url="/admin"),
        theme=Bootstrap4Theme(swatch="default", fluid=True),
        csp_nonce_generator=csp_nonce,  # Flask-Admin's own <script> and <link> tags carry the request's nonce
    )
    for module in (users, user_tools, staff_requests, closures, kyc, name_changes, properties, investments, declared, distributions, funding, payments,
                   disputes, payouts, market, bank_statements, adjustments, reports, settings, ledger, periods,
                   notifications, messages, tickets, ops_jobs, audit, alerts, exports):
        module.register(admin)
    return admin
