"""sign-in failures per account and source address; recovery codes under a keyed hash

- signin_failures: failed sign-ins in a row per (user, source address) and that source's lock, so one address
  cannot lock the owner out everywhere;
- users.failures_since: the start of the window in which users.failed_logins counts failures from every source
  (the account-wide ceiling for accounts without 2FA);
- recovery_codes.code_hash widens to hold a scheme marker, and every stored plain SHA-256 is wrapped in place:
  `hmac1w$` + HMAC-SHA256(key, old hash), the key being RECOVERY_CODE_KEY or, when unset, derived from SECRET_KEY
  exactly as app/auth/recovery.py derives it (repeated here so this revision never changes with the app). It runs
  inside `flask db upgrade`, which has the application's configuration: after it no unkeyed hash remains.
  Downgrading cannot unwrap a keyed hash: it deletes the recovery codes (their users make new ones).

Revision ID: 20261203_accounts
Revises: 0011_calendar_consumed
Create Date: 2026-12-03 07:40:00.000000

"""
import hashlib
import hmac

import sqlalchemy as sa
from alembic import op
from flask import current_app

# revision identifiers, used by Alembic.
revision = '20261203_accounts'
down_revision = '20261203_staff_hierarchy'
branch_labels = None
depends_on = None

WRAPPED = "hmac1w$"
KEY_PURPOSE = b"freehold.recovery-codes"


def recovery_key(config) -> bytes:
    if config.get("RECOVERY_CODE_KEY"):
        return config["RECOVERY_CODE_KEY"].encode()
    return hmac.new(config["SECRET_KEY"].encode(), KEY_PURPOSE, hashlib.sha256).digest()


def wrap_plain_hashes(connection, key: bytes) -> int:
    """Wrap every recovery code still stored as a plain SHA-256 (64 hex digits, no scheme marker)."""
    codes = sa.table("recovery_codes", sa.column("id"), sa.column("code_hash"))
    rows = connection.execute(sa.select(codes.c.id, codes.c.code_hash)
                              .where(~codes.c.code_hash.like("hmac%"))).all()
    for row in rows:
        wrapped = WRAPPED + hmac.new(key, row.code_hash.encode(), hashlib.sha256).hexdigest()
        connection.execute(sa.update(codes).where(codes.c.id == row.id).values(code_hash=wrapped))
    return len(rows)


def upgrade():
    op.create_table('signin_failures',
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_signin_failures_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signin_failures')),
    sa.UniqueConstraint('user_id', 'source', name=op.f('uq_signin_failures_user_id_source'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failures_since', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.alter_column('code_hash', existing_type=sa.String(length=64), type_=sa.String(length=80),
                              existing_nullable=False)
    wrap_plain_hashes(op.get_bind(), recovery_key(current_app.config))


def downgrade():
    op.execute(sa.text("DELETE FROM recovery_codes"))
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.alter_column('code_hash', existing_type=sa.String(length=80), type_=sa.String(length=64),
                              existing_nullable=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('failures_since')
    op.drop_table('signin_failures')
