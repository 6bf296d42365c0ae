"""Migrations: one head, and the models match the migrated schema (no drift)."""
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from flask_migrate import check, downgrade, upgrade

from app import create_app
from tests.support import test_config

MIGRATIONS = str(Path(__file__).resolve().parents[2] / "migrations")


def test_one_head():
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_no_drift_between_models_and_migrations(app):
    check(directory=MIGRATIONS)  # raises when autogenerate would detect a change


def test_downgrade_and_upgrade_round_trip(tmp_path):
    scratch = create_app(test_config(f"sqlite:///{tmp_path}/scratch.db"))
    with scratch.app_context():
        upgrade(directory=MIGRATIONS)
        downgrade(directory=MIGRATIONS, revision="base")
        upgrade(directory=MIGRATIONS)
        check(directory=MIGRATIONS)
