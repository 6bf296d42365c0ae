"""return_notices: what a distribution run paid each investor, told once

Revision ID: 20261205_return_notices
Revises: 20261205_user_locale
Create Date: 2026-12-05 01:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261205_return_notices'
down_revision = '20261205_user_locale'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table(
        'return_notices',
        sa.Column('id', ID, nullable=False),
        sa.Column('run_id', ID, nullable=False),
        sa.Column('user_id', ID, nullable=False),
        sa.Column('payments', sa.Integer(), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('capital', sa.BigInteger(), nullable=False),
        sa.Column('details', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['run_id'], ['distribution_runs.id'], name=op.f('fk_return_notices_run_id_distribution_runs')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_return_notices_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_return_notices')),
        sa.UniqueConstraint('run_id', 'user_id', name='uq_return_notices_run_id_user_id'),
    )
    with op.batch_alter_table('return_notices') as batch_op:
        batch_op.create_index(batch_op.f('ix_return_notices_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_return_notices_sent_at'), ['sent_at'], unique=False)


def downgrade():
    with op.batch_alter_table('return_notices') as batch_op:
        batch_op.drop_index(batch_op.f('ix_return_notices_sent_at'))
        batch_op.drop_index(batch_op.f('ix_return_notices_user_id'))
    op.drop_table('return_notices')
