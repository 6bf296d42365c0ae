"""lean return payments and a set-based ledger guard: what a distribution run writes per position costs less

return_payments loses its copies of the investment's investor and property (and their foreign keys and indexes)
and the index on run_id: they are reached through the investment, and a run writes a million rows.

On PostgreSQL the per-posting deferred constraint trigger (which re-read the whole entry for every posting, at
commit) gives way to a statement-level trigger that checks, once per INSERT statement and over all its rows at
once, that the postings of each entry balance per currency, number at least two and are all of that entry's
postings (an entry's postings are written by one statement). The per-entry deferred trigger stays: at commit,
every new entry has at least two postings and balances.

ledger_accounts keeps half of each page free (fillfactor 50), so that moving a balance is a heap-only update.

Revision ID: 0010_lean_returns
Revises: 0009_investing
Create Date: 2026-11-25 14:05:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0010_lean_returns'
down_revision = '0009_investing'
branch_labels = None
depends_on = None

PG_STATEMENT_GUARD = [
    """
    CREATE FUNCTION ledger_check_postings_statement() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        bad record;
    BEGIN
        FOR bad IN
            SELECT n.entry_id, a.currency, sum(n.amount) AS total
            FROM ledger_new_postings n JOIN ledger_accounts a ON a.id = n.account_id
            GROUP BY n.entry_id, a.currency HAVING sum(n.amount) <> 0
            LIMIT 1
        LOOP
            RAISE EXCEPTION 'ledger entry % does not balance in %: postings sum to %', bad.entry_id, bad.currency,
                bad.total USING ERRCODE = 'check_violation';
        END LOOP;
        FOR bad IN
            SELECT s.entry_id, s.n, t.total
            FROM (SELECT entry_id, count(*) AS n FROM ledger_new_postings GROUP BY entry_id) AS s
            CROSS JOIN LATERAL (SELECT count(*) AS total FROM ledger_postings p WHERE p.entry_id = s.entry_id) AS t
            WHERE s.n < 2 OR t.total <> s.n
            LIMIT 1
        LOOP
            RAISE EXCEPTION 'ledger entry % has % posting(s) in this statement and % in all: an entry''s postings '
                'are written together, at least two', bad.entry_id, bad.n, bad.total USING ERRCODE = 'check_violation';
        END LOOP;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER ledger_postings_balanced_per_statement AFTER INSERT ON ledger_postings
    REFERENCING NEW TABLE AS ledger_new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_postings_statement()
    """,
    "DROP TRIGGER ledger_postings_balanced ON ledger_postings",
]

PG_STATEMENT_GUARD_DROP = [
    """
    CREATE CONSTRAINT TRIGGER ledger_postings_balanced AFTER INSERT ON ledger_postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry_balanced()
    """,
    "DROP TRIGGER IF EXISTS ledger_postings_balanced_per_statement ON ledger_postings",
    "DROP FUNCTION IF EXISTS ledger_check_postings_statement()",
]


def upgrade():
    with op.batch_alter_table('return_payments', schema=None) as batch_op:
        batch_op.drop_index('ix_return_payments_user_id_paid_at')
        batch_op.drop_index(batch_op.f('ix_return_payments_run_id'))
        batch_op.drop_index(batch_op.f('ix_return_payments_property_id'))
        batch_op.drop_constraint(batch_op.f('fk_return_payments_user_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_return_payments_property_id_properties'), type_='foreignkey')
        batch_op.drop_column('user_id')
        batch_op.drop_column('property_id')
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_STATEMENT_GUARD:
            op.execute(statement)
        # balances move all the time and are not indexed: with room on each page, a move is a heap-only update
        # (pages written from now on; `VACUUM FULL ledger_accounts` rewrites the existing ones)
        op.execute("ALTER TABLE ledger_accounts SET (fillfactor = 50)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE ledger_accounts RESET (fillfactor)")
        for statement in PG_STATEMENT_GUARD_DROP:
            op.execute(statement)
    with op.batch_alter_table('return_payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('property_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.add_column(sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
    op.execute("UPDATE return_payments SET property_id = (SELECT i.property_id FROM investments i "
               "WHERE i.id = return_payments.investment_id), user_id = (SELECT i.user_id FROM investments i "
               "WHERE i.id = return_payments.investment_id)")
    with op.batch_alter_table('return_payments', schema=None) as batch_op:
        batch_op.alter_column('property_id', nullable=False)
        batch_op.alter_column('user_id', nullable=False)
        batch_op.create_foreign_key(batch_op.f('fk_return_payments_property_id_properties'), 'properties', ['property_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_return_payments_user_id_users'), 'users', ['user_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_return_payments_property_id'), ['property_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_return_payments_run_id'), ['run_id'], unique=False)
        batch_op.create_index('ix_return_payments_user_id_paid_at', ['user_id', 'paid_at'], unique=False)
