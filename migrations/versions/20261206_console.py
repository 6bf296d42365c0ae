"""the console for daily work: one head again over the separate revisions of its parts (dashboard indexes, list
search indexes, background exports and run progress, profile edits and view-as, staff messages, support tickets,
staff API tokens and archived offerings), which each start from the investor's own account

Revision ID: 20261206_console
Revises: 20261206_dashboard, 20261206_list_indexes, 20261206_exports, 20261206_profile_edits, 20261206_messages,
    20261206_tickets, 20261206_staff_api
Create Date: 2026-12-06 00:00:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = '20261206_console'
down_revision = ('20261206_dashboard', '20261206_list_indexes', '20261206_exports', '20261206_profile_edits',
                 '20261206_messages', '20261206_tickets', '20261206_staff_api')
branch_labels = None
depends_on = None


def upgrade():
    # the support queue searches subjects by their start, as the big lists do (20261206_list_indexes); the tickets'
    # table exists only once both parents ran
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX IF NOT EXISTS ix_support_tickets_subject_prefix "
                   "ON support_tickets (lower(subject) text_pattern_ops)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_support_tickets_subject_prefix")
