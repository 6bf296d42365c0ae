"""card-funds hold: the part of each card deposit still held back from payouts and the market

Revision ID: 20261204_card_funds
Revises: 20261203_market
Create Date: 2026-12-04 00:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261204_card_funds'
down_revision = '20261203_market'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('card_fund_locks',
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('deposit_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('remaining', sa.BigInteger(), nullable=False),
    sa.Column('invested', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('releases_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_card_fund_locks_amount_positive')),
    sa.CheckConstraint('remaining >= 0 AND remaining <= amount', name=op.f('ck_card_fund_locks_remaining_within')),
    sa.CheckConstraint('invested >= 0 AND invested <= amount', name=op.f('ck_card_fund_locks_invested_within')),
    sa.ForeignKeyConstraint(['deposit_id'], ['deposits.id'], name=op.f('fk_card_fund_locks_deposit_id_deposits')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_card_fund_locks_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_card_fund_locks')),
    sa.UniqueConstraint('deposit_id', name=op.f('uq_card_fund_locks_deposit_id'))
    )
    with op.batch_alter_table('card_fund_locks', schema=None) as batch_op:
        batch_op.create_index('ix_card_fund_locks_user_id_releases_at', ['user_id', 'releases_at'], unique=False)


def downgrade():
    with op.batch_alter_table('card_fund_locks', schema=None) as batch_op:
        batch_op.drop_index('ix_card_fund_locks_user_id_releases_at')
    op.drop_table('card_fund_locks')
