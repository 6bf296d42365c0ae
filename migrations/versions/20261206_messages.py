"""messages from staff to one investor or a segment, and their recipients

Revision ID: 20261206_messages
Revises: 20261205_account
Create Date: 2026-12-06 00:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261206_messages'
down_revision = '20261205_account'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table('staff_messages',
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('send_email', sa.Boolean(), nullable=False),
    sa.Column('segment', sa.String(length=20), nullable=False),
    sa.Column('target_user_id', ID, nullable=True),
    sa.Column('property_id', ID, nullable=True),
    sa.Column('inactive_days', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('confirmed_count', sa.Integer(), nullable=True),
    sa.Column('recipients_total', sa.Integer(), nullable=True),
    sa.Column('sent_count', sa.Integer(), nullable=False),
    sa.Column('skipped_count', sa.Integer(), nullable=False),
    sa.Column('proposed_by_id', ID, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('approved_by_id', ID, nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_by_id', ID, nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('id', ID, nullable=False),
    sa.CheckConstraint("status in ('draft', 'awaiting_approval', 'approved', 'sending', 'sent', 'cancelled', "
                       "'failed')", name=op.f('ck_staff_messages_status_valid')),
    sa.CheckConstraint("segment in ('investor', 'property', 'kyc_pending', 'kyc_not_started', 'inactive')",
                       name=op.f('ck_staff_messages_segment_valid')),
    sa.CheckConstraint('approved_by_id IS NULL OR approved_by_id <> proposed_by_id',
                       name=op.f('ck_staff_messages_four_eyes')),
    sa.CheckConstraint('inactive_days IS NULL OR (inactive_days >= 1 AND inactive_days <= 3650)',
                       name=op.f('ck_staff_messages_inactive_days_range')),
    sa.CheckConstraint('sent_count >= 0 AND skipped_count >= 0', name=op.f('ck_staff_messages_counts_positive')),
    sa.ForeignKeyConstraint(['approved_by_id'], ['users.id'], name=op.f('fk_staff_messages_approved_by_id_users')),
    sa.ForeignKeyConstraint(['cancelled_by_id'], ['users.id'], name=op.f('fk_staff_messages_cancelled_by_id_users')),
    sa.ForeignKeyConstraint(['property_id'], ['properties.id'], name=op.f('fk_staff_messages_property_id_properties')),
    sa.ForeignKeyConstraint(['proposed_by_id'], ['users.id'], name=op.f('fk_staff_messages_proposed_by_id_users')),
    sa.ForeignKeyConstraint(['target_user_id'], ['users.id'], name=op.f('fk_staff_messages_target_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_messages'))
    )
    with op.batch_alter_table('staff_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_messages_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_staff_messages_proposed_by_id'), ['proposed_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_staff_messages_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_staff_messages_target_user_id'), ['target_user_id'], unique=False)

    op.create_table('staff_message_recipients',
    sa.Column('message_id', ID, nullable=False),
    sa.Column('user_id', ID, nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('skipped', sa.Boolean(), nullable=False),
    sa.Column('notification_id', ID, nullable=True),
    sa.Column('id', ID, nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['staff_messages.id'],
                            name=op.f('fk_staff_message_recipients_message_id_staff_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'],
                            name=op.f('fk_staff_message_recipients_notification_id_notifications'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_staff_message_recipients_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_message_recipients')),
    sa.UniqueConstraint('message_id', 'user_id', name=op.f('uq_staff_message_recipients_message_id_user_id'))
    )
    with op.batch_alter_table('staff_message_recipients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_message_recipients_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('staff_message_recipients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_message_recipients_user_id'))
    op.drop_table('staff_message_recipients')
    with op.batch_alter_table('staff_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_messages_target_user_id'))
        batch_op.drop_index(batch_op.f('ix_staff_messages_status'))
        batch_op.drop_index(batch_op.f('ix_staff_messages_proposed_by_id'))
        batch_op.drop_index(batch_op.f('ix_staff_messages_created_at'))
    op.drop_table('staff_messages')
