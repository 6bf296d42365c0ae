import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app
from sqlalchemy.types import TypeDecorator

from app.core.db import STATEMENT_CHECKED

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# Interpret the config file for Python logging.
# This line sets up loggers basically.
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger('alembic.env')


def get_engine():
    return current_app.extensions['migrate'].db.engine


def get_engine_url():
    try:
        return get_engine().url.render_as_string(hide_password=False).replace(
            '%', '%%')
    except AttributeError:
        return str(get_engine().url).replace('%', '%%')


# add your model's MetaData object here
# for 'autogenerate' support
# from myapp import mymodel
# target_metadata = mymodel.Base.metadata
config.set_main_option('sqlalchemy.url', get_engine_url())
target_db = current_app.extensions['migrate'].db

# other values from the config, defined by the needs of env.py,
# can be acquired:
# my_important_option = config.get_main_option("my_important_option")
# ... etc.


def render_item(type_, obj, autogen_context):
    """Render our TypeDecorators (UTCDateTime, EncryptedString) as the plain types they store."""
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


# maintained by the database itself on PostgreSQL (a generated column and its index): not in the models
DATABASE_ONLY = {"search_vector", "ix_properties_search_vector",
                 # the console's prefix-search indexes (20261206_list_indexes), PostgreSQL only
                 "ix_users_email_prefix", "ix_users_first_name_prefix", "ix_users_last_name_prefix",
                 "ix_login_attempts_email_prefix", "ix_audit_log_actor_email_prefix",
                 "ix_ledger_entries_idempotency_key_prefix", "ix_notification_deliveries_to_address_prefix",
                 "ix_deposits_gateway_reference_prefix",
                 "ix_support_tickets_subject_prefix"}  # 20261206_console


def statement_checked(constraint):
    """A foreign key its model marks as checked per statement (app.core.db.STATEMENT_CHECKED)."""
    return any(fk.info.get(STATEMENT_CHECKED) for fk in getattr(constraint, "elements", ()))


def include_object(obj, name, type_, reflected, compare_to):
    if type_ == "foreign_key_constraint" and statement_checked(obj) and get_engine().dialect.name == "postgresql":
        return False  # checked per statement by a trigger there, not by a constraint
    return name not in DATABASE_ONLY


def get_metadata():
    if hasattr(target_db, 'metadatas'):
        return target_db.metadatas[None]
    return target_db.metadata


def run_migrations_offline():
    """Run migrations in 'offline' mode.

    This configures the context with just a URL
    and not an Engine, though an Engine is acceptable
    here as well.  By skipping the Engine creation
    we don't even need a DBAPI to be available.

    Calls to context.execute() here emit the given string to the
    script output.

    """
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url, target_metadata=get_metadata(), literal_binds=True
    )

    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run migrations in 'online' mode.

    In this scenario we need to create an Engine
    and associate a connection with the context.

    """

    # this callback is used to prevent an auto-migration from being generated
    # when there are no changes to the schema
    # reference: http://alembic.zzzcomputing.com/en/latest/cookbook.html
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, 'autogenerate', False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info('No changes in schema detected.')

    conf_args = current_app.extensions['migrate'].configure_args
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives

    conf_args.setdefault("render_item", render_item)
    conf_args.setdefault("include_object", include_object)

    connectable = get_engine()

    with connectable.connect() as connection:
        if connection.dialect.name == "sqlite":
            # SQLite alters a table by copying it into a new one and dropping the old (batch mode); with foreign keys
            # enforced, dropping `users` would cascade into every table that references it (recovery codes,
            # sessions...). Off for the migration only (the pragma is ignored inside a transaction, so before it).
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=get_metadata(),
            **conf_args
        )

        with context.begin_transaction():
            context.run_migrations()
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")  # the pooled connection goes back as it came


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
