"""balance adjustments: a credit or debit of a wallet proposed by one finance user and approved by another

Revision ID: 20261204_adjustments
Revises: 20261203_market
Create Date: 2026-12-04 09:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261204_adjustments'
down_revision = '20261203_market'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table('balance_adjustments',
    sa.Column('user_id', ID, nullable=False),
    sa.Column('direction', sa.String(length=6), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('attachment_key', sa.String(length=512), nullable=True),
    sa.Column('attachment_type', sa.String(length=100), nullable=True),
    sa.Column('attachment_size', sa.Integer(), nullable=True),
    sa.Column('attachment_sha256', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('proposed_by_id', ID, nullable=False),
    sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by_id', ID, nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.Column('entry_id', ID, nullable=True),
    sa.Column('id', ID, nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_balance_adjustments_amount_positive')),
    sa.CheckConstraint("status in ('proposed', 'approved', 'rejected', 'cancelled')",
                       name=op.f('ck_balance_adjustments_status_valid')),
    sa.CheckConstraint("direction in ('credit', 'debit')", name=op.f('ck_balance_adjustments_direction_valid')),
    sa.CheckConstraint('proposed_by_id <> user_id', name=op.f('ck_balance_adjustments_not_own_wallet')),
    sa.CheckConstraint('decided_by_id IS NULL OR (decided_by_id <> proposed_by_id AND decided_by_id <> user_id)',
                       name=op.f('ck_balance_adjustments_four_eyes')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_balance_adjustments_decided_by_id_users')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entries.id'],
                            name=op.f('fk_balance_adjustments_entry_id_ledger_entries')),
    sa.ForeignKeyConstraint(['proposed_by_id'], ['users.id'], name=op.f('fk_balance_adjustments_proposed_by_id_users')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_balance_adjustments_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_balance_adjustments')),
    sa.UniqueConstraint('entry_id', name=op.f('uq_balance_adjustments_entry_id'))
    )
    with op.batch_alter_table('balance_adjustments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_balance_adjustments_proposed_at'), ['proposed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_balance_adjustments_proposed_by_id'), ['proposed_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_balance_adjustments_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_balance_adjustments_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('balance_adjustments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_balance_adjustments_user_id'))
        batch_op.drop_index(batch_op.f('ix_balance_adjustments_status'))
        batch_op.drop_index(batch_op.f('ix_balance_adjustments_proposed_by_id'))
        batch_op.drop_index(batch_op.f('ix_balance_adjustments_proposed_at'))
    op.drop_table('balance_adjustments')
