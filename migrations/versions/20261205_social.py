"""social_identities: the Google and GitHub accounts investors linked to sign in with

Revision ID: 20261205_social
Revises: 20261205_user_locale
Create Date: 2026-12-05 00:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261205_social'
down_revision = '20261205_user_locale'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('social_identities',
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.CheckConstraint("provider in ('google', 'github')", name=op.f('ck_social_identities_provider_valid')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_social_identities_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_social_identities')),
    sa.UniqueConstraint('provider', 'subject', name=op.f('uq_social_identities_provider_subject')),
    sa.UniqueConstraint('user_id', 'provider', name=op.f('uq_social_identities_user_id_provider'))
    )


def downgrade():
    op.drop_table('social_identities')
