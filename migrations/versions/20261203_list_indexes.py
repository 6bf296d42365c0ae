"""indexes behind the console's big lists: what their sorting and filters use (audit trail by actor and target,
investments by date, sign-in attempts by time and e-mail address)

On PostgreSQL each index is built CONCURRENTLY, outside the migration's transaction: the tables stay writable
while it is built (audit records and sign-in attempts keep coming). An interrupted build leaves an invalid index
behind: drop it and run the upgrade again.

Revision ID: 20261203_list_indexes
Revises: 20261203_alerts
Create Date: 2026-12-03 14:39:24.820736

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261203_list_indexes'
down_revision = '20261203_alerts'
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_audit_log_actor_email", "audit_log", ["actor_email"]),
    ("ix_audit_log_target_id", "audit_log", ["target_id"]),
    ("ix_audit_log_target_type", "audit_log", ["target_type"]),
    ("ix_investments_invested_on", "investments", ["invested_on"]),
    ("ix_login_attempts_created_at", "login_attempts", ["created_at"]),
    ("ix_login_attempts_email", "login_attempts", ["email"]),
]


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    if _postgres():
        with op.get_context().autocommit_block():
            for name, table, columns in INDEXES:
                op.create_index(name, table, columns, unique=False, postgresql_concurrently=True)
        return
    for name, table, columns in INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, columns, unique=False)


def downgrade():
    if _postgres():
        with op.get_context().autocommit_block():
            for name, table, _columns in reversed(INDEXES):
                op.drop_index(name, table_name=table, postgresql_concurrently=True)
        return
    for name, table, _columns in reversed(INDEXES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
