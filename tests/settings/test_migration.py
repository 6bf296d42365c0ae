"""The migration seeds the settings from today's values: the payout defaults (or PAYOUT_* when set), each gateway's
limits and fee, the bank-transfer threshold (its default when none was set: a threshold cannot be removed)."""
from __future__ import annotations

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from app import create_app
from app.extensions import db
from tests.core.test_migrations import MIGRATIONS
from tests.support import test_config


def test_the_migration_seeds_todays_values_and_goes_back(tmp_path, monkeypatch):
    monkeypatch.setenv("PAYOUT_MAX", "40000.00")
    scratch = create_app(test_config(f"sqlite:///{tmp_path}/seed.db"))
    with scratch.app_context():
        upgrade(directory=MIGRATIONS, revision="20261203_secret_links")
        with db.engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO gateway_settings (gateway, enabled, min_amount, max_amount, fee_bps, fee_fixed, "
                "instructions, second_approval_above, updated_at) VALUES "
                "('stripe', 1, 500, 900000, 120, 25, 'Cards', NULL, CURRENT_TIMESTAMP), "
                "('bank_transfer', 1, 1000, 20000000, 0, 0, 'IBAN', 750000, CURRENT_TIMESTAMP)"))
        upgrade(directory=MIGRATIONS, revision="20261203_money_settings")
        with db.engine.connect() as conn:
            values = dict(conn.execute(sa.text("SELECT key, value FROM money_settings")).all())
            columns = {c["name"] for c in sa.inspect(conn).get_columns("gateway_settings")}
        assert values["payout.max"] == 4_000_000 and values["payout.min"] == 1_000
        assert values["payout.fee_bps"] == 50 and values["payout.dual_approval_above"] == 1_000_000
        assert (values["gateway.stripe.min_amount"], values["gateway.stripe.max_amount"],
                values["gateway.stripe.fee_bps"], values["gateway.stripe.fee_fixed"]) == (500, 900_000, 120, 25)
        assert values["gateway.bank_transfer.max_amount"] == 20_000_000
        assert values["bank_transfer.second_approval_above"] == 750_000
        assert "gateway.razorpay.min_amount" not in values  # no row: the defaults apply, as they did
        assert "fee_bps" not in columns and {"enabled", "instructions"} <= columns
        downgrade(directory=MIGRATIONS, revision="20261203_secret_links")
        with db.engine.connect() as conn:
            row = conn.execute(sa.text("SELECT fee_bps, second_approval_above FROM gateway_settings "
                                       "WHERE gateway = 'bank_transfer'")).one()
        assert tuple(row) == (0, 750_000)
        db.session.remove()
