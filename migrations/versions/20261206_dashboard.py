"""dashboard: indexes for the history's weekly reads (users by the day they were opened, KYC cases by the day decided)

Revision ID: 20261206_dashboard
Revises: 20261205_account
Create Date: 2026-12-06 00:00:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261206_dashboard'
down_revision = '20261205_account'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_users_created_at', 'users', ['created_at'], unique=False)
    op.create_index('ix_kyc_submissions_decided_at', 'kyc_submissions', ['decided_at'], unique=False)


def downgrade():
    op.drop_index('ix_kyc_submissions_decided_at', table_name='kyc_submissions')
    op.drop_index('ix_users_created_at', table_name='users')
