"""export_jobs: console list exports written in the background; distribution_runs.planned, the payments a run
expects (its progress)

Revision ID: 20261206_exports
Revises: 20261205_account
Create Date: 2026-12-06 00:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261206_exports'
down_revision = '20261205_account'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'export_jobs',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('endpoint', sa.String(length=80), nullable=False),
        sa.Column('view_name', sa.String(length=120), nullable=False),
        sa.Column('fmt', sa.String(length=8), nullable=False),
        sa.Column('query_string', sa.Text(), nullable=False),
        sa.Column('filename', sa.String(length=200), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('rows_done', sa.Integer(), nullable=False),
        sa.Column('rows_total', sa.Integer(), nullable=False),
        sa.Column('file_key', sa.String(length=200), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status in ('queued', 'running', 'done', 'failed')",
                           name=op.f('ck_export_jobs_status_valid')),
        sa.CheckConstraint("fmt in ('csv', 'xlsx')", name=op.f('ck_export_jobs_fmt_valid')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_export_jobs_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_export_jobs')),
    )
    op.create_index('ix_export_jobs_user_id_created_at', 'export_jobs', ['user_id', 'created_at'], unique=False)
    with op.batch_alter_table('distribution_runs') as batch:
        batch.add_column(sa.Column('planned', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('distribution_runs') as batch:
        batch.drop_column('planned')
    op.drop_index('ix_export_jobs_user_id_created_at', table_name='export_jobs')
    op.drop_table('export_jobs')
