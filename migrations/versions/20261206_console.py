"""the console for daily work: one head again over the separate revisions of its parts (dashboard indexes, list
search indexes, background exports and run progress, profile edits and view-as, staff messages, support tickets,
staff API tokens and archived offerings), which each start from the investor's own account

Revision ID: 20261206_console
Revises: 20261206_dashboard, 20261206_list_indexes, 20261206_exports, 20261206_profile_edits, 20261206_messages,
    20261206_tickets, 20261206_staff_api
Create Date: 2026-12-06 00:00:00

"""

# revision identifiers, used by Alembic.
revision = '20261206_console'
down_revision = ('20261206_dashboard', '20261206_list_indexes', '20261206_exports', '20261206_profile_edits',
                 '20261206_messages', '20261206_tickets', '20261206_staff_api')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
