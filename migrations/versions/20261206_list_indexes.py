"""Indexes that answer the console's prefix search on big tables (PostgreSQL): lower(column) text_pattern_ops

Revision ID: 20261206_list_indexes
Revises: 20261205_account
Create Date: 2026-12-06 00:00:00

The console searches big tables by the start of a value (app/admin/list_search.py: lower(column) LIKE 'term%').
On PostgreSQL only an index on lower(column) with text_pattern_ops answers that whatever the database's collation.
SQLite (development) has no such operator class and keeps its tables small: nothing to do there. The models do not
declare these indexes (SQLAlchemy cannot express the operator class portably): migrations/env.py lists them among
the database-only objects the drift check leaves alone.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261206_list_indexes'
down_revision = '20261205_account'
branch_labels = None
depends_on = None

# (index, table, column); app.admin.list_search.PREFIX_INDEXED names the same columns
PREFIX_INDEXES = (
    ("ix_users_email_prefix", "users", "email"),
    ("ix_users_first_name_prefix", "users", "first_name"),
    ("ix_users_last_name_prefix", "users", "last_name"),
    ("ix_login_attempts_email_prefix", "login_attempts", "email"),
    ("ix_audit_log_actor_email_prefix", "audit_log", "actor_email"),
    ("ix_ledger_entries_idempotency_key_prefix", "ledger_entries", "idempotency_key"),
    ("ix_notification_deliveries_to_address_prefix", "notification_deliveries", "to_address"),
    ("ix_deposits_gateway_reference_prefix", "deposits", "gateway_reference"),
)


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, column in PREFIX_INDEXES:
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} (lower({column}) text_pattern_ops)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, _table, _column in PREFIX_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
