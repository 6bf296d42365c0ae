"""Freehold: back office, investor portal and API for fractional real-estate investing."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet
from flask import Flask

# Importing the configuration reads `.env` in development and testing, before the configuration classes read the
# environment; production never reads it (app/config.py read_dotenv)
from app.config import CONFIGS, Config, config_from_env


def create_app(config: type[Config] | str | dict | None = None, *, validate: bool = True) -> Flask:
    """config: a Config class, a name ("development", "testing", "production"), or a dict of overrides.
    validate=False builds the app even from a configuration it would refuse (an error in production): only for
    `flask config check`, which lists those errors instead of stopping at them (wsgi.py)."""
    app = Flask(__name__, template_folder="../templates", static_folder="../static", instance_relative_config=True)
    _load_config(app, config, validate=validate)

    # Imported here, not at the top: this package's __init__ runs before any module under app/ does, so importing
    # the application's modules at the top would load all of them (views, console, API, tasks) whenever any one
    # is imported, and each imports app.core and app.extensions back (a cycle); they also need the configuration
    # read above. Each import below is one of these and says so.
    from app import models  # noqa: F401  (in the factory, see above; registers every model with the metadata)
    from app.admin import init_admin  # in the factory, see above
    from app.api import init_api  # in the factory, see above
    from app.auth import social_views  # noqa: F401  (in the factory, see above; its routes join auth's blueprint)
    from app.auth.login import init_login  # in the factory, see above
    from app.auth.views import bp as auth_bp  # in the factory, see above
    from app.celery_app import celery_init_app  # in the factory, see above
    from app.cli import register_cli  # in the factory, see above
    from app.core import db as core_db  # in the factory, see above
    from app.core.error_tracking import init_app as init_error_tracking  # in the factory, see above
    from app.core.errors import register_error_handlers  # in the factory, see above
    from app.core.headers import init_security_headers  # in the factory, see above
    from app.core.i18n import init_i18n  # in the factory, see above
    from app.core.metrics import init_request_metrics  # in the factory, see above
    from app.core.perimeter import init_perimeter  # in the factory, see above
    from app.core.requestlog import init_app as init_request_log  # in the factory, see above
    from app.extensions import bootstrap, cache, csrf, db, limiter, login_manager, migrate  # in the factory
    from app.health import bp as health_bp  # in the factory, see above
    from app.investing.services import check_units_sold  # in the factory, see above
    from app.ledger.checks import register_check  # in the factory, see above
    from app.market.checks import check_market  # in the factory, see above
    from app.notifications import handlers as notification_handlers  # in the factory, see above
    from app.ops.metrics import bp as metrics_bp  # in the factory, see above
    from app.payments.webhooks import bp as webhooks_bp  # in the factory, see above
    from app.portal import bp as portal_bp  # in the factory, see above
    from app.properties.views import bp as media_bp  # in the factory, see above

    init_error_tracking(app)  # before the first request or task: Sentry when SENTRY_DSN is set
    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    cache.init_app(app)
    bootstrap.init_app(app)
    init_i18n(app)
    core_db.init_app(app)
    init_request_log(app)
    init_request_metrics(app)
    core_db.configure_engine(app)
    celery_init_app(app)

    register_check(check_units_sold)
    register_check(check_market)
    notification_handlers.connect()  # notifications answer what the accounts domain signals
    init_login(app)
    app.register_blueprint(health_bp)
    app.register_blueprint(metrics_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(portal_bp)
    app.register_blueprint(media_bp)
    app.register_blueprint(webhooks_bp)
    init_api(app)
    init_admin(app)
    register_error_handlers(app)
    init_security_headers(app)
    init_perimeter(app)  # trusted hosts and proxies
    register_cli(app)
    return app


def _load_config(app: Flask, config, *, validate: bool = True) -> None:
    overrides: dict = {}
    if config is None:
        cls = config_from_env()
    elif isinstance(config, str):
        cls = CONFIGS[config]
    elif isinstance(config, dict):
        overrides = dict(config)
        cls = CONFIGS[overrides.pop("CONFIG", None) or config_from_env().NAME]
    else:
        cls = config
    app.config.from_object(cls)
    app.config.update(overrides)
    app.config["CONFIG_NAME"] = cls.NAME
    from app.core.logs import configure_from_config  # in the factory, see create_app

    configure_from_config(app.config)  # before validating: its warnings are logged in the configured format

    root = Path(app.root_path).parent
    instance = Path(app.instance_path)
    if cls.NAME != "production":
        instance.mkdir(parents=True, exist_ok=True)
        if not app.config.get("SECRET_KEY"):
            app.config["SECRET_KEY"] = _instance_secret(instance / "secret_key", _new_secret_key)
        if not app.config.get("FIELD_ENCRYPTION_KEYS"):
            app.config["FIELD_ENCRYPTION_KEYS"] = _instance_secret(instance / "field_keys", _new_fernet_key)

    app.config["SQLALCHEMY_DATABASE_URI"] = _absolute_sqlite(app.config["SQLALCHEMY_DATABASE_URI"], root)
    if validate:  # before anything is derived: the configuration is judged as the environment gave it
        cls.validate(app.config)
    _derive_service_urls(app, instance, production=cls.NAME == "production")


def _absolute_sqlite(url: str, root: Path) -> str:
    """`sqlite:///instance/freehold.db` means <repository>/instance/freehold.db wherever the process starts."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        return prefix + str((root / url[len(prefix):]).resolve())
    return url


def _derive_service_urls(app: Flask, instance: Path, *, production: bool) -> None:
    redis_url = app.config.get("REDIS_URL")
    broker = app.config.get("CELERY_BROKER_URL")
    app.config.setdefault("CACHE_KEY_PREFIX", "freehold:")
    if redis_url:
        app.config.setdefault("RATELIMIT_STORAGE_URI", redis_url)
        app.config.setdefault("CACHE_TYPE", "RedisCache")
        app.config.setdefault("CACHE_REDIS_URL", redis_url)
    if production:
        # Never a fallback: the broker, the cache and the rate limits are shared by every process through Redis,
        # and the production configuration refuses to start without REDIS_URL (Production.problems). Only an app
        # built without that refusal gets here without it (`flask config check`, which serves nothing): it gets no
        # broker, no cache and no rate limits rather than process-local ones.
        app.config["CELERY_BROKER_URL"] = broker or redis_url
        if not redis_url:
            app.config.setdefault("RATELIMIT_ENABLED", False)
            app.config.setdefault("CACHE_TYPE", "NullCache")
            app.config.setdefault("CACHE_NO_NULL_WARNING", True)  # the check's output lists the problem itself
        return
    if not broker:
        if app.config.get("CELERY_TASK_ALWAYS_EAGER"):
            broker = "memory://"
        elif redis_url:
            broker = redis_url
        else:
            broker = f"sqla+sqlite:///{instance / 'celery-broker.sqlite'}"
    app.config["CELERY_BROKER_URL"] = broker
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    app.config.setdefault("CACHE_TYPE", "SimpleCache")


def _instance_secret(path: Path, make) -> str:
    if path.exists():
        return path.read_text().strip()
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def _new_secret_key() -> str:
    return secrets.token_urlsafe(48)


def _new_fernet_key() -> str:
    return Fernet.generate_key().decode()
