"""effective dates of journal entries, closed months with their frozen trial balances, reopening proposals; the
database's guard of closed months (a trigger on ledger_entries on PostgreSQL and SQLite)

Revision ID: 20261204_periods
Revises: 20261203_market
Create Date: 2026-12-04 09:00:00

On PostgreSQL the guard is a statement-level trigger with a transition table: once per INSERT, whatever its number
of rows, it finds the earliest effective date inserted; a date of the current month (UTC) passes at once (a month
is closed only once it has ended); an earlier one takes the shared advisory lock a close takes exclusively, then is
compared with the one row of ledger_closed_through (docs/decisions/0019-closed-periods-guard.md); ledger_entries is
already append-only there (no UPDATE). On SQLite, one writer at a time, a row trigger compares each new row with
that row, and another refuses a change of an entry's effective date.
"""
import sqlalchemy as sa
from alembic import op

revision = '20261204_periods'
down_revision = '20261203_market'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

# the key is app.ledger.periods.PERIOD_LOCK_KEY ("FHPERIOD" in ASCII)
PG_GUARD = """
CREATE FUNCTION ledger_entries_check_open_period() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    earliest date;
    through date;
BEGIN
    SELECT min(effective_date) INTO earliest FROM new_entries;
    -- a day of the current month is never in a closed month: only months that have ended are closed
    IF earliest IS NULL OR earliest >= CAST(date_trunc('month', now() AT TIME ZONE 'UTC') AS date) THEN
        RETURN NULL;
    END IF;
    -- a close holds this lock exclusively from before it reads the closed-through date until it commits
    PERFORM pg_advisory_xact_lock_shared(5064386039641624388);
    SELECT c.through INTO through FROM ledger_closed_through c WHERE c.id = 1;
    IF through IS NOT NULL AND earliest <= through THEN
        RAISE EXCEPTION 'ledger period closed: no entry may be dated on or before % (an entry is dated %)',
            through, earliest USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER ledger_entries_open_period AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_check_open_period();
"""
PG_GUARD_DROP = (
    "DROP TRIGGER IF EXISTS ledger_entries_open_period ON ledger_entries",
    "DROP FUNCTION IF EXISTS ledger_entries_check_open_period()",
)
SQLITE_GUARD = (
    """CREATE TRIGGER ledger_entries_open_period BEFORE INSERT ON ledger_entries
    WHEN NEW.effective_date <= (SELECT through FROM ledger_closed_through WHERE id = 1)
    BEGIN SELECT RAISE(ABORT, 'ledger period closed: no entry may be dated on or before the closed-through date'); END""",
    """CREATE TRIGGER ledger_entries_effective_date_fixed BEFORE UPDATE OF effective_date ON ledger_entries
    WHEN NEW.effective_date IS NOT OLD.effective_date
    BEGIN SELECT RAISE(ABORT, 'ledger period closed: the effective date of a journal entry is never changed'); END""",
)
SQLITE_GUARD_DROP = (
    "DROP TRIGGER IF EXISTS ledger_entries_effective_date_fixed",
    "DROP TRIGGER IF EXISTS ledger_entries_open_period",
)


def _postgres() -> bool:
    return op.get_bind().dialect.name == 'postgresql'


