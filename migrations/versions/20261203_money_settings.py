"""settings that guard money live in the database and change with four eyes

- money_settings: the current value of each setting (key, integer value, who changed it last and by which change);
- setting_changes: proposed changes (pending, applied, rejected, withdrawn), one pending per key;
- seeded from today's values: the payout defaults (or PAYOUT_* when the environment sets them), each gateway's
  limits and fee, and the bank-transfer two-person threshold (its default when none was set: it cannot be removed);
- gateway_settings keeps what is not money (enabled, instructions): its limits, fee and threshold columns go.

Revision ID: 20261203_money_settings
Revises: 20261203_secret_links
Create Date: 2026-12-03 11:45:00.000000

"""
import os
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261203_money_settings'
down_revision = '20261203_secret_links'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
GATEWAYS = ("stripe", "bank_transfer", "razorpay")
# key -> (default in minor units or a number, the variable that set it until now, whether it is money)
PAYOUTS = {
    "payout.min": (1_000, "PAYOUT_MIN", True),
    "payout.max": (5_000_000, "PAYOUT_MAX", True),
    "payout.fee_bps": (50, "PAYOUT_FEE_BPS", False),
    "payout.fee_fixed": (100, "PAYOUT_FEE_FIXED", True),
    "payout.daily_limit": (2_500_000, "PAYOUT_DAILY_LIMIT", True),
    "payout.monthly_limit": (10_000_000, "PAYOUT_MONTHLY_LIMIT", True),
    "payout.dual_approval_above": (1_000_000, "PAYOUT_DUAL_APPROVAL_ABOVE", True),
}
SECOND_APPROVAL_DEFAULT = 1_000_000


def _from_env(default, name, money):
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        number = Decimal(raw)
    except InvalidOperation:
        return default
    number = number * 100 if money else number  # the amounts were read in major units of a two-decimal currency
    return int(number) if number == number.to_integral_value() and number >= 0 else default


