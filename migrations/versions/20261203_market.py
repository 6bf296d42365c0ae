"""the secondary market: listings, offers, trades, halts, surveillance flags; units of holdings and offerings

Revision ID: 20261203_market
Revises: 20261203_web_indexes
Create Date: 2026-12-03 17:37:38.949798

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261203_market'
down_revision = '20261203_web_indexes'
branch_labels = None
depends_on = None


# (table, name, condition): a sold-out holding keeps its row (its paid periods) with amount 0
REPLACED = (
    ('investments', 'amount_positive', "amount > 0", "amount > 0 OR (amount = 0 AND status = 'sold')"),
    ('investments', 'status_valid', "status in ('paying', 'active', 'completed', 'cancelled', 'defaulted')",
     "status in ('paying', 'active', 'completed', 'cancelled', 'defaulted', 'sold')"),
)
CHECKS = (
    ('properties', 'units_valid', 'unit_price > 0 AND units_sold >= 0'),
    ('investments', 'units_listed_within', 'units >= 0 AND units_listed >= 0 AND units_listed <= units'),
    ('investments', 'acquired_by_valid', "acquired_by in ('offering', 'trade')"),
)


def upgrade():
    op.create_table('market_halts',
    sa.Column('property_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('halted_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('halted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resumed_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('resumed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resume_reason', sa.Text(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['halted_by_id'], ['users.id'], name=op.f('fk_market_halts_halted_by_id_users')),
    sa.ForeignKeyConstraint(['property_id'], ['properties.id'], name=op.f('fk_market_halts_property_id_properties')),
    sa.ForeignKeyConstraint(['resumed_by_id'], ['users.id'], name=op.f('fk_market_halts_resumed_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_halts'))
    )
    with op.batch_alter_table('market_halts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_market_halts_property_id'), ['property_id'], unique=False)
        batch_op.create_index('uq_market_halts_property_id_in_force', ['property_id'], unique=True, postgresql_where=sa.text('resumed_at IS NULL'), sqlite_where=sa.text('resumed_at IS NULL'))

    op.create_table('market_listings',
    sa.Column('property_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('investment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seller_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('units', sa.BigInteger(), nullable=False),
    sa.Column('units_remaining', sa.BigInteger(), nullable=False),
    sa.Column('unit_price', sa.BigInteger(), nullable=False),
    sa.Column('price_per_unit', sa.BigInteger(), nullable=False),
    sa.Column('seller_fee_bps', sa.Integer(), nullable=False),
    sa.Column('seller_fee_min', sa.BigInteger(), nullable=False),
    sa.Column('buyer_fee_bps', sa.Integer(), nullable=False),
    sa.Column('buyer_fee_min', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('close_reason', sa.String(length=500), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.CheckConstraint("status <> 'open' OR units_remaining > 0", name=op.f('ck_market_listings_open_has_units')),
    sa.CheckConstraint("status in ('open', 'sold', 'cancelled', 'expired')", name=op.f('ck_market_listings_status_valid')),
    sa.CheckConstraint('price_per_unit > 0', name=op.f('ck_market_listings_price_positive')),
    sa.CheckConstraint('units > 0', name=op.f('ck_market_listings_units_positive')),
    sa.CheckConstraint('units_remaining >= 0 AND units_remaining <= units', name=op.f('ck_market_listings_remaining_within_units')),
    sa.ForeignKeyConstraint(['investment_id'], ['investments.id'], name=op.f('fk_market_listings_investment_id_investments')),
    sa.ForeignKeyConstraint(['property_id'], ['properties.id'], name=op.f('fk_market_listings_property_id_properties')),
    sa.ForeignKeyConstraint(['seller_id'], ['users.id'], name=op.f('fk_market_listings_seller_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_listings'))
    )
    with op.batch_alter_table('market_listings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_market_listings_investment_id'), ['investment_id'], unique=False)
        batch_op.create_index('ix_market_listings_property_id_status', ['property_id', 'status'], unique=False)
        batch_op.create_index('ix_market_listings_seller_id_created_at', ['seller_id', 'created_at'], unique=False)
        batch_op.create_index('ix_market_listings_status_expires_at', ['status', 'expires_at'], unique=False)

    op.create_table('market_offers',
    sa.Column('listing_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('buyer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('units', sa.BigInteger(), nullable=False),
    sa.Column('price_per_unit', sa.BigInteger(), nullable=False),
    sa.Column('buyer_fee', sa.BigInteger(), nullable=False),
    sa.Column('held_amount', sa.BigInteger(), nullable=False),
    sa.Column('hold_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('counter_price_per_unit', sa.BigInteger(), nullable=True),
    sa.Column('countered_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('countered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('buyer_message', sa.String(length=500), nullable=True),
    sa.Column('seller_message', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolution_reason', sa.String(length=500), nullable=True),
    sa.Column('trade_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.CheckConstraint("status in ('open', 'countered', 'accepted', 'rejected', 'withdrawn', 'expired')", name=op.f('ck_market_offers_status_valid')),
    sa.CheckConstraint('counter_price_per_unit IS NULL OR counter_price_per_unit > 0', name=op.f('ck_market_offers_counter_positive')),
    sa.CheckConstraint('held_amount >= 0', name=op.f('ck_market_offers_held_not_negative')),
    sa.CheckConstraint('price_per_unit > 0', name=op.f('ck_market_offers_price_positive')),
    sa.CheckConstraint('units > 0', name=op.f('ck_market_offers_units_positive')),
    sa.ForeignKeyConstraint(['buyer_id'], ['users.id'], name=op.f('fk_market_offers_buyer_id_users')),
    sa.ForeignKeyConstraint(['countered_by_id'], ['users.id'], name=op.f('fk_market_offers_countered_by_id_users')),
    sa.ForeignKeyConstraint(['hold_id'], ['ledger_holds.id'], name=op.f('fk_market_offers_hold_id_ledger_holds')),
    sa.ForeignKeyConstraint(['listing_id'], ['market_listings.id'], name=op.f('fk_market_offers_listing_id_market_listings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_offers'))
    )
    with op.batch_alter_table('market_offers', schema=None) as batch_op:
        batch_op.create_index('ix_market_offers_buyer_id_created_at', ['buyer_id', 'created_at'], unique=False)
        batch_op.create_index('ix_market_offers_listing_id_status', ['listing_id', 'status'], unique=False)
        batch_op.create_index('ix_market_offers_status_expires_at', ['status', 'expires_at'], unique=False)

    op.create_table('market_trades',
    sa.Column('listing_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('offer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('property_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seller_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('buyer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seller_investment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('buyer_investment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('units', sa.BigInteger(), nullable=False),
    sa.Column('unit_price', sa.BigInteger(), nullable=False),
    sa.Column('price_per_unit', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('buyer_fee', sa.BigInteger(), nullable=False),
    sa.Column('seller_fee', sa.BigInteger(), nullable=False),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.CheckConstraint('amount = units * price_per_unit', name=op.f('ck_market_trades_amount_is_units_times_price')),
    sa.CheckConstraint('buyer_fee >= 0 AND seller_fee >= 0 AND seller_fee < amount', name=op.f('ck_market_trades_fees_valid')),
    sa.CheckConstraint('buyer_id <> seller_id', name=op.f('ck_market_trades_not_self')),
    sa.CheckConstraint('price_per_unit > 0', name=op.f('ck_market_trades_price_positive')),
    sa.CheckConstraint('units > 0', name=op.f('ck_market_trades_units_positive')),
    sa.ForeignKeyConstraint(['buyer_id'], ['users.id'], name=op.f('fk_market_trades_buyer_id_users')),
    sa.ForeignKeyConstraint(['buyer_investment_id'], ['investments.id'], name=op.f('fk_market_trades_buyer_investment_id_investments')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entries.id'], name=op.f('fk_market_trades_entry_id_ledger_entries')),
    sa.ForeignKeyConstraint(['listing_id'], ['market_listings.id'], name=op.f('fk_market_trades_listing_id_market_listings')),
    sa.ForeignKeyConstraint(['offer_id'], ['market_offers.id'], name=op.f('fk_market_trades_offer_id_market_offers')),
    sa.ForeignKeyConstraint(['property_id'], ['properties.id'], name=op.f('fk_market_trades_property_id_properties')),
    sa.ForeignKeyConstraint(['seller_id'], ['users.id'], name=op.f('fk_market_trades_seller_id_users')),
    sa.ForeignKeyConstraint(['seller_investment_id'], ['investments.id'], name=op.f('fk_market_trades_seller_investment_id_investments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_trades')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_market_trades_idempotency_key')),
    sa.UniqueConstraint('offer_id', name=op.f('uq_market_trades_offer_id'))
    )
    with op.batch_alter_table('market_trades', schema=None) as batch_op:
        batch_op.create_index('ix_market_trades_buyer_id_settled_at', ['buyer_id', 'settled_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_market_trades_listing_id'), ['listing_id'], unique=False)
        batch_op.create_index('ix_market_trades_property_id_settled_at', ['property_id', 'settled_at'], unique=False)
        batch_op.create_index('ix_market_trades_seller_id_settled_at', ['seller_id', 'settled_at'], unique=False)

    op.create_table('market_flags',
    sa.Column('trade_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('detail', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reviewed_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('review_note', sa.Text(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.CheckConstraint("status in ('open', 'cleared', 'escalated')", name=op.f('ck_market_flags_status_valid')),
    sa.ForeignKeyConstraint(['reviewed_by_id'], ['users.id'], name=op.f('fk_market_flags_reviewed_by_id_users')),
    sa.ForeignKeyConstraint(['trade_id'], ['market_trades.id'], name=op.f('fk_market_flags_trade_id_market_trades')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_flags')),
    sa.UniqueConstraint('trade_id', 'kind', name='uq_market_flags_trade_id_kind')
    )
    with op.batch_alter_table('market_flags', schema=None) as batch_op:
        batch_op.create_index('ix_market_flags_status_created_at', ['status', 'created_at'], unique=False)

    # an offer names the trade that settled it: added once both tables exist
    if op.get_bind().dialect.name == 'sqlite':
        with op.batch_alter_table('market_offers', schema=None) as batch_op:
            batch_op.create_foreign_key('fk_market_offers_trade_id_market_trades', 'market_trades', ['trade_id'],
                                        ['id'])
    else:
        op.create_foreign_key('fk_market_offers_trade_id_market_trades', 'market_offers', 'market_trades',
                              ['trade_id'], ['id'])

    with op.batch_alter_table('properties', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unit_price', sa.BigInteger(), nullable=False, server_default='100'))
        batch_op.add_column(sa.Column('resale_lockup_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('units_sold', sa.BigInteger(), nullable=False, server_default='0'))

    with op.batch_alter_table('investments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('units', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('units_listed', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('acquired_by', sa.String(length=10), nullable=False,
                                      server_default='offering'))
        batch_op.add_column(sa.Column('cost_amount', sa.BigInteger(), nullable=True))

    # a fixed-amount offering's unit is its amount; a range's is 1.00. A holding owns its paid amount's whole units.
    op.execute("UPDATE properties SET unit_price = fixed_amount WHERE fixed_amount IS NOT NULL AND fixed_amount > 0")
    op.execute("UPDATE investments SET units = paid_amount / (SELECT p.unit_price FROM properties p "
               "WHERE p.id = investments.property_id)")
    op.execute("UPDATE properties SET units_sold = COALESCE((SELECT SUM(i.units) FROM investments i "
               "WHERE i.property_id = properties.id AND i.status IN ('paying', 'active', 'completed')), 0)")

    for table, name, _old, new in REPLACED:
        _drop_check(table, name)
        _add_check(table, name, new)
    for table, name, condition in CHECKS:
        _add_check(table, name, condition)


def _add_check(table, name, condition):
    if op.get_bind().dialect.name == 'sqlite':  # no ALTER TABLE ADD CONSTRAINT: the batch copies the table
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_check_constraint(name, condition)
    else:  # a batch on PostgreSQL would not add a check constraint
        op.create_check_constraint(op.f(f'ck_{table}_{name}'), table, condition)


def _drop_check(table, name):
    if op.get_bind().dialect.name == 'sqlite':
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f'ck_{table}_{name}'), type_='check')
    else:
        op.drop_constraint(op.f(f'ck_{table}_{name}'), table, type_='check')



def downgrade():
    for table, name, old, _new in REPLACED:
        _drop_check(table, name)
        _add_check(table, name, old)
    for table, name, _condition in CHECKS:
        _drop_check(table, name)
    with op.batch_alter_table('properties', schema=None) as batch_op:
        batch_op.drop_column('units_sold')
        batch_op.drop_column('resale_lockup_days')
        batch_op.drop_column('unit_price')

    with op.batch_alter_table('investments', schema=None) as batch_op:
        batch_op.drop_column('cost_amount')
        batch_op.drop_column('acquired_by')
        batch_op.drop_column('units_listed')
        batch_op.drop_column('units')

    with op.batch_alter_table('market_flags', schema=None) as batch_op:
        batch_op.drop_index('ix_market_flags_status_created_at')

    op.drop_table('market_flags')
    if op.get_bind().dialect.name == 'sqlite':
        with op.batch_alter_table('market_offers', schema=None) as batch_op:
            batch_op.drop_constraint('fk_market_offers_trade_id_market_trades', type_='foreignkey')
    else:
        op.drop_constraint('fk_market_offers_trade_id_market_trades', 'market_offers', type_='foreignkey')
    with op.batch_alter_table('market_trades', schema=None) as batch_op:
        batch_op.drop_index('ix_market_trades_seller_id_settled_at')
        batch_op.drop_index('ix_market_trades_property_id_settled_at')
        batch_op.drop_index(batch_op.f('ix_market_trades_listing_id'))
        batch_op.drop_index('ix_market_trades_buyer_id_settled_at')

    op.drop_table('market_trades')
    with op.batch_alter_table('market_offers', schema=None) as batch_op:
        batch_op.drop_index('ix_market_offers_status_expires_at')
        batch_op.drop_index('ix_market_offers_listing_id_status')
        batch_op.drop_index('ix_market_offers_buyer_id_created_at')

    op.drop_table('market_offers')
    with op.batch_alter_table('market_listings', schema=None) as batch_op:
        batch_op.drop_index('ix_market_listings_status_expires_at')
        batch_op.drop_index('ix_market_listings_seller_id_created_at')
        batch_op.drop_index('ix_market_listings_property_id_status')
        batch_op.drop_index(batch_op.f('ix_market_listings_investment_id'))

    op.drop_table('market_listings')
    with op.batch_alter_table('market_halts', schema=None) as batch_op:
        batch_op.drop_index('uq_market_halts_property_id_in_force', postgresql_where=sa.text('resumed_at IS NULL'), sqlite_where=sa.text('resumed_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_market_halts_property_id'))

    op.drop_table('market_halts')
