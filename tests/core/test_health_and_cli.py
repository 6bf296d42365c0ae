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

    entries = db.session.scalar(select(func.count(JournalEntry.id)))
    second = runner.invoke(args=["seed", "demo"])
    assert second.exit_code == 0
    assert db.session.scalar(select(func.count(JournalEntry.id))) == entries  # a second run changes nothing
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
    verify = runner.invoke(args=["ledger", "verify"])
    assert verify.exit_code == 0 and verify.output.strip().startswith("ledger ok: "), verify.output


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
              "MAIL_SERVER": "smtp.internal", "BASE_URL": "https://freehold.example",
              "TRUSTED_HOSTS": ["freehold.example"]}


@pytest.fixture
def production_env(monkeypatch):
    """The environment a sound production deployment has (the app reads DATABASE_URL and BASE_URL from it)."""
    monkeypatch.setenv("DATABASE_URL", PRODUCTION["SQLALCHEMY_DATABASE_URI"])
    monkeypatch.setenv("BASE_URL", PRODUCTION["BASE_URL"])
    monkeypatch.setenv("METRICS_TOKEN", "m" * 32)


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


def test_config_check_warns_of_an_open_host_list_and_metrics_without_a_token(production_env, monkeypatch):
    from app import create_app

    monkeypatch.delenv("METRICS_TOKEN")
    result = _check(create_app(dict(PRODUCTION, TRUSTED_HOSTS=[], BASE_URL="http://freehold.example")))
    assert result.exit_code == 0, result.output  # warnings do not fail the check
    lines = result.output.strip().splitlines()
    assert "warning: TRUSTED_HOSTS: unset: the app answers any Host header; name the public host(s)" in lines
    assert "warning: METRICS_TOKEN: unset: /metrics needs a bearer token in production" in lines
    assert "warning: BASE_URL: not https: links and cookies need TLS" in lines
    assert lines[-1] == "config ok (production): 3 warning(s)"


def test_config_check_names_every_error_and_exits_1(production_env, monkeypatch):
    from app import create_app

    application = create_app(dict(PRODUCTION))
    # what the environment would have given an app that cannot start (create_app refuses it): checked as loaded
    monkeypatch.delitem(application.config, "SECRET_KEY")
    monkeypatch.setitem(application.config, "MAIL_SERVER", None)
    monkeypatch.setitem(application.config, "RECOVERY_CODE_KEY", "too-short")
    monkeypatch.setitem(application.config, "TRUSTED_HOSTS", None)
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
    assert lines[-1] == "config NOT ok (production): 4 error(s), 1 warning(s)"


def test_production_refuses_to_start_naming_every_error(monkeypatch):
    from app import create_app

    monkeypatch.setenv("DATABASE_URL", "sqlite:///instance/prod.db")
    monkeypatch.delenv("BASE_URL", raising=False)
    with pytest.raises(RuntimeError) as refused:
        create_app({"CONFIG": "production", "SECRET_KEY": None, "FIELD_ENCRYPTION_KEYS": None,
                    "SQLALCHEMY_DATABASE_URI": "sqlite:///instance/prod.db", "MAIL_SERVER": None})
    message = str(refused.value)
    for variable in ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL", "BASE_URL", "MAIL_SERVER"):
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
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "FREEHOLD_CONFIG": "production", "FLASK_APP": "wsgi"}
    checked = subprocess.run([flask, "config", "check"], cwd=root, env=env, capture_output=True, text=True,
                             timeout=120, check=False)
    assert checked.returncode == 1
    assert "Traceback" not in checked.stderr + checked.stdout
    for variable in ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL", "BASE_URL", "MAIL_SERVER"):
        assert f"error: {variable}: " in checked.stderr
    assert "config NOT ok (production): 5 error(s), 2 warning(s)" in checked.stderr
    refused = subprocess.run([flask, "ledger", "verify"], cwd=root, env=env, capture_output=True, text=True,
                             timeout=120, check=False)
    assert refused.returncode != 0 and "production configuration: SECRET_KEY: missing" in refused.stderr
