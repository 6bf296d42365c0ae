"""a property's distributions account pays only what was funded into it

- distribution_fundings: money an operator sends to fund a property's distributions, proposed by one finance user
  and approved by another (app/investing/funding.py);
- every distributions account (`returns_funding:<property id>`) below zero is brought to zero by a ledger entry
  from the operator-funding account (`operator_funding`), written here as the ledger writes one (a balanced entry
  with its postings in one INSERT, the cached balances moved, the idempotency key
  `migrated-funding:<account id>`), with a distribution_fundings row of kind `migrated` that finance confirms;
- distributions accounts may no longer go negative (allow_negative false: the CHECK on balances holds them).

Revision ID: 20261203_operator_funding
Revises: 20261203_property_approvals
Create Date: 2026-12-03 11:50:00.000000

"""
import hashlib
import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261203_operator_funding'
down_revision = '20261203_property_approvals'
branch_labels = None
depends_on = None

ENTRY_KIND = "distribution_funding"  # app/investing/funding.py
OPERATOR_FUNDING = "operator_funding"  # app/ledger/models.py
OPERATOR_FUNDING_NAME = "Operator funding received"  # app/ledger/accounts.py


def _fingerprint(kind, lines):
    """app/ledger/rules.py fingerprint: what the entry moves, by account id, so a replay of its key is recognised."""
    body = {"kind": kind, "reverses": None, "lines": sorted((int(a), int(m)) for a, m in lines)}
    return hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()


