"""The investor's profile: name change requests for compliance, e-mail changes confirmed by link, phone
verification by SMS code (users.phone_verified_at)

Revision ID: 20261205_profile
Revises: 20261205_user_locale
Create Date: 2026-12-05 00:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261205_profile'
down_revision = '20261205_user_locale'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('email_changes',
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('new_email', sa.String(length=254), nullable=False),
    sa.Column('nonce_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_email_changes_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_changes'))
    )
    with op.batch_alter_table('email_changes', schema=None) as batch_op:
        batch_op.create_index('ix_email_changes_one_open', ['user_id'], unique=True, postgresql_where=sa.text('confirmed_at IS NULL AND cancelled_at IS NULL'), sqlite_where=sa.text('confirmed_at IS NULL AND cancelled_at IS NULL'))
        batch_op.create_index(batch_op.f('ix_email_changes_user_id'), ['user_id'], unique=False)

    op.create_table('name_change_requests',
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('old_first_name', sa.String(length=100), nullable=False),
    sa.Column('old_last_name', sa.String(length=100), nullable=False),
    sa.Column('new_first_name', sa.String(length=100), nullable=False),
    sa.Column('new_last_name', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('proposed_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('decided_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status in ('proposed', 'approved', 'rejected')", name=op.f('ck_name_change_requests_status_valid')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_name_change_requests_decided_by_id_users')),
    sa.ForeignKeyConstraint(['proposed_by_id'], ['users.id'], name=op.f('fk_name_change_requests_proposed_by_id_users')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_name_change_requests_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_name_change_requests'))
    )
    with op.batch_alter_table('name_change_requests', schema=None) as batch_op:
        batch_op.create_index('ix_name_change_requests_one_open', ['user_id'], unique=True, postgresql_where=sa.text("status = 'proposed'"), sqlite_where=sa.text("status = 'proposed'"))
        batch_op.create_index(batch_op.f('ix_name_change_requests_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_name_change_requests_user_id'), ['user_id'], unique=False)

    op.create_table('phone_verifications',
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('phone', sa.Text(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_phone_verifications_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_phone_verifications'))
    )
    with op.batch_alter_table('phone_verifications', schema=None) as batch_op:
        batch_op.create_index('ix_phone_verifications_user_id_created_at', ['user_id', 'created_at'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_verified_at', sa.DateTime(timezone=True), nullable=True))



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('phone_verified_at')

    with op.batch_alter_table('phone_verifications', schema=None) as batch_op:
        batch_op.drop_index('ix_phone_verifications_user_id_created_at')

    op.drop_table('phone_verifications')
    with op.batch_alter_table('name_change_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_name_change_requests_user_id'))
        batch_op.drop_index(batch_op.f('ix_name_change_requests_status'))
        batch_op.drop_index('ix_name_change_requests_one_open', postgresql_where=sa.text("status = 'proposed'"), sqlite_where=sa.text("status = 'proposed'"))

    op.drop_table('name_change_requests')
    with op.batch_alter_table('email_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_changes_user_id'))
        batch_op.drop_index('ix_email_changes_one_open', postgresql_where=sa.text('confirmed_at IS NULL AND cancelled_at IS NULL'), sqlite_where=sa.text('confirmed_at IS NULL AND cancelled_at IS NULL'))

    op.drop_table('email_changes')
