"""declared distributions remember that their payment was asked for: one that the distributions account does not
cover waits (approved, unpaid) and is paid by a later run once funded

Revision ID: 20261203_declared_waiting
Revises: 20261203_operator_funding
Create Date: 2026-12-03 12:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261203_declared_waiting'
down_revision = '20261203_operator_funding'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('declared_distributions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_requested_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('payment_requested_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      nullable=True))
        batch_op.create_foreign_key('fk_declared_distributions_payment_requested_by_id_users', 'users',
                                    ['payment_requested_by_id'], ['id'])


def downgrade():
    with op.batch_alter_table('declared_distributions', schema=None) as batch_op:
        batch_op.drop_constraint('fk_declared_distributions_payment_requested_by_id_users', type_='foreignkey')
        batch_op.drop_column('payment_requested_by_id')
        batch_op.drop_column('payment_requested_at')