def upgrade():
    op.create_table('distribution_fundings',
    sa.Column('property_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('bank_reference', sa.String(length=140), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('proposed_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('approved_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.CheckConstraint("kind in ('funding', 'migrated')", name=op.f('ck_distribution_fundings_kind_valid')),
    sa.CheckConstraint("status in ('proposed', 'approved', 'rejected', 'cancelled', 'to_confirm')",
                       name=op.f('ck_distribution_fundings_status_valid')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_distribution_fundings_amount_positive')),
    sa.ForeignKeyConstraint(['approved_by_id'], ['users.id'],
                            name=op.f('fk_distribution_fundings_approved_by_id_users')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entries.id'],
                            name=op.f('fk_distribution_fundings_entry_id_ledger_entries')),
    sa.ForeignKeyConstraint(['property_id'], ['properties.id'],
                            name=op.f('fk_distribution_fundings_property_id_properties')),
    sa.ForeignKeyConstraint(['proposed_by_id'], ['users.id'],
                            name=op.f('fk_distribution_fundings_proposed_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_distribution_fundings')),
    sa.UniqueConstraint('entry_id', name=op.f('uq_distribution_fundings_entry_id'))
    )
    with op.batch_alter_table('distribution_fundings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_distribution_fundings_property_id'), ['property_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_distribution_fundings_status'), ['status'], unique=False)

    _bring_to_zero(op.get_bind())

    accounts = sa.table('ledger_accounts', sa.column('kind', sa.String), sa.column('allow_negative', sa.Boolean))
    op.execute(accounts.update().where(accounts.c.kind == 'returns_funding').values(allow_negative=False))


def _bring_to_zero(bind):
    """Post, for each distributions account below zero, the entry that brings it to zero from operator funding."""
    now = datetime.now(UTC)
    accounts = sa.table('ledger_accounts', sa.column('id', sa.Integer), sa.column('code', sa.String),
                        sa.column('kind', sa.String), sa.column('name', sa.String), sa.column('ref', sa.String),
                        sa.column('currency', sa.String), sa.column('balance', sa.BigInteger),
                        sa.column('allow_negative', sa.Boolean), sa.column('user_id', sa.Integer),
                        sa.column('created_at', sa.DateTime(timezone=True)))
    entries = sa.table('ledger_entries', sa.column('id', sa.Integer), sa.column('kind', sa.String),
                       sa.column('memo', sa.String), sa.column('idempotency_key', sa.String),
                       sa.column('fingerprint', sa.String), sa.column('actor_id', sa.Integer),
                       sa.column('reverses_id', sa.Integer), sa.column('created_at', sa.DateTime(timezone=True)))
    postings = sa.table('ledger_postings', sa.column('entry_id', sa.Integer), sa.column('account_id', sa.Integer),
                        sa.column('amount', sa.BigInteger))
    fundings = sa.table('distribution_fundings', sa.column('property_id', sa.Integer),
                        sa.column('amount', sa.BigInteger), sa.column('currency', sa.String),
                        sa.column('bank_reference', sa.String), sa.column('note', sa.Text),
                        sa.column('status', sa.String), sa.column('kind', sa.String),
                        sa.column('proposed_at', sa.DateTime(timezone=True)), sa.column('entry_id', sa.Integer))
    properties = sa.table('properties', sa.column('id', sa.Integer))

    negative = bind.execute(sa.select(accounts.c.id, accounts.c.ref, accounts.c.currency, accounts.c.balance)
                            .where(accounts.c.kind == 'returns_funding', accounts.c.balance < 0)
                            .order_by(accounts.c.id)).all()
    if not negative:
        return
    currencies = {currency for _, _, currency, _ in negative}
    if len(currencies) != 1:
        raise RuntimeError(f"distributions accounts in several currencies {sorted(currencies)}: the operator-funding "
                           f"account is one per platform, in its currency")
    [currency] = currencies
    source = bind.execute(sa.select(accounts.c.id, accounts.c.currency)
                          .where(accounts.c.code == OPERATOR_FUNDING)).first()
    if source is None:
        bind.execute(accounts.insert().values(code=OPERATOR_FUNDING, kind=OPERATOR_FUNDING,
                                              name=OPERATOR_FUNDING_NAME, ref=None, currency=currency, balance=0,
                                              allow_negative=True, user_id=None, created_at=now))
        source = bind.execute(sa.select(accounts.c.id, accounts.c.currency)
                              .where(accounts.c.code == OPERATOR_FUNDING)).first()
    source_id = source[0]
    if source[1] != currency:
        raise RuntimeError(f"the operator-funding account is in {source[1]}, the distributions accounts in {currency}")
    for account_id, ref, _, balance in negative:
        owed = -int(balance)
        key = f"migrated-funding:{account_id}"
        lines = [(source_id, -owed), (account_id, owed)]
        bind.execute(entries.insert().values(
            kind=ENTRY_KIND, memo=f"Distributions account of property {ref} brought to zero: operator funding "
                                  f"to confirm", idempotency_key=key, fingerprint=_fingerprint(ENTRY_KIND, lines),
            actor_id=None, reverses_id=None, created_at=now))
        entry_id = bind.execute(sa.select(entries.c.id).where(entries.c.idempotency_key == key)).scalar_one()
        # both postings in one INSERT: PostgreSQL's guard checks each entry balances within one statement
        bind.execute(postings.insert().values([{"entry_id": entry_id, "account_id": a, "amount": m}
                                               for a, m in lines]))
        for a, m in sorted(lines):  # account-id order, as the ledger moves balances
            bind.execute(accounts.update().where(accounts.c.id == a).values(balance=accounts.c.balance + m))
        known = ref is not None and ref.isdigit() and bind.execute(
            sa.select(properties.c.id).where(properties.c.id == int(ref))).first() is not None
        if known:
            bind.execute(fundings.insert().values(
                property_id=int(ref), amount=owed, currency=currency, bank_reference="",
                note="The distributions account was below zero by this amount when distributions accounts stopped "
                     "going negative: confirm the operator's money came in, with its bank reference.",
                status="to_confirm", kind="migrated", proposed_at=now, entry_id=entry_id))


def downgrade():
    # the migrated entries stay (entries are never deleted); distributions accounts may go negative again
    accounts = sa.table('ledger_accounts', sa.column('kind', sa.String), sa.column('allow_negative', sa.Boolean))
    op.execute(accounts.update().where(accounts.c.kind == 'returns_funding').values(allow_negative=True))
    with op.batch_alter_table('distribution_fundings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_distribution_fundings_status'))
        batch_op.drop_index(batch_op.f('ix_distribution_fundings_property_id'))
    op.drop_table('distribution_fundings')
