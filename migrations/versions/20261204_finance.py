"""finance operations: one head again over the separate revisions of its parts (bank statements, balance
adjustments, ...), which each start from the market's revision

Revision ID: 20261204_finance
Revises: 20261204_bank_statements, 20261204_adjustments, 20261204_disputes, 20261204_card_funds,
    20261204_periods
Create Date: 2026-12-04 00:00:00

"""

# revision identifiers, used by Alembic.
revision = '20261204_finance'
down_revision = ('20261204_bank_statements', '20261204_adjustments', '20261204_disputes',
                 '20261204_card_funds', '20261204_periods')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
