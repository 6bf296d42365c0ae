"""indexes for the portfolio: a user's unpaid return periods by due date (the next return), and declared
distribution shares by investment (returns earned per holding)

Revision ID: 20261203_web_indexes
Revises: 20261203_list_indexes
Create Date: 2026-12-03 15:21:10.827441

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261203_web_indexes'
down_revision = '20261203_list_indexes'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('distribution_shares', schema=None) as batch_op:
        batch_op.create_index('ix_distribution_shares_investment_id', ['investment_id'], unique=False)

    with op.batch_alter_table('return_schedule', schema=None) as batch_op:
        batch_op.create_index('ix_return_schedule_user_id_due_on', ['user_id', 'due_on'], unique=False)


def downgrade():
    with op.batch_alter_table('return_schedule', schema=None) as batch_op:
        batch_op.drop_index('ix_return_schedule_user_id_due_on')

    with op.batch_alter_table('distribution_shares', schema=None) as batch_op:
        batch_op.drop_index('ix_distribution_shares_investment_id')