def upgrade():
    op.create_table('setting_changes',
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('old_value', sa.BigInteger(), nullable=False),
    sa.Column('new_value', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('proposed_by_id', ID, nullable=False),
    sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by_id', ID, nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('rejection_reason', sa.Text(), nullable=True),
    sa.Column('id', ID, nullable=False),
    sa.CheckConstraint("status <> 'applied' OR decided_by_id <> proposed_by_id",
                       name=op.f('ck_setting_changes_two_different_people')),
    sa.CheckConstraint("status in ('pending', 'applied', 'rejected', 'withdrawn')",
                       name=op.f('ck_setting_changes_status_valid')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_setting_changes_decided_by_id_users')),
    sa.ForeignKeyConstraint(['proposed_by_id'], ['users.id'], name=op.f('fk_setting_changes_proposed_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_setting_changes'))
    )
    with op.batch_alter_table('setting_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_setting_changes_key'), ['key'], unique=False)
        batch_op.create_index(batch_op.f('ix_setting_changes_status'), ['status'], unique=False)
        batch_op.create_index('ix_setting_changes_one_pending', ['key'], unique=True,
                              postgresql_where=sa.text("status = 'pending'"),
                              sqlite_where=sa.text("status = 'pending'"))

    op.create_table('money_settings',
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', ID, nullable=True),
    sa.Column('change_id', ID, nullable=True),
    sa.Column('id', ID, nullable=False),
    sa.ForeignKeyConstraint(['change_id'], ['setting_changes.id'], name=op.f('fk_money_settings_change_id_setting_changes')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_money_settings_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_money_settings')),
    sa.UniqueConstraint('key', name=op.f('uq_money_settings_key'))
    )

    bind = op.get_bind()
    now = bind.execute(sa.select(sa.func.current_timestamp())).scalar()
    seed = {key: _from_env(default, name, money) for key, (default, name, money) in PAYOUTS.items()}
    gateways = sa.table('gateway_settings', sa.column('gateway', sa.String), sa.column('min_amount', sa.BigInteger),
                        sa.column('max_amount', sa.BigInteger), sa.column('fee_bps', sa.Integer),
                        sa.column('fee_fixed', sa.BigInteger), sa.column('second_approval_above', sa.BigInteger))
    rows = {r.gateway: r for r in bind.execute(sa.select(gateways)).all()}
    for gateway in GATEWAYS:
        row = rows.get(gateway)
        if row is None:
            continue  # the defaults apply, as they did
        seed.update({f"gateway.{gateway}.min_amount": row.min_amount, f"gateway.{gateway}.max_amount": row.max_amount,
                     f"gateway.{gateway}.fee_bps": row.fee_bps, f"gateway.{gateway}.fee_fixed": row.fee_fixed})
    bank = rows.get("bank_transfer")
    seed["bank_transfer.second_approval_above"] = (bank.second_approval_above if bank is not None
                                                   and bank.second_approval_above else SECOND_APPROVAL_DEFAULT)
    settings = sa.table('money_settings', sa.column('key', sa.String), sa.column('value', sa.BigInteger),
                        sa.column('updated_at', sa.DateTime(timezone=True)))
    if seed:
        bind.execute(settings.insert(), [{"key": k, "value": v, "updated_at": now} for k, v in sorted(seed.items())])

    with op.batch_alter_table('gateway_settings', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_gateway_settings_fee_bps_range'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_gateway_settings_fee_fixed_not_negative'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_gateway_settings_limits_valid'), type_='check')
        for column in ('min_amount', 'max_amount', 'fee_bps', 'fee_fixed', 'second_approval_above'):
            batch_op.drop_column(column)


def downgrade():
    with op.batch_alter_table('gateway_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('min_amount', sa.BigInteger(), nullable=False, server_default='1000'))
        batch_op.add_column(sa.Column('max_amount', sa.BigInteger(), nullable=False, server_default='10000000'))
        batch_op.add_column(sa.Column('fee_bps', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('fee_fixed', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('second_approval_above', sa.BigInteger(), nullable=True))
    bind = op.get_bind()
    settings = sa.table('money_settings', sa.column('key', sa.String), sa.column('value', sa.BigInteger))
    values = dict(bind.execute(sa.select(settings.c.key, settings.c.value)).all())
    gateways = sa.table('gateway_settings', sa.column('gateway', sa.String), sa.column('min_amount', sa.BigInteger),
                        sa.column('max_amount', sa.BigInteger), sa.column('fee_bps', sa.Integer),
                        sa.column('fee_fixed', sa.BigInteger), sa.column('second_approval_above', sa.BigInteger))
    for gateway in GATEWAYS:
        changes = {name: values[f"gateway.{gateway}.{name}"] for name in ('min_amount', 'max_amount', 'fee_bps',
                                                                          'fee_fixed')
                   if f"gateway.{gateway}.{name}" in values}
        if gateway == "bank_transfer":
            changes["second_approval_above"] = values.get("bank_transfer.second_approval_above",
                                                          SECOND_APPROVAL_DEFAULT)
        if changes:
            bind.execute(gateways.update().where(gateways.c.gateway == gateway).values(**changes))
    with op.batch_alter_table('gateway_settings', schema=None) as batch_op:
        for column in ('min_amount', 'max_amount', 'fee_bps', 'fee_fixed'):
            batch_op.alter_column(column, server_default=None)
        batch_op.create_check_constraint('fee_bps_range', 'fee_bps >= 0 AND fee_bps <= 5000')
        batch_op.create_check_constraint('fee_fixed_not_negative', 'fee_fixed >= 0')
        batch_op.create_check_constraint('limits_valid', 'min_amount > 0 AND max_amount >= min_amount')

    op.drop_table('money_settings')
    with op.batch_alter_table('setting_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_setting_changes_one_pending', postgresql_where=sa.text("status = 'pending'"),
                            sqlite_where=sa.text("status = 'pending'"))
        batch_op.drop_index(batch_op.f('ix_setting_changes_status'))
        batch_op.drop_index(batch_op.f('ix_setting_changes_key'))
    op.drop_table('setting_changes')
