"""your data and leaving: data exports, closed accounts, staff closure requests, neutral ledger account names

- data_exports: "Download my data" archives, one being prepared per user at a time.
- users.status may be 'closed'; users.closed_at.
- closure_requests: staff closing an investor's account on request, approved by a second staff member.
- ledger_accounts.name of users' wallet and held accounts: "wallet:user:<id>" / "held:user:<id>" instead of a name
  carrying the e-mail address (the owner is derived from the user when shown).

Revision ID: 20261205_closing
Revises: 20261205_user_locale
Create Date: 2026-12-05 01:00:00

"""
import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
IN_PROGRESS = "status in ('queued', 'running')"

# revision identifiers, used by Alembic.
revision = '20261205_closing'
down_revision = '20261205_user_locale'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f('ck_users_status_valid'), type_='check')
        batch_op.create_check_constraint(op.f('ck_users_status_valid'), "status in ('active', 'blocked', 'closed')")

    op.create_table('data_exports',
    sa.Column('user_id', ID, nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('sections_done', sa.Integer(), nullable=False),
    sa.Column('sections_total', sa.Integer(), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('storage_key', sa.String(length=300), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', ID, nullable=False),
    sa.CheckConstraint("status in ('queued', 'running', 'ready', 'failed', 'expired')",
                       name=op.f('ck_data_exports_status_valid')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_data_exports_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_exports'))
    )
    with op.batch_alter_table('data_exports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_exports_user_id'), ['user_id'], unique=False)
        batch_op.create_index('ix_data_exports_status_expires_at', ['status', 'expires_at'], unique=False)
        batch_op.create_index('ix_data_exports_one_in_progress', ['user_id'], unique=True,
                              postgresql_where=sa.text(IN_PROGRESS), sqlite_where=sa.text(IN_PROGRESS))

    op.create_table('closure_requests',
    sa.Column('target_id', ID, nullable=False),
    sa.Column('proposer_id', ID, nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decided_by_id', ID, nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.Column('id', ID, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status in ('pending', 'approved', 'rejected', 'cancelled')",
                       name=op.f('ck_closure_requests_status_valid')),
    sa.CheckConstraint('proposer_id <> target_id', name=op.f('ck_closure_requests_not_about_the_proposer')),
    sa.CheckConstraint('decided_by_id IS NULL OR decided_by_id <> target_id',
                       name=op.f('ck_closure_requests_not_decided_by_the_target')),
    sa.CheckConstraint("status <> 'approved' OR decided_by_id <> proposer_id",
                       name=op.f('ck_closure_requests_two_different_people')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_closure_requests_decided_by_id_users')),
    sa.ForeignKeyConstraint(['proposer_id'], ['users.id'], name=op.f('fk_closure_requests_proposer_id_users')),
    sa.ForeignKeyConstraint(['target_id'], ['users.id'], name=op.f('fk_closure_requests_target_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_closure_requests'))
    )
    with op.batch_alter_table('closure_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_closure_requests_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_closure_requests_target_id'), ['target_id'], unique=False)
        batch_op.create_index('ix_closure_requests_one_pending', ['target_id'], unique=True,
                              postgresql_where=sa.text("status = 'pending'"),
                              sqlite_where=sa.text("status = 'pending'"))

    # users' ledger accounts stop carrying the e-mail address in their names
    op.execute("UPDATE ledger_accounts SET name = 'wallet:user:' || CAST(user_id AS VARCHAR) "
               "WHERE kind = 'user_wallet'")
    op.execute("UPDATE ledger_accounts SET name = 'held:user:' || CAST(user_id AS VARCHAR) "
               "WHERE kind = 'user_held'")


def downgrade():
    op.execute("UPDATE ledger_accounts SET name = 'Wallet of ' || (SELECT email FROM users "
               "WHERE users.id = ledger_accounts.user_id) WHERE kind = 'user_wallet'")
    op.execute("UPDATE ledger_accounts SET name = 'Held of ' || (SELECT email FROM users "
               "WHERE users.id = ledger_accounts.user_id) WHERE kind = 'user_held'")
    with op.batch_alter_table('closure_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_closure_requests_one_pending', postgresql_where=sa.text("status = 'pending'"),
                            sqlite_where=sa.text("status = 'pending'"))
        batch_op.drop_index(batch_op.f('ix_closure_requests_target_id'))
        batch_op.drop_index(batch_op.f('ix_closure_requests_status'))
    op.drop_table('closure_requests')
    with op.batch_alter_table('data_exports', schema=None) as batch_op:
        batch_op.drop_index('ix_data_exports_one_in_progress', postgresql_where=sa.text(IN_PROGRESS),
                            sqlite_where=sa.text(IN_PROGRESS))
        batch_op.drop_index('ix_data_exports_status_expires_at')
        batch_op.drop_index(batch_op.f('ix_data_exports_user_id'))
    op.drop_table('data_exports')
    op.execute("UPDATE users SET status = 'blocked', block_category = 'request' WHERE status = 'closed'")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_users_status_valid'), type_='check')
        batch_op.create_check_constraint(op.f('ck_users_status_valid'), "status in ('active', 'blocked')")
        batch_op.drop_column('closed_at')
