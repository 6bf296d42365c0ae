"""Probes and the command line as CONTRACT.md names them."""
import pytest

from app.extensions import db
from app.ledger import services as ledger
from tests.support import TEST_FERNET_KEYS, build_app


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_when_database_and_broker_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readyz_is_503_when_the_database_is_down(tmp_path):
    broken = build_app(f"sqlite:///{tmp_path}/missing-dir/nope/db.sqlite")
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] == "down"


def test_readyz_is_503_when_the_broker_is_down(database_url):
    broken = build_app(database_url, CELERY_BROKER_URL="redis://127.0.0.1:9/0")
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["broker"] == "down"


def test_users_create_command(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "--email", "Ops@Example.com", "--password",
                                 "A-long-password-1", "--role", "finance", "--verified"])
    assert result.exit_code == 0, result.output
    assert "created ops@example.com" in result.output
    from app.auth.services import user_by_email

    user = user_by_email("ops@example.com")
    assert user.email_verified and user.role_names == {"finance"}
    duplicate = runner.invoke(args=["users", "create", "--email", "ops@example.com", "--password",
                                    "A-long-password-1"])
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output
    weak = runner.invoke(args=["users", "create", "--email", "x@example.com", "--password", "short"])
    assert weak.exit_code != 0 and "12" in weak.output
    bad_role = runner.invoke(args=["users", "create", "--email", "y@example.com", "--password", "A-long-password-1",
                                   "--role", "king"])
    assert bad_role.exit_code != 0