def upgrade():
    # existing entries count for the UTC day they were written; a raw INSERT that names no day gets the current one
    if _postgres():
        op.add_column('ledger_entries', sa.Column('effective_date', sa.Date(), nullable=True))
        # entries are append-only (a trigger refuses any UPDATE): this one backfill of the new column is the
        # migration's alone, inside its transaction, with the guard off for that statement only
        op.execute("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only")
        op.execute("UPDATE ledger_entries SET effective_date = CAST(created_at AT TIME ZONE 'UTC' AS date)")
        op.execute("ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only")
        op.alter_column('ledger_entries', 'effective_date', nullable=False, server_default=sa.text('CURRENT_DATE'))
    else:  # SQLite adds a column with a non-constant default only by copying the table; created_at is stored in UTC
        with op.batch_alter_table('ledger_entries', schema=None, recreate='always') as batch_op:
            batch_op.add_column(sa.Column('effective_date', sa.Date(), nullable=False,
                                          server_default=sa.text('(CURRENT_DATE)')))
        op.execute("UPDATE ledger_entries SET effective_date = date(created_at)")
    op.create_index(op.f('ix_ledger_entries_effective_date'), 'ledger_entries', ['effective_date'], unique=False)

    op.create_table('ledger_closed_through',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('through', sa.Date(), nullable=True),
    sa.CheckConstraint('id = 1', name=op.f('ck_ledger_closed_through_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_closed_through'))
    )
    op.create_table('ledger_period_closes',
    sa.Column('month_start', sa.Date(), nullable=False),
    sa.Column('month_end', sa.Date(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('closed_by_id', ID, nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('entries', sa.BigInteger(), nullable=False),
    sa.Column('reopened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', ID, nullable=False),
    sa.CheckConstraint('month_end >= month_start', name=op.f('ck_ledger_period_closes_month_valid')),
    sa.ForeignKeyConstraint(['closed_by_id'], ['users.id'], name=op.f('fk_ledger_period_closes_closed_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_period_closes'))
    )
    op.create_index(op.f('ix_ledger_period_closes_month_start'), 'ledger_period_closes', ['month_start'],
                    unique=False)
    op.create_index('uq_ledger_period_closes_month_in_force', 'ledger_period_closes', ['month_start'], unique=True,
                    postgresql_where=sa.text('reopened_at IS NULL'), sqlite_where=sa.text('reopened_at IS NULL'))
    op.create_table('ledger_trial_balance_lines',
    sa.Column('close_id', ID, nullable=False),
    sa.Column('account_id', ID, nullable=False),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.Column('id', ID, nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['ledger_accounts.id'],
                            name=op.f('fk_ledger_trial_balance_lines_account_id_ledger_accounts')),
    sa.ForeignKeyConstraint(['close_id'], ['ledger_period_closes.id'],
                            name=op.f('fk_ledger_trial_balance_lines_close_id_ledger_period_closes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_trial_balance_lines')),
    sa.UniqueConstraint('close_id', 'account_id', name='uq_ledger_trial_balance_lines_close_account')
    )
    op.create_table('ledger_period_reopens',
    sa.Column('close_id', ID, nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('proposed_by_id', ID, nullable=False),
    sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by_id', ID, nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.Column('id', ID, nullable=False),
    sa.CheckConstraint("status in ('pending', 'approved', 'refused')", name=op.f('ck_ledger_period_reopens_status_valid')),
    sa.ForeignKeyConstraint(['close_id'], ['ledger_period_closes.id'],
                            name=op.f('fk_ledger_period_reopens_close_id_ledger_period_closes')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_ledger_period_reopens_decided_by_id_users')),
    sa.ForeignKeyConstraint(['proposed_by_id'], ['users.id'],
                            name=op.f('fk_ledger_period_reopens_proposed_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_period_reopens'))
    )
    op.create_index(op.f('ix_ledger_period_reopens_close_id'), 'ledger_period_reopens', ['close_id'], unique=False)
    op.create_index('uq_ledger_period_reopens_close_pending', 'ledger_period_reopens', ['close_id'], unique=True,
                    postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))

    if _postgres():
        op.execute(PG_GUARD)
    else:
        for statement in SQLITE_GUARD:
            op.execute(statement)


def downgrade():
    for statement in PG_GUARD_DROP if _postgres() else SQLITE_GUARD_DROP:
        op.execute(statement)
    op.drop_index('uq_ledger_period_reopens_close_pending', table_name='ledger_period_reopens')
    op.drop_index(op.f('ix_ledger_period_reopens_close_id'), table_name='ledger_period_reopens')
    op.drop_table('ledger_period_reopens')
    op.drop_table('ledger_trial_balance_lines')
    op.drop_index('uq_ledger_period_closes_month_in_force', table_name='ledger_period_closes')
    op.drop_index(op.f('ix_ledger_period_closes_month_start'), table_name='ledger_period_closes')
    op.drop_table('ledger_period_closes')
    op.drop_table('ledger_closed_through')
    op.drop_index(op.f('ix_ledger_entries_effective_date'), table_name='ledger_entries')
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_column('effective_date')
