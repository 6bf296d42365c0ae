"""support tickets: an investor's tickets, the conversation (replies and staff-only notes) and attached files

Revision ID: 20261206_tickets
Revises: 20261205_account
Create Date: 2026-12-06 00:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261206_tickets'
down_revision = '20261205_account'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table(
        'support_tickets',
        sa.Column('id', ID, nullable=False),
        sa.Column('user_id', ID, nullable=False),
        sa.Column('subject', sa.String(length=150), nullable=False),
        sa.Column('category', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('priority', sa.String(length=8), nullable=False),
        sa.Column('assignee_id', ID, nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_message_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('waiting_since', sa.DateTime(timezone=True), nullable=True),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('message_count', sa.Integer(), nullable=False),
        sa.CheckConstraint("status IN ('open', 'answered', 'closed')", name=op.f('ck_support_tickets_status_known')),
        sa.CheckConstraint("category IN ('account', 'deposits', 'withdrawals', 'investments', 'market', 'kyc', "
                           "'other')", name=op.f('ck_support_tickets_category_known')),
        sa.CheckConstraint("priority IN ('low', 'normal', 'high', 'urgent')",
                           name=op.f('ck_support_tickets_priority_known')),
        sa.CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)",
                           name=op.f('ck_support_tickets_closed_when_closed')),
        sa.CheckConstraint("(status = 'open') = (waiting_since IS NOT NULL)",
                           name=op.f('ck_support_tickets_waiting_when_open')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_support_tickets_user_id_users')),
        sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], name=op.f('fk_support_tickets_assignee_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_support_tickets')),
    )
    op.create_index('ix_support_tickets_user_id_id', 'support_tickets', ['user_id', 'id'], unique=False)
    op.create_index('ix_support_tickets_status_id', 'support_tickets', ['status', 'id'], unique=False)
    op.create_index(op.f('ix_support_tickets_assignee_id'), 'support_tickets', ['assignee_id'], unique=False)
    op.create_index(op.f('ix_support_tickets_waiting_since'), 'support_tickets', ['waiting_since'], unique=False)
    op.create_table(
        'support_ticket_messages',
        sa.Column('id', ID, nullable=False),
        sa.Column('ticket_id', ID, nullable=False),
        sa.Column('author_id', ID, nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('internal', sa.Boolean(), nullable=False),
        sa.Column('by_staff', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('NOT internal OR by_staff', name=op.f('ck_support_ticket_messages_notes_by_staff')),
        sa.ForeignKeyConstraint(['ticket_id'], ['support_tickets.id'], ondelete='CASCADE',
                                name=op.f('fk_support_ticket_messages_ticket_id_support_tickets')),
        sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_support_ticket_messages_author_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_support_ticket_messages')),
    )
    op.create_index('ix_support_ticket_messages_ticket_id_id', 'support_ticket_messages', ['ticket_id', 'id'],
                    unique=False)
    op.create_table(
        'support_ticket_attachments',
        sa.Column('id', ID, nullable=False),
        sa.Column('message_id', ID, nullable=False),
        sa.Column('storage_key', sa.String(length=200), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('content_type', sa.String(length=40), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['message_id'], ['support_ticket_messages.id'], ondelete='CASCADE',
                                name=op.f('fk_support_ticket_attachments_message_id_support_ticket_messages')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_support_ticket_attachments')),
        sa.UniqueConstraint('storage_key', name=op.f('uq_support_ticket_attachments_storage_key')),
    )
    op.create_index(op.f('ix_support_ticket_attachments_message_id'), 'support_ticket_attachments', ['message_id'],
                    unique=False)


def downgrade():
    op.drop_index(op.f('ix_support_ticket_attachments_message_id'), table_name='support_ticket_attachments')
    op.drop_table('support_ticket_attachments')
    op.drop_index('ix_support_ticket_messages_ticket_id_id', table_name='support_ticket_messages')
    op.drop_table('support_ticket_messages')
    op.drop_index(op.f('ix_support_tickets_waiting_since'), table_name='support_tickets')
    op.drop_index(op.f('ix_support_tickets_assignee_id'), table_name='support_tickets')
    op.drop_index('ix_support_tickets_status_id', table_name='support_tickets')
    op.drop_index('ix_support_tickets_user_id_id', table_name='support_tickets')
    op.drop_table('support_tickets')
