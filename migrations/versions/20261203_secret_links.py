"""links that grant access are never stored readable; security messages cannot be overridden

- notification_deliveries.secret: the link of a secret event (verification, password reset), encrypted with the
  field keys, kept only until the delivery is over;
- existing rows are scrubbed: in the deliveries of those events every such link in the subject, text and HTML is
  replaced by the placeholder the application now stores, their encrypted link stays empty (a resend issues a new
  one), and the notifications of those events lose their link;
- staff overrides of security messages are switched off (the application ignores them anyway).

Revision ID: 20261203_secret_links
Revises: 0011_calendar_consumed
Create Date: 2026-12-03 07:45:00.000000

"""
import re

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261203_secret_links'
down_revision = '20261203_accounts'
branch_labels = None
depends_on = None

PLACEHOLDER = "[link hidden: sent to the recipient only]"  # app/notifications/secrets.py
SECRET_EVENTS = ("verify_email", "reset_password")
LOCKED_EVENTS = ("verify_email", "reset_password", "security_notice", "account_locked", "staff_account_locked",
                 "payout_method_added")
# an absolute or relative link to a page whose path carries a token (escaped HTML included)
SECRET_LINK = re.compile(r"(?:https?://[^\s\"'<>/]+)?/(?:verify-email|password/reset)/[A-Za-z0-9_.\-]+")


def _scrub(text):
    return None if text is None else SECRET_LINK.sub(PLACEHOLDER, text)


def upgrade():
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('secret', sa.Text(), nullable=True))

    bind = op.get_bind()
    deliveries = sa.table('notification_deliveries', sa.column('id', sa.Integer), sa.column('notification_id'),
                          sa.column('subject', sa.String), sa.column('body', sa.Text), sa.column('html', sa.Text))
    notifications = sa.table('notifications', sa.column('id', sa.Integer), sa.column('event', sa.String),
                             sa.column('link', sa.String))
    secret_ids = sa.select(notifications.c.id).where(notifications.c.event.in_(SECRET_EVENTS))
    rows = bind.execute(sa.select(deliveries.c.id, deliveries.c.subject, deliveries.c.body, deliveries.c.html)
                        .where(deliveries.c.notification_id.in_(secret_ids))).all()
    for row_id, subject, body, html in rows:
        bind.execute(deliveries.update().where(deliveries.c.id == row_id)
                     .values(subject=_scrub(subject), body=_scrub(body) or "", html=_scrub(html)))
    bind.execute(notifications.update().where(notifications.c.event.in_(SECRET_EVENTS)).values(link=None))
    templates = sa.table('notification_templates', sa.column('event', sa.String), sa.column('active', sa.Boolean))
    bind.execute(templates.update().where(templates.c.event.in_(LOCKED_EVENTS)).values(active=False))


def downgrade():
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.drop_column('secret')
