"""the investor's own account: one head again over the separate revisions of its parts (profile, social
sign-in, return notices, statements, closing), which each start from the users' locale

Revision ID: 20261205_account
Revises: 20261205_profile, 20261205_social, 20261205_return_notices, 20261205_statements, 20261205_closing
Create Date: 2026-12-05 00:00:00

"""

# revision identifiers, used by Alembic.
revision = '20261205_account'
down_revision = ('20261205_profile', '20261205_social', '20261205_return_notices', '20261205_statements',
                 '20261205_closing')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
