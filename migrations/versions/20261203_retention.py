"""the body of a webhook event processed long ago may be emptied by the retention job: webhook_inbox.payload is
nullable

Revision ID: 20261203_retention
Revises: 20261203_declared_waiting
Create Date: 2026-12-03 13:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261203_retention'
down_revision = '20261203_declared_waiting'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('webhook_inbox', schema=None) as batch_op:
        batch_op.alter_column('payload', existing_type=sa.JSON(), nullable=True)


def downgrade():
    op.execute("UPDATE webhook_inbox SET payload = '{}' WHERE payload IS NULL")
    with op.batch_alter_table('webhook_inbox', schema=None) as batch_op:
        batch_op.alter_column('payload', existing_type=sa.JSON(), nullable=False)
