"""support viewing an investor's portal read-only: the viewings and the pages seen during them

Revision ID: 20261206_profile_edits
Revises: 20261205_account
Create Date: 2026-12-06 00:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261206_profile_edits'
down_revision = '20261205_account'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table('view_as_sessions',
    sa.Column('staff_id', ID, nullable=False),
    sa.Column('user_id', ID, nullable=False),
    sa.Column('staff_session_id', ID, nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=16), nullable=True),
    sa.Column('id', ID, nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['users.id'], name=op.f('fk_view_as_sessions_staff_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_view_as_sessions_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_session_id'], ['user_sessions.id'], name=op.f('fk_view_as_sessions_staff_session_id_user_sessions'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_view_as_sessions'))
    )
    with op.batch_alter_table('view_as_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_view_as_sessions_staff_id'), ['staff_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_view_as_sessions_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_view_as_sessions_started_at'), ['started_at'], unique=False)

    op.create_table('view_as_pages',
    sa.Column('view_as_id', ID, nullable=False),
    sa.Column('endpoint', sa.String(length=80), nullable=False),
    sa.Column('path', sa.String(length=300), nullable=False),
    sa.Column('viewed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', ID, nullable=False),
    sa.ForeignKeyConstraint(['view_as_id'], ['view_as_sessions.id'], name=op.f('fk_view_as_pages_view_as_id_view_as_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_view_as_pages'))
    )
    with op.batch_alter_table('view_as_pages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_view_as_pages_view_as_id'), ['view_as_id'], unique=False)


def downgrade():
    with op.batch_alter_table('view_as_pages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_view_as_pages_view_as_id'))
    op.drop_table('view_as_pages')
    with op.batch_alter_table('view_as_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_view_as_sessions_started_at'))
        batch_op.drop_index(batch_op.f('ix_view_as_sessions_user_id'))
        batch_op.drop_index(batch_op.f('ix_view_as_sessions_staff_id'))
    op.drop_table('view_as_sessions')
