"""disputes and chargebacks: one row per (provider, dispute id) with its held and receivable parts, and finance's notes

Revision ID: 20261204_disputes
Revises: 20261203_market
Create Date: 2026-12-03 22:06:24.429185

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261204_disputes'
down_revision = '20261203_market'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('disputes',
    sa.Column('provider', sa.String(length=30), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('deposit_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('reason', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('provider_status', sa.String(length=40), nullable=True),
    sa.Column('evidence_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('held', sa.BigInteger(), nullable=False),
    sa.Column('receivable', sa.BigInteger(), nullable=False),
    sa.Column('hold_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('receivable_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('reversal_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('booked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attention_reason', sa.String(length=500), nullable=True),
    sa.Column('attention_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status in ('open', 'won', 'lost')", name=op.f('ck_disputes_status_valid')),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_disputes_amount_not_negative')),
    sa.CheckConstraint('held >= 0 AND receivable >= 0', name=op.f('ck_disputes_parts_not_negative')),
    sa.ForeignKeyConstraint(['deposit_id'], ['deposits.id'], name=op.f('fk_disputes_deposit_id_deposits')),
    sa.ForeignKeyConstraint(['hold_id'], ['ledger_holds.id'], name=op.f('fk_disputes_hold_id_ledger_holds')),
    sa.ForeignKeyConstraint(['receivable_id'], ['receivables.id'], name=op.f('fk_disputes_receivable_id_receivables')),
    sa.ForeignKeyConstraint(['reversal_entry_id'], ['ledger_entries.id'], name=op.f('fk_disputes_reversal_entry_id_ledger_entries')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_disputes_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disputes')),
    sa.UniqueConstraint('hold_id', name=op.f('uq_disputes_hold_id')),
    sa.UniqueConstraint('provider', 'external_id', name='uq_disputes_provider_external_id'),
    sa.UniqueConstraint('receivable_id', name=op.f('uq_disputes_receivable_id')),
    sa.UniqueConstraint('reversal_entry_id', name=op.f('uq_disputes_reversal_entry_id'))
    )
    with op.batch_alter_table('disputes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disputes_deposit_id'), ['deposit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_disputes_opened_at'), ['opened_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_disputes_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_disputes_user_id'), ['user_id'], unique=False)

    op.create_table('dispute_notes',
    sa.Column('dispute_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('author_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_dispute_notes_author_id_users')),
    sa.ForeignKeyConstraint(['dispute_id'], ['disputes.id'], name=op.f('fk_dispute_notes_dispute_id_disputes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispute_notes'))
    )
    with op.batch_alter_table('dispute_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dispute_notes_dispute_id'), ['dispute_id'], unique=False)



def downgrade():
    with op.batch_alter_table('dispute_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dispute_notes_dispute_id'))

    op.drop_table('dispute_notes')
    with op.batch_alter_table('disputes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_disputes_user_id'))
        batch_op.drop_index(batch_op.f('ix_disputes_status'))
        batch_op.drop_index(batch_op.f('ix_disputes_opened_at'))
        batch_op.drop_index(batch_op.f('ix_disputes_deposit_id'))

    op.drop_table('disputes')
