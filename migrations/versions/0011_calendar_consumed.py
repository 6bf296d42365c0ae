"""the return calendar holds the periods still to pay; references of the bulk tables checked per statement

A distribution run writes a row per position into return_payments and ledger_postings and, until now, flipped a
flag on each paid return_schedule row. Per row that cost an UPDATE with three index insertions and, on
PostgreSQL, five foreign-key checks (each a query of its own, with a row lock on the parent). This revision:

- return_schedule loses `paid`: a paid period leaves the calendar (the run deletes the row it pays) and lives on as
  its return_payments row, which has the period's index, due date and amounts. A period that moves no money (zero
  return and no capital) gets a payment row without a journal entry, so return_payments.entry_id becomes nullable.
  Existing paid rows are moved over (the zero ones get their payment row) and removed. The partial index on
  unpaid due dates becomes a plain index on due_on;
- on PostgreSQL the foreign keys of return_payments (investment, run, entry) and of ledger_postings (entry,
  account) are replaced by statement-level triggers that check every inserted row's references once per INSERT
  statement (for postings, the guard 0010 added, which already looked up each account and entry). The parents are never deleted by the application: investments, distribution runs and ledger
  accounts refuse a DELETE while a row refers to them (ledger entries already refuse every DELETE);
- on PostgreSQL the per-entry check at commit only counts an entry's postings (at least two): since 0010 every
  INSERT of postings is checked, as a whole, to balance per currency and to hold all of its entries' postings.

Revision ID: 0011_calendar_consumed
Revises: 0010_lean_returns
Create Date: 2026-11-25 16:45:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0011_calendar_consumed'
down_revision = '0010_lean_returns'
branch_labels = None
depends_on = None

# (table, constraint, column, parent table): the foreign keys checked per statement on PostgreSQL
STATEMENT_CHECKED = [
    ("return_payments", "fk_return_payments_investment_id_investments", "investment_id", "investments"),
    ("return_payments", "fk_return_payments_run_id_distribution_runs", "run_id", "distribution_runs"),
    ("return_payments", "fk_return_payments_entry_id_ledger_entries", "entry_id", "ledger_entries"),
    ("ledger_postings", "fk_ledger_postings_entry_id_ledger_entries", "entry_id", "ledger_entries"),
    ("ledger_postings", "fk_ledger_postings_account_id_ledger_accounts", "account_id", "ledger_accounts"),
]

PG_REFERENCES = [
    """
    CREATE FUNCTION return_payments_check_references() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        bad record;
    BEGIN
        FOR bad IN
            SELECT n.investment_id, n.run_id, n.entry_id, i.id IS NULL AS no_investment,
                   (n.run_id IS NOT NULL AND r.id IS NULL) AS no_run, (n.entry_id IS NOT NULL AND e.id IS NULL) AS no_entry
            FROM return_payments_new n
            LEFT JOIN investments i ON i.id = n.investment_id
            LEFT JOIN distribution_runs r ON r.id = n.run_id
            LEFT JOIN ledger_entries e ON e.id = n.entry_id
            WHERE i.id IS NULL OR (n.run_id IS NOT NULL AND r.id IS NULL) OR (n.entry_id IS NOT NULL AND e.id IS NULL)
            LIMIT 1
        LOOP
            RAISE EXCEPTION 'return payment refers to a missing %',
                CASE WHEN bad.no_investment THEN 'investment ' || bad.investment_id
                     WHEN bad.no_run THEN 'distribution run ' || bad.run_id
                     ELSE 'ledger entry ' || bad.entry_id END
                USING ERRCODE = 'foreign_key_violation';
        END LOOP;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER return_payments_references AFTER INSERT ON return_payments
    REFERENCING NEW TABLE AS return_payments_new
    FOR EACH STATEMENT EXECUTE FUNCTION return_payments_check_references()
    """,
    # the per-statement guard of postings (0010) also checks their references; each account is looked up once,
    # by a scalar subquery in a materialized CTE: one index probe per posting (as a join the planner reads every
    # account, per statement; without the CTE it repeats the probe for each use of the currency)
    """
    CREATE OR REPLACE FUNCTION ledger_check_postings_statement() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        bad record;
    BEGIN
        FOR bad IN
            WITH s AS MATERIALIZED (
                SELECT n.entry_id, n.account_id, n.amount,
                       (SELECT a.currency FROM ledger_accounts a WHERE a.id = n.account_id) AS currency
                FROM ledger_new_postings n)
            SELECT s.entry_id, s.currency, sum(s.amount) AS total,
                   min(s.account_id) FILTER (WHERE s.currency IS NULL) AS missing
            FROM s GROUP BY s.entry_id, s.currency HAVING sum(s.amount) <> 0 OR s.currency IS NULL
            ORDER BY s.currency IS NULL DESC
            LIMIT 1
        LOOP
            IF bad.missing IS NOT NULL THEN
                RAISE EXCEPTION 'ledger posting refers to a missing account %', bad.missing
                    USING ERRCODE = 'foreign_key_violation';
            END IF;
            RAISE EXCEPTION 'ledger entry % does not balance in %: postings sum to %', bad.entry_id, bad.currency,
                bad.total USING ERRCODE = 'check_violation';
        END LOOP;
        FOR bad IN
            SELECT s.entry_id, s.n, t.total, e.id IS NULL AS missing
            FROM (SELECT entry_id, count(*) AS n FROM ledger_new_postings GROUP BY entry_id) AS s
            LEFT JOIN LATERAL (SELECT id FROM ledger_entries WHERE id = s.entry_id) AS e ON true
            CROSS JOIN LATERAL (SELECT count(*) AS total FROM ledger_postings p WHERE p.entry_id = s.entry_id) AS t
            WHERE e.id IS NULL OR s.n < 2 OR t.total <> s.n
            LIMIT 1
        LOOP
            IF bad.missing THEN
                RAISE EXCEPTION 'ledger posting refers to a missing entry %', bad.entry_id
                    USING ERRCODE = 'foreign_key_violation';
            END IF;
            RAISE EXCEPTION 'ledger entry % has % posting(s) in this statement and % in all: an entry''s postings '
                'are written together, at least two', bad.entry_id, bad.n, bad.total USING ERRCODE = 'check_violation';
        END LOOP;
        RETURN NULL;
    END $$
    """,
    # parents: a row that is referred to is not deleted, and no id changes
    """
    CREATE FUNCTION refuse_referenced_change() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        referenced boolean;
    BEGIN
        IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
            RETURN NEW;
        END IF;
        IF TG_TABLE_NAME = 'investments' THEN
            referenced := EXISTS (SELECT 1 FROM return_payments WHERE investment_id = OLD.id);
        ELSIF TG_TABLE_NAME = 'distribution_runs' THEN
            referenced := EXISTS (SELECT 1 FROM return_payments WHERE run_id = OLD.id);
        ELSE
            referenced := EXISTS (SELECT 1 FROM ledger_postings WHERE account_id = OLD.id);
        END IF;
        IF referenced THEN
            RAISE EXCEPTION '% % is referred to and cannot be deleted or renumbered', TG_TABLE_NAME, OLD.id
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER investments_referenced BEFORE DELETE OR UPDATE OF id ON investments
    FOR EACH ROW EXECUTE FUNCTION refuse_referenced_change()
    """,
    """
    CREATE TRIGGER distribution_runs_referenced BEFORE DELETE OR UPDATE OF id ON distribution_runs
    FOR EACH ROW EXECUTE FUNCTION refuse_referenced_change()
    """,
    """
    CREATE TRIGGER ledger_accounts_referenced BEFORE DELETE OR UPDATE OF id ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION refuse_referenced_change()
    """,
    # at commit, each new entry has postings (at least two); their balance was checked when they were inserted
    """
    CREATE FUNCTION ledger_check_entry_has_postings() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        n integer;
    BEGIN
        SELECT count(*) INTO n FROM (SELECT 1 FROM ledger_postings WHERE entry_id = NEW.id LIMIT 2) AS p;
        IF n < 2 THEN
            RAISE EXCEPTION 'ledger entry % has % posting(s); at least two are required', NEW.id, n
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END $$
    """,
    "DROP TRIGGER ledger_entries_balanced ON ledger_entries",
    """
    CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry_has_postings()
    """,
]

# 0010's guard of postings, as it was (for the downgrade)
PG_POSTINGS_GUARD_0010 = (
    """
    CREATE OR REPLACE FUNCTION ledger_check_postings_statement() RETURNS trigger LANGUAGE plpgsql AS $$
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
    """
)

PG_REFERENCES_DROP = [
    "DROP TRIGGER ledger_entries_balanced ON ledger_entries",
    """
    CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry_balanced()
    """,
    "DROP FUNCTION ledger_check_entry_has_postings()",
    "DROP TRIGGER ledger_accounts_referenced ON ledger_accounts",
    "DROP TRIGGER distribution_runs_referenced ON distribution_runs",
    "DROP TRIGGER investments_referenced ON investments",
    "DROP FUNCTION refuse_referenced_change()",
    PG_POSTINGS_GUARD_0010,
    "DROP TRIGGER return_payments_references ON return_payments",
    "DROP FUNCTION return_payments_check_references()",
]


def upgrade():
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    # periods paid without moving money had no payment row: they get one, without an entry
    with op.batch_alter_table('return_payments', schema=None) as batch_op:
        batch_op.alter_column('entry_id', existing_type=sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                              nullable=True)
    op.execute("""
        INSERT INTO return_payments (investment_id, period_index, due_on, amount, capital, run_id, entry_id, paid_at)
        SELECT s.investment_id, s.period_index, s.due_on, s.amount, s.capital, NULL, NULL, CURRENT_TIMESTAMP
        FROM return_schedule s
        WHERE s.paid AND NOT EXISTS (SELECT 1 FROM return_payments p
                                     WHERE p.investment_id = s.investment_id AND p.period_index = s.period_index)
    """)
    op.execute("DELETE FROM return_schedule WHERE paid")
    with op.batch_alter_table('return_schedule', schema=None) as batch_op:
        batch_op.drop_index('ix_return_schedule_unpaid_due_on', postgresql_where=sa.text('NOT paid'),
                            sqlite_where=sa.text('paid = 0'))
        batch_op.drop_column('paid')
        batch_op.create_index(batch_op.f('ix_return_schedule_due_on'), ['due_on'], unique=False)
    if postgres:
        for table, name, _, _ in STATEMENT_CHECKED:
            op.drop_constraint(name, table, type_='foreignkey')
        for statement in PG_REFERENCES:
            op.execute(statement)


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for statement in PG_REFERENCES_DROP:
            op.execute(statement)
        for table, name, column, parent in STATEMENT_CHECKED:
            op.create_foreign_key(name, table, parent, [column], ['id'])
    with op.batch_alter_table('return_schedule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_return_schedule_due_on'))
        batch_op.add_column(sa.Column('paid', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("""
        INSERT INTO return_schedule (investment_id, property_id, user_id, period_index, due_on, amount, capital,
                                     "last", paid)
        SELECT p.investment_id, i.property_id, i.user_id, p.period_index, p.due_on, p.amount, p.capital, false, true
        FROM return_payments p JOIN investments i ON i.id = p.investment_id
    """)
    op.execute("DELETE FROM return_payments WHERE entry_id IS NULL")
    with op.batch_alter_table('return_schedule', schema=None) as batch_op:
        batch_op.alter_column('paid', server_default=None)
        batch_op.create_index('ix_return_schedule_unpaid_due_on', ['due_on'], unique=False,
                              postgresql_where=sa.text('NOT paid'), sqlite_where=sa.text('paid = 0'))
    with op.batch_alter_table('return_payments', schema=None) as batch_op:
        batch_op.alter_column('entry_id', existing_type=sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                              nullable=False)