def test_seed_demo_is_idempotent_and_funds_through_the_ledger(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed", "demo"])
    assert first.exit_code == 0, first.output
    assert "investor@example.com" in first.output and "TOTP secret" in first.output
    from sqlalchemy import func, select

    from app.ledger.models import JournalEntry
    from app.market.models import Listing, Offer, Trade

    def market_rows():
        return [db.session.scalar(select(func.count(model.id))) for model in (Listing, Offer, Trade)]

    entries, market = db.session.scalar(select(func.count(JournalEntry.id))), market_rows()
    second = runner.invoke(args=["seed", "demo"])
    assert second.exit_code == 0
    assert db.session.scalar(select(func.count(JournalEntry.id))) == entries  # a second run changes nothing
    assert market_rows() == market
    from app.auth.services import user_by_email

    investor = user_by_email("investor@example.com")
    assert investor.email_verified and not investor.totp_enabled
    for email in ("admin@example.com", "admin2@example.com", "compliance@example.com", "finance@example.com",
                  "finance2@example.com", "properties@example.com", "support@example.com"):
        staff = user_by_email(email)
        assert staff.totp_enabled and staff.is_staff, email
    assert user_by_email("properties@example.com").role_names == {"property_manager"}
    # funded with 50,000.00 by one completed deposit; the demo holdings and their returns are paid from it
    deposits, total = ledger.statement(investor.id, kinds=["deposit"])
    assert total == 1 and deposits[0].amount.amount_str() == "50000.00"
    from app.investing import portfolio

    holdings, count = portfolio.holdings(investor.id)
    assert count >= 2 and {"paying", "active"} <= {h.investment.status for h in holdings}
    summary = portfolio.summary(investor.id, "USD")
    assert summary.returns_earned.minor > 0 and summary.next_return_date is not None
    # closed holdings gave their money back (refunded, or the capital at the end): what is out is what live ones paid
    assert ledger.balance_of(investor.id).available.minor == (
        5_000_000 - summary.paid_in.minor + summary.returns_earned.minor)
    from app.payouts.models import PayoutMethod

    methods = db.session.query(PayoutMethod).filter_by(user_id=investor.id).all()
    assert len(methods) == 1 and methods[0].account_number_masked.endswith("6789")
    from app.kyc.services import overall_status

    assert overall_status(investor.id) == "approved"  # identity and address approved by the demo reviewer
    _the_demo_market_holds(investor)
    verify = runner.invoke(args=["ledger", "verify"])
    assert verify.exit_code == 0 and verify.output.strip().startswith("ledger ok: "), verify.output


def _the_demo_market_holds(investor):
    """CONTRACT.md's demo market: Northgate Logistics Park allows resale and its lock-up is over; the demo investor's
    fully paid holding there has an open listing; a co-investor's open offer on it is held from their wallet; one
    trade between two co-investors is on the tape, settled through the ledger."""
    from datetime import date

    from sqlalchemy import select

    from app.auth.services import user_by_email
    from app.investing.models import Investment
    from app.ledger.models import Hold, JournalEntry
    from app.market import services as market
    from app.market.models import Listing, Offer, Trade
    from app.properties.models import Property

    northgate = db.session.scalar(select(Property).where(Property.slug == "northgate-logistics"))
    assert northgate.resale_allowed and northgate.status in ("active", "funded")
    lockup_ends = market.lockup_ends_on(northgate)
    assert lockup_ends is not None and lockup_ends <= date.today()
    assert market.halt_in_force(northgate.id) is None

    listing = db.session.scalar(select(Listing).where(Listing.seller_id == investor.id))
    assert listing.property_id == northgate.id and listing.status == "open" and listing.units_remaining > 0
    holding = db.session.get(Investment, listing.investment_id)
    assert holding.user_id == investor.id and holding.status == "active"
    assert holding.paid_amount == holding.amount and holding.units > 0 and holding.units_listed == listing.units
    assert holding.units == holding.paid_amount // northgate.unit_price

    offer = db.session.scalar(select(Offer).where(Offer.listing_id == listing.id))
    coinvestors = {user_by_email(f"coinvestor{n}@example.com").id for n in (1, 2, 3)}
    assert offer.status == "open" and offer.buyer_id in coinvestors
    hold = db.session.get(Hold, offer.hold_id)
    assert hold.status == "pending" and hold.user_id == offer.buyer_id
    assert hold.amount == offer.held_amount == offer.units * offer.price_per_unit + offer.buyer_fee

    trades = db.session.scalars(select(Trade)).all()
    assert len(trades) == 1
    trade = trades[0]
    assert trade.property_id == northgate.id and {trade.seller_id, trade.buyer_id} <= coinvestors
    assert trade.seller_id != trade.buyer_id and trade.entry_id is not None
    assert db.session.get(JournalEntry, trade.entry_id).idempotency_key
    bought = db.session.get(Investment, trade.buyer_investment_id)
    assert bought.acquired_by == "trade" and bought.units == trade.units
    assert bought.amount == trade.units * trade.unit_price and bought.cost_amount == trade.amount + trade.buyer_fee


@pytest.mark.ledger_tampered
def test_ledger_verify_exits_1_on_a_violation(app, make_user, fund):
    from sqlalchemy import text

    fund(make_user(), "5.00")
    db.session.execute(text("UPDATE ledger_accounts SET balance = balance + 7 WHERE kind = 'user_wallet'"))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 1
    assert "caches balance" in result.output


def test_seed_refuses_production(app, monkeypatch):
    monkeypatch.setitem(app.config, "CONFIG_NAME", "production")
    result = app.test_cli_runner().invoke(args=["seed", "demo"])
    assert result.exit_code != 0 and "production" in result.output
    from app.auth.services import user_by_email

    assert user_by_email("investor@example.com") is None


def test_production_refuses_sqlite(monkeypatch):
    from app import create_app

    monkeypatch.setenv("DATABASE_URL", "sqlite:///instance/prod.db")
    monkeypatch.setenv("BASE_URL", "https://freehold.example")
    with pytest.raises(RuntimeError, match="PostgreSQL"):
        create_app({"CONFIG": "production", "SECRET_KEY": "x" * 40, "FIELD_ENCRYPTION_KEYS": TEST_FERNET_KEYS,
                    "SQLALCHEMY_DATABASE_URI": "sqlite:///instance/prod.db"})


def test_production_config_demands_its_secrets(monkeypatch):
    from app import create_app

    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app("production")


# flask config check ------------------------------------------------------------------------------------------------
PRODUCTION = {"CONFIG": "production", "SECRET_KEY": "s" * 40, "FIELD_ENCRYPTION_KEYS": TEST_FERNET_KEYS,
              "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://freehold@db.internal/freehold",
              "REDIS_URL": "redis://cache.internal:6379/0", "CELERY_BROKER_URL": None,
              "MAIL_SERVER": "smtp.internal", "MAIL_USE_TLS": True, "MAIL_USE_SSL": False,
              "BASE_URL": "https://freehold.example", "TRUSTED_HOSTS": ["freehold.example"],
              "METRICS_TOKEN": "m" * 32}


@pytest.fixture
def production_env(monkeypatch, tmp_path):
    """The environment a sound production deployment has (the app reads DATABASE_URL and BASE_URL from it), run
    from a directory without `.env`, in a process that read none (whatever the developer's checkout holds)."""
    from celery import _state

    from app import config
    from app.extensions import limiter

    # building an app binds process-wide state to it (Celery's current app, the one rate limiter): the suite's app
    # gets it back afterwards, rather than a broker and limits on hosts that do not exist
    monkeypatch.setattr(_state._tls, "current_app", getattr(_state._tls, "current_app", None))
    monkeypatch.setattr(_state, "default_app", _state.default_app)
    for name, value in list(vars(limiter).items()):
        monkeypatch.setattr(limiter, name, value)
    monkeypatch.setenv("DATABASE_URL", PRODUCTION["SQLALCHEMY_DATABASE_URI"])
    monkeypatch.setenv("BASE_URL", PRODUCTION["BASE_URL"])
    monkeypatch.setenv("METRICS_TOKEN", "m" * 32)
    monkeypatch.setenv("SENTRY_DSN", "https://key@sentry.example/1")  # read by the check, not by the app built
    for name in ("FLASK_SKIP_DOTENV", "FLASK_RUN_FROM_CLI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(config, "ROOT_DOTENV", tmp_path / "checkout" / ".env")
    monkeypatch.setattr(config, "DOTENV", config.DotenvRead())


def _check(application):
    with application.app_context():  # the command runs in the current app context (the suite pushes its own)
        return application.test_cli_runner().invoke(args=["config", "check"])


def test_config_check_passes_for_the_test_configuration(app):
    result = _check(app)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "config ok (testing)"


def test_config_check_passes_for_a_complete_production_configuration(production_env):
    from app import create_app

    result = _check(create_app(dict(PRODUCTION)))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "config ok (production)"


def test_config_check_warns_of_an_open_host_list(production_env):
    from app import create_app

    result = _check(create_app(dict(PRODUCTION, TRUSTED_HOSTS=[], BASE_URL="http://freehold.example")))
    assert result.exit_code == 0, result.output  # warnings do not fail the check
    lines = result.output.strip().splitlines()
    assert "warning: TRUSTED_HOSTS: unset: the app answers any Host header; name the public host(s)" in lines
    assert "warning: BASE_URL: not https: links and cookies need TLS" in lines
    assert lines[-1] == "config ok (production): 2 warning(s)"


def test_production_refuses_to_start_without_a_metrics_token(production_env):
    from app import create_app

    with pytest.raises(RuntimeError, match="METRICS_TOKEN: missing: /metrics needs a bearer token in production"):
        create_app(dict(PRODUCTION, METRICS_TOKEN=None))
    application = create_app(dict(PRODUCTION, METRICS_TOKEN=None), validate=False)
    result = _check(application)
    assert result.exit_code == 1
    assert "error: METRICS_TOKEN: missing: /metrics needs a bearer token in production" in result.output
    with pytest.raises(RuntimeError, match="METRICS_TOKEN: must be at least 16 characters"):
        create_app(dict(PRODUCTION, METRICS_TOKEN="short"))


def test_config_check_names_every_error_and_exits_1(production_env, monkeypatch):
    from app import create_app

    application = create_app(dict(PRODUCTION))
    # what the environment would have given an app that cannot start (create_app refuses it): checked as loaded
    monkeypatch.delitem(application.config, "SECRET_KEY")
    monkeypatch.setitem(application.config, "MAIL_SERVER", None)
    monkeypatch.setitem(application.config, "RECOVERY_CODE_KEY", "too-short")
    monkeypatch.setitem(application.config, "TRUSTED_HOSTS", None)
    monkeypatch.setitem(application.config, "REDIS_URL", None)
    monkeypatch.delenv("BASE_URL")
    result = _check(application)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    for expected in ("error: SECRET_KEY: missing",
                     "error: BASE_URL: missing (every link in mail, SMS, push and API answers is built from it)",
                     "error: RECOVERY_CODE_KEY: must be at least 32 characters (or unset: derived from SECRET_KEY)",
                     "error: MAIL_SERVER: production needs SMTP (mail is never written to the log there)",
                     "warning: TRUSTED_HOSTS: unset: the app answers any Host header; name the public host(s)"):
        assert expected in lines
    # the broker the app was given is Redis's: the cache and the rate limits still have none
    assert ("error: REDIS_URL: missing: the cache and the rate limits must be shared by every process "
            "(CELERY_BROKER_URL is the broker only)") in lines
    assert lines[-1] == "config NOT ok (production): 5 error(s), 1 warning(s)"


def test_production_refuses_to_start_naming_every_error(monkeypatch):
    from app import create_app

    monkeypatch.setenv("DATABASE_URL", "sqlite:///instance/prod.db")
    monkeypatch.delenv("BASE_URL", raising=False)
    with pytest.raises(RuntimeError) as refused:
        create_app({"CONFIG": "production", "SECRET_KEY": None, "FIELD_ENCRYPTION_KEYS": None,
                    "SQLALCHEMY_DATABASE_URI": "sqlite:///instance/prod.db", "MAIL_SERVER": None,
                    "REDIS_URL": None, "CELERY_BROKER_URL": None})
    message = str(refused.value)
    for variable in ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL", "BASE_URL", "MAIL_SERVER", "REDIS_URL"):
        assert f"{variable}: " in message
    assert "TRUSTED_HOSTS" not in message  # a warning does not stop the app


def test_config_check_from_the_shell_lists_the_errors_of_a_configuration_that_cannot_start(tmp_path):
    """`flask config check` on a production environment missing its secrets: every error named, exit 1, no
    traceback; any other command still refuses to start with that configuration."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    flask = str(Path(sys.executable).parent / "flask")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "FREEHOLD_CONFIG": "production", "FLASK_APP": "wsgi",
           "FLASK_SKIP_DOTENV": "1"}
    checked = subprocess.run([flask, "config", "check"], cwd=root, env=env, capture_output=True, text=True,
                             timeout=120, check=False)
    assert checked.returncode == 1
    assert "Traceback" not in checked.stderr + checked.stdout
    for variable in ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL", "BASE_URL", "MAIL_SERVER", "REDIS_URL",
                     "METRICS_TOKEN"):
        assert f"error: {variable}: " in checked.stderr
    assert "warning: SENTRY_DSN: unset: errors are only logged (no error tracking)" in checked.stdout
    assert "config NOT ok (production): 7 error(s), 2 warning(s)" in checked.stderr
    refused = subprocess.run([flask, "ledger", "verify"], cwd=root, env=env, capture_output=True, text=True,
                             timeout=120, check=False)
    assert refused.returncode != 0 and "production configuration: SECRET_KEY: missing" in refused.stderr


# production refuses mistakes ---------------------------------------------------------------------------------------
def _refusal(**overrides) -> str:
    from app import create_app

    with pytest.raises(RuntimeError) as refused:
        create_app(dict(PRODUCTION, **overrides))
    return str(refused.value)


def test_a_sound_production_configuration_shares_broker_cache_and_limits_through_redis(production_env):
    from app import create_app

    config = create_app(dict(PRODUCTION)).config
    assert config["CELERY_BROKER_URL"] == "redis://cache.internal:6379/0"
    assert config["RATELIMIT_STORAGE_URI"] == "redis://cache.internal:6379/0"
    assert (config["CACHE_TYPE"], config["CACHE_REDIS_URL"]) == ("RedisCache", "redis://cache.internal:6379/0")
    broker = create_app(dict(PRODUCTION, CELERY_BROKER_URL="redis://queue.internal:6379/1")).config
    assert broker["CELERY_BROKER_URL"] == "redis://queue.internal:6379/1"
    assert broker["RATELIMIT_STORAGE_URI"] == "redis://cache.internal:6379/0"


def test_production_without_redis_refuses_to_start_instead_of_falling_back(production_env):
    assert _refusal(REDIS_URL=None) == (
        "production configuration: REDIS_URL: missing: the broker, the cache and the rate limits must be shared by "
        "every process (production never falls back to a SQLite broker or per-process limits)")


def test_a_broker_alone_is_not_enough_for_the_cache_and_the_rate_limits(production_env):
    assert _refusal(REDIS_URL=None, CELERY_BROKER_URL="redis://queue.internal:6379/1") == (
        "production configuration: REDIS_URL: missing: the cache and the rate limits must be shared by every "
        "process (CELERY_BROKER_URL is the broker only)")


@pytest.mark.parametrize("broker", ["sqla+sqlite:////srv/freehold/broker.sqlite", "memory://"])
def test_production_refuses_a_broker_the_workers_do_not_share(production_env, broker):
    assert _refusal(CELERY_BROKER_URL=broker) == (
        "production configuration: CELERY_BROKER_URL: an in-process or file broker is not shared by the workers: "
        "name the Redis server (or unset it: REDIS_URL)")


def test_production_refuses_a_redis_url_that_is_not_redis(production_env):
    assert _refusal(REDIS_URL="memcached://cache.internal:11211") == (
        "production configuration: REDIS_URL: must be a redis:// or rediss:// URL")


def test_production_refuses_a_sqlite_database_url(production_env, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "sqlite:////srv/freehold/freehold.db")
    assert _refusal(SQLALCHEMY_DATABASE_URI="sqlite:////srv/freehold/freehold.db") == (
        "production configuration: DATABASE_URL: production needs PostgreSQL: it points at SQLite")


def test_production_refuses_to_start_without_base_url(production_env, monkeypatch):
    monkeypatch.delenv("BASE_URL")
    assert _refusal() == ("production configuration: BASE_URL: missing (every link in mail, SMS, push and API "
                          "answers is built from it)")


def test_the_unrefused_app_of_config_check_has_no_process_local_stand_ins(production_env):
    """`flask config check` builds the app without refusing: without Redis it still gets no SQLite broker, no
    per-process cache and no per-process limits."""
    from app import create_app

    config = create_app(dict(PRODUCTION, REDIS_URL=None), validate=False).config
    assert config["CELERY_BROKER_URL"] is None
    assert config["CACHE_TYPE"] == "NullCache" and config["RATELIMIT_ENABLED"] is False
    assert "RATELIMIT_STORAGE_URI" not in config


def test_config_check_warns_of_plain_smtp_beyond_this_machine(production_env):
    from app import create_app

    result = _check(create_app(dict(PRODUCTION, MAIL_USE_TLS=False)))
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines() == [
        "warning: MAIL_USE_TLS: off, and MAIL_USE_SSL too: mail to smtp.internal (its links, and the SMTP password) "
        "crosses the network unencrypted",
        "config ok (production): 1 warning(s)"]
    local = _check(create_app(dict(PRODUCTION, MAIL_USE_TLS=False, MAIL_SERVER="127.0.0.1")))
    assert local.output.strip() == "config ok (production)"  # a relay on this machine
    implicit = _check(create_app(dict(PRODUCTION, MAIL_USE_SSL=True, MAIL_PORT=465)))
    assert implicit.output.strip().splitlines() == [
        "warning: MAIL_USE_SSL: on, and MAIL_USE_TLS too: implicit TLS is used, STARTTLS is not",
        "config ok (production): 1 warning(s)"]


def test_config_check_warns_that_errors_are_only_logged_without_sentry(production_env, monkeypatch):
    from app import create_app

    monkeypatch.delenv("SENTRY_DSN")
    result = _check(create_app(dict(PRODUCTION)))
    assert result.exit_code == 0
    assert result.output.strip().splitlines() == [
        "warning: SENTRY_DSN: unset: errors are only logged (no error tracking)",
        "config ok (production): 1 warning(s)"]


# .env stays out of production --------------------------------------------------------------------------------------
def test_dotenv_is_read_in_development_never_over_the_environment(tmp_path):
    from app.config import read_dotenv

    (tmp_path / ".env").write_text("SECRET_KEY=from-dotenv\nMAIL_SERVER=smtp.dev\n")
    environ = {"MAIL_SERVER": "smtp.real"}
    read = read_dotenv(tmp_path / ".env", environ)
    assert environ == {"MAIL_SERVER": "smtp.real", "SECRET_KEY": "from-dotenv"}
    assert read.loaded == ("SECRET_KEY",) and not read.production_named


def test_dotenv_is_never_read_when_the_environment_names_production(tmp_path):
    from app.config import DotenvRead, read_dotenv

    (tmp_path / ".env").write_text("SECRET_KEY=from-dotenv\nDATABASE_URL=sqlite:///dev.db\n")
    environ = {"FREEHOLD_CONFIG": "production"}
    assert read_dotenv(tmp_path / ".env", environ) == DotenvRead()
    assert environ == {"FREEHOLD_CONFIG": "production"}


def test_a_dotenv_naming_production_starts_production_without_its_settings_and_is_refused(
        tmp_path, production_env, monkeypatch):
    from app import config
    from app.config import read_dotenv

    (tmp_path / ".env").write_text("FREEHOLD_CONFIG=production\nSECRET_KEY=from-dotenv\n")
    environ: dict[str, str] = {}
    read = read_dotenv(tmp_path / ".env", environ)
    assert environ == {"FREEHOLD_CONFIG": "production"}  # production is chosen, none of the file's settings taken
    assert read.production_named
    monkeypatch.setattr(config, "DOTENV", read)
    assert _refusal() == (f"production configuration: FREEHOLD_CONFIG: production is named in {tmp_path / '.env'}, "
                          "which production never reads: set FREEHOLD_CONFIG=production in the environment")


def test_production_built_by_a_process_that_read_dotenv_is_refused(tmp_path, production_env, monkeypatch):
    from app import config

    monkeypatch.setattr(config, "DOTENV", config.DotenvRead(tmp_path / ".env", ("SECRET_KEY", "REDIS_URL")))
    assert _refusal() == (f"production configuration: FREEHOLD_CONFIG: this process read {tmp_path / '.env'} "
                          "(SECRET_KEY, REDIS_URL) before building the production configuration: start it with "
                          "FREEHOLD_CONFIG=production in the environment")


def test_config_check_warns_of_a_dotenv_a_flask_command_would_read(tmp_path, production_env, monkeypatch):
    from app import create_app

    (tmp_path / ".env").write_text("SECRET_KEY=from-dotenv\n")
    application = create_app(dict(PRODUCTION))  # gunicorn or a worker: the app itself never reads it
    result = _check(application)
    assert result.exit_code == 0
    assert result.output.strip().splitlines() == [
        f"warning: FLASK_SKIP_DOTENV: unset, and {tmp_path / '.env'} exists: a flask command run below it would "
        "read it (set FLASK_SKIP_DOTENV=1, or remove it)",
        "config ok (production): 1 warning(s)"]
    monkeypatch.setenv("FLASK_SKIP_DOTENV", "1")
    assert _check(application).output.strip() == "config ok (production)"


def test_a_flask_command_that_read_dotenv_refuses_production(tmp_path, production_env, monkeypatch):
    (tmp_path / ".env").write_text("SECRET_KEY=from-dotenv\n")
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")  # what the flask command sets before it reads .env
    assert _refusal() == (f"production configuration: FLASK_SKIP_DOTENV: unset, so this flask command read "
                          f"{tmp_path / '.env'}: production takes its settings from the environment only (set "
                          "FLASK_SKIP_DOTENV=1)")
    monkeypatch.setenv("FLASK_SKIP_DOTENV", "1")
    from app import create_app

    assert create_app(dict(PRODUCTION)).config["CONFIG_NAME"] == "production"


def test_the_flask_command_in_production_keeps_dotenv_out_from_the_shell(tmp_path):
    """From a directory holding a `.env` with the secrets production lacks: the flask command refuses what it read;
    with FLASK_SKIP_DOTENV=1 it reads nothing, and the secrets are missing."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    flask = str(Path(sys.executable).parent / "flask")
    (tmp_path / ".env").write_text(f"SECRET_KEY={'d' * 40}\nFIELD_ENCRYPTION_KEYS={TEST_FERNET_KEYS}\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "FREEHOLD_CONFIG": "production",
           "FLASK_APP": str(root / "wsgi.py")}
    read = subprocess.run([flask, "config", "check"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert read.returncode == 1
    assert f"error: FLASK_SKIP_DOTENV: unset, so this flask command read {tmp_path / '.env'}" in read.stderr
    assert "error: SECRET_KEY" not in read.stderr  # what it read is there, and refused
    skipped = subprocess.run([flask, "config", "check"], cwd=tmp_path, env=dict(env, FLASK_SKIP_DOTENV="1"),
                             capture_output=True, text=True, timeout=120, check=False)
    assert skipped.returncode == 1
    assert "error: SECRET_KEY: missing" in skipped.stderr and "error: FIELD_ENCRYPTION_KEYS: missing" in skipped.stderr
    assert "FLASK_SKIP_DOTENV" not in skipped.stderr
