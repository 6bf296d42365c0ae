"""a hierarchy among staff: block categories and two-admin requests on staff accounts

- users.block_category: why a blocked account is blocked (compliance, security, at the user's request); it
  decides who may lift the block. Accounts blocked before this revision become security blocks.
- staff_action_requests: resetting a staff member's two-factor authentication or unblocking a staff account,
  proposed by one admin and applied when a different admin approves; one pending request per account and action.

Revision ID: 20261203_staff_hierarchy
Revises: 0011_calendar_consumed
Create Date: 2026-12-03 07:45:00.000000

"""
import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

# revision identifiers, used by Alembic.
revision = '20261203_staff_hierarchy'
down_revision = '0011_calendar_consumed'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('block_category', sa.String(length=16), nullable=True))
        batch_op.create_check_constraint(
            'ck_users_block_category_valid',
            "block_category IS NULL OR block_category in ('compliance', 'security', 'request')")
    op.execute("UPDATE users SET block_category = 'security' WHERE status = 'blocked'")

    op.create_table('staff_action_requests',
    sa.Column('action', sa.String(length=16), nullable=False),
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
    sa.CheckConstraint("action in ('reset_2fa', 'unblock')", name=op.f('ck_staff_action_requests_action_valid')),
    sa.CheckConstraint("status in ('pending', 'approved', 'rejected', 'cancelled')",
                       name=op.f('ck_staff_action_requests_status_valid')),
    sa.CheckConstraint('proposer_id <> target_id', name=op.f('ck_staff_action_requests_not_about_the_proposer')),
    sa.CheckConstraint('decided_by_id IS NULL OR decided_by_id <> target_id',
                       name=op.f('ck_staff_action_requests_not_decided_by_the_target')),
    sa.CheckConstraint("status <> 'approved' OR decided_by_id <> proposer_id",
                       name=op.f('ck_staff_action_requests_two_different_admins')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'],
                            name=op.f('fk_staff_action_requests_decided_by_id_users')),
    sa.ForeignKeyConstraint(['proposer_id'], ['users.id'], name=op.f('fk_staff_action_requests_proposer_id_users')),
    sa.ForeignKeyConstraint(['target_id'], ['users.id'], name=op.f('fk_staff_action_requests_target_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_action_requests'))
    )
    with op.batch_alter_table('staff_action_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_action_requests_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_staff_action_requests_target_id'), ['target_id'], unique=False)
        batch_op.create_index('ix_staff_action_requests_one_pending', ['target_id', 'action'], unique=True,
                              postgresql_where=sa.text("status = 'pending'"),
                              sqlite_where=sa.text("status = 'pending'"))


def downgrade():
    with op.batch_alter_table('staff_action_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_staff_action_requests_one_pending', postgresql_where=sa.text("status = 'pending'"),
                            sqlite_where=sa.text("status = 'pending'"))
        batch_op.drop_index(batch_op.f('ix_staff_action_requests_target_id'))
        batch_op.drop_index(batch_op.f('ix_staff_action_requests_status'))
    op.drop_table('staff_action_requests')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint('ck_users_block_category_valid', type_='check')
        batch_op.drop_column('block_category')
