"""publication and changes of published terms take two people

- property_approvals: a property manager's request to publish a draft or to change the terms of a published
  offering (the proposed values as JSON), approved or rejected by a finance user who is not the submitter, or
  withdrawn by the submitter; one pending request per property; the terms' fingerprint at submission.

Revision ID: 20261203_property_approvals
Revises: 20261203_money_settings
Create Date: 2026-12-03 11:45:00.000000

"""
import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

# revision identifiers, used by Alembic.
revision = '20261203_property_approvals'
down_revision = '20261203_money_settings'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('property_approvals',
    sa.Column('property_id', ID, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('proposed', sa.JSON(), nullable=True),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('submitted_by_id', ID, nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by_id', ID, nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('id', ID, nullable=False),
    sa.CheckConstraint("kind in ('publish', 'terms_change')", name=op.f('ck_property_approvals_kind_valid')),
    sa.CheckConstraint("status in ('pending', 'approved', 'rejected', 'withdrawn')",
                       name=op.f('ck_property_approvals_status_valid')),
    sa.CheckConstraint("status <> 'approved' OR decided_by_id <> submitted_by_id",
                       name=op.f('ck_property_approvals_two_people')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_property_approvals_decided_by_id_users')),
    sa.ForeignKeyConstraint(['property_id'], ['properties.id'],
                            name=op.f('fk_property_approvals_property_id_properties'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['users.id'],
                            name=op.f('fk_property_approvals_submitted_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_property_approvals'))
    )
    with op.batch_alter_table('property_approvals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_property_approvals_property_id'), ['property_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_property_approvals_status'), ['status'], unique=False)
        batch_op.create_index('ix_property_approvals_one_pending', ['property_id'], unique=True,
                              postgresql_where=sa.text("status = 'pending'"),
                              sqlite_where=sa.text("status = 'pending'"))


def downgrade():
    with op.batch_alter_table('property_approvals', schema=None) as batch_op:
        batch_op.drop_index('ix_property_approvals_one_pending', postgresql_where=sa.text("status = 'pending'"),
                            sqlite_where=sa.text("status = 'pending'"))
        batch_op.drop_index(batch_op.f('ix_property_approvals_status'))
        batch_op.drop_index(batch_op.f('ix_property_approvals_property_id'))
    op.drop_table('property_approvals')
