"""Staff API tokens (api_tokens.staff) and the archived status of properties

Revision ID: 20261206_staff_api
Revises: 20261205_account
Create Date: 2026-12-06 00:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261206_staff_api'
down_revision = '20261205_account'
branch_labels = None
depends_on = None

OLD = "status in ('draft', 'active', 'funded', 'completed', 'cancelled')"
NEW = "status in ('draft', 'active', 'funded', 'completed', 'cancelled', 'archived')"


def upgrade():
    with op.batch_alter_table('api_tokens') as batch_op:
        batch_op.add_column(sa.Column('staff', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('properties') as batch_op:
        batch_op.drop_constraint(op.f('ck_properties_status_valid'), type_='check')
        batch_op.create_check_constraint(op.f('ck_properties_status_valid'), NEW)


def downgrade():
    op.execute("UPDATE properties SET status = 'cancelled' WHERE status = 'archived'")
    with op.batch_alter_table('properties') as batch_op:
        batch_op.drop_constraint(op.f('ck_properties_status_valid'), type_='check')
        batch_op.create_check_constraint(op.f('ck_properties_status_valid'), OLD)
    with op.batch_alter_table('api_tokens') as batch_op:
        batch_op.drop_column('staff')
