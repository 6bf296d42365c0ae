"""bank statements: uploaded statements, their lines and matches, CSV mappings per bank

Revision ID: 20261204_bank_statements
Revises: 20261203_market
Create Date: 2026-12-03 22:09:13.337861

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261204_bank_statements'
down_revision = '20261203_market'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('bank_csv_mappings',
    sa.Column('bank_name', sa.String(length=120), nullable=False),
    sa.Column('date_column', sa.String(length=80), nullable=False),
    sa.Column('amount_column', sa.String(length=80), nullable=True),
    sa.Column('credit_column', sa.String(length=80), nullable=True),
    sa.Column('debit_column', sa.String(length=80), nullable=True),
    sa.Column('currency_column', sa.String(length=80), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('reference_column', sa.String(length=80), nullable=False),
    sa.Column('counterparty_column', sa.String(length=80), nullable=True),
    sa.Column('description_column', sa.String(length=80), nullable=True),
    sa.Column('date_format', sa.String(length=40), nullable=False),
    sa.Column('decimal_separator', sa.String(length=1), nullable=False),
    sa.Column('delimiter', sa.String(length=2), nullable=False),
    sa.Column('header_rows', sa.Integer(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("decimal_separator in ('.', ',')", name=op.f('ck_bank_csv_mappings_decimal_separator_valid')),
    sa.CheckConstraint('header_rows >= 0 AND header_rows <= 20', name=op.f('ck_bank_csv_mappings_header_rows_valid')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_csv_mappings')),
    sa.UniqueConstraint('bank_name', name=op.f('uq_bank_csv_mappings_bank_name'))
    )
    op.create_table('bank_statements',
    sa.Column('format', sa.String(length=10), nullable=False),
    sa.Column('csv_mapping_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('file_key', sa.String(length=300), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('file_size', sa.Integer(), nullable=False),
    sa.Column('statement_ref', sa.String(length=200), nullable=True),
    sa.Column('account', sa.String(length=64), nullable=True),
    sa.Column('period_from', sa.Date(), nullable=True),
    sa.Column('period_to', sa.Date(), nullable=True),
    sa.Column('line_count', sa.Integer(), nullable=False),
    sa.Column('known_count', sa.Integer(), nullable=False),
    sa.Column('uploaded_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.CheckConstraint("format in ('camt053', 'csv')", name=op.f('ck_bank_statements_format_valid')),
    sa.ForeignKeyConstraint(['csv_mapping_id'], ['bank_csv_mappings.id'], name=op.f('fk_bank_statements_csv_mapping_id_bank_csv_mappings')),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], name=op.f('fk_bank_statements_uploaded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_statements')),
    sa.UniqueConstraint('file_sha256', name=op.f('uq_bank_statements_file_sha256'))
    )
    with op.batch_alter_table('bank_statements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bank_statements_created_at'), ['created_at'], unique=False)

    op.create_table('bank_statement_lines',
    sa.Column('statement_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('line_index', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('booking_date', sa.Date(), nullable=False),
    sa.Column('value_date', sa.Date(), nullable=True),
    sa.Column('direction', sa.String(length=6), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('reference', sa.String(length=500), nullable=True),
    sa.Column('end_to_end_id', sa.String(length=200), nullable=True),
    sa.Column('entry_ref', sa.String(length=200), nullable=True),
    sa.Column('servicer_ref', sa.String(length=200), nullable=True),
    sa.Column('counterparty', sa.String(length=300), nullable=True),
    sa.Column('remittance', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('match_kind', sa.String(length=10), nullable=True),
    sa.Column('match_rule', sa.String(length=10), nullable=True),
    sa.Column('match_note', sa.String(length=500), nullable=True),
    sa.Column('deposit_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('payout_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('batch_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('proposed_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_confirmed_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('confirmed_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ignored_reason', sa.String(length=1000), nullable=True),
    sa.Column('ignored_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.CheckConstraint("direction in ('credit', 'debit')", name=op.f('ck_bank_statement_lines_direction_valid')),
    sa.CheckConstraint("match_kind IS NULL OR match_kind in ('deposit', 'payout', 'batch')", name=op.f('ck_bank_statement_lines_kind_valid')),
    sa.CheckConstraint("status in ('unmatched', 'proposed', 'matched', 'ignored')", name=op.f('ck_bank_statement_lines_status_valid')),
    sa.CheckConstraint("status not in ('proposed', 'matched') OR (CASE WHEN deposit_id IS NULL THEN 0 ELSE 1 END + CASE WHEN payout_id IS NULL THEN 0 ELSE 1 END + CASE WHEN batch_id IS NULL THEN 0 ELSE 1 END) = 1", name=op.f('ck_bank_statement_lines_claim_has_one_target')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_bank_statement_lines_amount_positive')),
    sa.ForeignKeyConstraint(['batch_id'], ['payout_batches.id'], name=op.f('fk_bank_statement_lines_batch_id_payout_batches')),
    sa.ForeignKeyConstraint(['confirmed_by_id'], ['users.id'], name=op.f('fk_bank_statement_lines_confirmed_by_id_users')),
    sa.ForeignKeyConstraint(['deposit_id'], ['deposits.id'], name=op.f('fk_bank_statement_lines_deposit_id_deposits')),
    sa.ForeignKeyConstraint(['first_confirmed_by_id'], ['users.id'], name=op.f('fk_bank_statement_lines_first_confirmed_by_id_users')),
    sa.ForeignKeyConstraint(['ignored_by_id'], ['users.id'], name=op.f('fk_bank_statement_lines_ignored_by_id_users')),
    sa.ForeignKeyConstraint(['payout_id'], ['payouts.id'], name=op.f('fk_bank_statement_lines_payout_id_payouts')),
    sa.ForeignKeyConstraint(['proposed_by_id'], ['users.id'], name=op.f('fk_bank_statement_lines_proposed_by_id_users')),
    sa.ForeignKeyConstraint(['statement_id'], ['bank_statements.id'], name=op.f('fk_bank_statement_lines_statement_id_bank_statements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_statement_lines')),
    sa.UniqueConstraint('fingerprint', name=op.f('uq_bank_statement_lines_fingerprint'))
    )
    with op.batch_alter_table('bank_statement_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bank_statement_lines_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bank_statement_lines_deposit_id'), ['deposit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bank_statement_lines_payout_id'), ['payout_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bank_statement_lines_statement_id'), ['statement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bank_statement_lines_status'), ['status'], unique=False)
        batch_op.create_index('ix_bank_statement_lines_status_booking_date', ['status', 'booking_date'], unique=False)
        batch_op.create_index('uq_bank_statement_lines_batch_claimed', ['batch_id'], unique=True, postgresql_where=sa.text("status IN ('proposed', 'matched')"), sqlite_where=sa.text("status IN ('proposed', 'matched')"))
        batch_op.create_index('uq_bank_statement_lines_deposit_claimed', ['deposit_id'], unique=True, postgresql_where=sa.text("status IN ('proposed', 'matched')"), sqlite_where=sa.text("status IN ('proposed', 'matched')"))
        batch_op.create_index('uq_bank_statement_lines_payout_claimed', ['payout_id'], unique=True, postgresql_where=sa.text("status IN ('proposed', 'matched')"), sqlite_where=sa.text("status IN ('proposed', 'matched')"))



def downgrade():
    with op.batch_alter_table('bank_statement_lines', schema=None) as batch_op:
        batch_op.drop_index('uq_bank_statement_lines_payout_claimed', postgresql_where=sa.text("status IN ('proposed', 'matched')"), sqlite_where=sa.text("status IN ('proposed', 'matched')"))
        batch_op.drop_index('uq_bank_statement_lines_deposit_claimed', postgresql_where=sa.text("status IN ('proposed', 'matched')"), sqlite_where=sa.text("status IN ('proposed', 'matched')"))
        batch_op.drop_index('uq_bank_statement_lines_batch_claimed', postgresql_where=sa.text("status IN ('proposed', 'matched')"), sqlite_where=sa.text("status IN ('proposed', 'matched')"))
        batch_op.drop_index('ix_bank_statement_lines_status_booking_date')
        batch_op.drop_index(batch_op.f('ix_bank_statement_lines_status'))
        batch_op.drop_index(batch_op.f('ix_bank_statement_lines_statement_id'))
        batch_op.drop_index(batch_op.f('ix_bank_statement_lines_payout_id'))
        batch_op.drop_index(batch_op.f('ix_bank_statement_lines_deposit_id'))
        batch_op.drop_index(batch_op.f('ix_bank_statement_lines_batch_id'))

    op.drop_table('bank_statement_lines')
    with op.batch_alter_table('bank_statements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bank_statements_created_at'))

    op.drop_table('bank_statements')
    op.drop_table('bank_csv_mappings')
