"""account_statements: investors' statements (a year or a range of days), prepared by a task as a PDF and a CSV

Revision ID: 20261205_statements
Revises: 20261205_user_locale
Create Date: 2026-12-05 00:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261205_statements'
down_revision = '20261205_user_locale'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'account_statements',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('first_day', sa.Date(), nullable=False),
        sa.Column('last_day', sa.Date(), nullable=False),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('active_key', sa.String(length=60), nullable=True),
        sa.Column('progress_done', sa.Integer(), nullable=False),
        sa.Column('progress_total', sa.Integer(), nullable=False),
        sa.Column('pdf_key', sa.String(length=200), nullable=True),
        sa.Column('csv_key', sa.String(length=200), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('locale', sa.String(length=8), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint('first_day <= last_day', name=op.f('ck_account_statements_range_in_order')),
        sa.CheckConstraint('progress_done >= 0 AND progress_done <= progress_total',
                           name=op.f('ck_account_statements_progress_in_range')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_account_statements_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_account_statements')),
        sa.UniqueConstraint('active_key', name=op.f('uq_account_statements_active_key')),
    )
    op.create_index('ix_account_statements_user_id_created_at', 'account_statements', ['user_id', 'created_at'],
                    unique=False)


def downgrade():
    op.drop_index('ix_account_statements_user_id_created_at', table_name='account_statements')
    op.drop_table('account_statements')
