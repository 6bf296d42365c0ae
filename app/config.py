"""Configuration read from the environment (CONTRACT.md lists the variables)."""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, overload

from dotenv import dotenv_values, find_dotenv

from app.config_problems import (
    Problem,
    mail_problems,
    paypal_problems,
    shared_services_problems,
    social_problems,
)

log = logging.getLogger(__name__)

# The development settings file: read by development and testing only (read_dotenv below)
ROOT_DOTENV = Path(__file__).resolve().parent.parent / ".env"


@dataclass(frozen=True)
class DotenvRead:
    """What this process took from `.env` when it started (read_dotenv)."""

    path: Path | None = None
    loaded: tuple[str, ...] = ()  # the variables it set
    production_named: bool = False  # `.env` named FREEHOLD_CONFIG=production: that alone was taken


def read_dotenv(path: Path = ROOT_DOTENV, environ: MutableMapping[str, str] = os.environ) -> DotenvRead:
    """`.env` at the repository root is read by development and testing, never over a variable already set, before
    the configuration classes below read the environment. Production takes its settings from the environment only:
    nothing is read when the environment names it, and when `.env` itself names it only that choice is taken (so
    the app starts as production, and refuses to: Production.problems)."""
    if not path.is_file() or (environ.get("FREEHOLD_CONFIG") or "").strip().lower() == "production":
        return DotenvRead()
    values = {name: value for name, value in dotenv_values(path, encoding="utf-8").items() if value is not None}
    if not environ.get("FREEHOLD_CONFIG") and (values.get("FREEHOLD_CONFIG") or "").strip().lower() == "production":
        environ["FREEHOLD_CONFIG"] = "production"
        return DotenvRead(path, ("FREEHOLD_CONFIG",), production_named=True)
    loaded = tuple(name for name in values if name not in environ)
    for name in loaded:
        environ[name] = values[name]
    return DotenvRead(path, loaded)


DOTENV = read_dotenv()


@overload
def _env(name: str, default: str) -> str: ...
@overload
def _env(name: str, default: None = None) -> str | None: ...
def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_bool(name: str, default: bool = False) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def normalize_database_url(url: str) -> str:
    """Accept the URLs operators usually write and pick the psycopg 3 driver for PostgreSQL."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


class Config:
    NAME = "base"
    SECRET_KEY = _env("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = normalize_database_url(_env("DATABASE_URL", "sqlite:///instance/freehold.db"))
    # hide_parameters: a database error's message (which is logged) never carries the values of its statement
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "hide_parameters": True}
    # A read replica for read-only heavy work (console lists and exports, statements, catalogue lists); unset: the
    # primary does it all (app/core/replica.py)
    DATABASE_READ_URL = normalize_database_url(_env("DATABASE_READ_URL", "")) or None
    # After a state-changing request a browser reads the primary this long; a replica further behind is not used
    READ_AFTER_WRITE_SECONDS = float(_env("READ_AFTER_WRITE_SECONDS", "30") or 30)
    REDIS_URL = _env("REDIS_URL")
    CELERY_BROKER_URL = _env("CELERY_BROKER_URL")
    FREEHOLD_CURRENCY = (_env("FREEHOLD_CURRENCY", "USD") or "USD").upper()
    FIELD_ENCRYPTION_KEYS = _env("FIELD_ENCRYPTION_KEYS")

    STORAGE_BACKEND = _env("STORAGE_BACKEND", "local")
    S3_BUCKET = _env("S3_BUCKET")
    S3_ENDPOINT_URL = _env("S3_ENDPOINT_URL")
    S3_REGION = _env("S3_REGION")
    # Local storage folder; None means <instance>/uploads (never under static/)
    UPLOAD_FOLDER = _env("UPLOAD_FOLDER")
    # Uploaded images (photos and documents alike) with more pixels than this are refused before they are decoded
    UPLOAD_MAX_PIXELS = int(_env("UPLOAD_MAX_PIXELS", "25000000") or 25_000_000)
    # Uploaded PDFs with more pages or more objects than this are refused
    UPLOAD_MAX_PDF_PAGES = int(_env("UPLOAD_MAX_PDF_PAGES", "200") or 200)
    UPLOAD_MAX_PDF_OBJECTS = int(_env("UPLOAD_MAX_PDF_OBJECTS", "100000") or 100_000)
    # Each upload is checked in a child process with this much memory (MB) and time (CPU and wall-clock seconds)
    UPLOAD_CHECK_MEMORY_MB = int(_env("UPLOAD_CHECK_MEMORY_MB", "1024") or 1024)
    UPLOAD_CHECK_SECONDS = int(_env("UPLOAD_CHECK_SECONDS", "20") or 20)
    # Staff templates are previewed and checked in a child process within this many seconds
    TEMPLATE_CHECK_SECONDS = float(_env("TEMPLATE_CHECK_SECONDS", "3") or 3)

    STRIPE_SECRET_KEY = _env("STRIPE_SECRET_KEY")
    STRIPE_WEBHOOK_SECRET = _env("STRIPE_WEBHOOK_SECRET")
    STRIPE_API_BASE = _env("STRIPE_API_BASE")

    # Razorpay: on when the key id, key secret and webhook secret are all set
    RAZORPAY_KEY_ID = _env("RAZORPAY_KEY_ID")
    RAZORPAY_KEY_SECRET = _env("RAZORPAY_KEY_SECRET")
    RAZORPAY_WEBHOOK_SECRET = _env("RAZORPAY_WEBHOOK_SECRET")
    RAZORPAY_API_BASE = _env("RAZORPAY_API_BASE", "https://api.razorpay.com")
    RAZORPAY_TIMEOUT_SECONDS = float(_env("RAZORPAY_TIMEOUT_SECONDS", "10") or 10)

    # PayPal (Orders v2): on when the client id, client secret and webhook id are all set
    PAYPAL_CLIENT_ID = _env("PAYPAL_CLIENT_ID")
    PAYPAL_CLIENT_SECRET = _env("PAYPAL_CLIENT_SECRET")
    PAYPAL_WEBHOOK_ID = _env("PAYPAL_WEBHOOK_ID")
    PAYPAL_API_BASE = _env("PAYPAL_API_BASE", "https://api-m.paypal.com")
    PAYPAL_TIMEOUT_SECONDS = float(_env("PAYPAL_TIMEOUT_SECONDS", "10") or 10)

    # Bank transfer: the account investors pay into. The defaults are a demo account, refused in production.
    BANK_TRANSFER_BENEFICIARY = _env("BANK_TRANSFER_BENEFICIARY", "Freehold Client Money")
    BANK_TRANSFER_IBAN = _env("BANK_TRANSFER_IBAN", "GB33BUKB20201555555555")
    BANK_TRANSFER_BIC = _env("BANK_TRANSFER_BIC", "BUKBGB22")
    BANK_TRANSFER_BANK = _env("BANK_TRANSFER_BANK", "Demo Bank plc")

    # Payouts: amounts are decimal strings in major units of FREEHOLD_CURRENCY; rates in basis points
    INSTALLMENT_GRACE_DAYS = int(_env("INSTALLMENT_GRACE_DAYS", "3") or 3)  # late fee after due date + grace
    INSTALLMENT_DEFAULT_DAYS = int(_env("INSTALLMENT_DEFAULT_DAYS", "30") or 30)  # then finance may cancel
    INSTALLMENT_REMIND_DAYS = int(_env("INSTALLMENT_REMIND_DAYS", "5") or 5)  # reminder this many days before
    # payout limits, fees and the two-approval threshold are settings that guard money (app/settings): they live
    # in the database and change by a proposal a second person approves
    PAYOUT_RISK_AMOUNT = _env("PAYOUT_RISK_AMOUNT", "5000.00")  # flagged for review at or above it
    PAYOUT_METHOD_COOLING_HOURS = int(_env("PAYOUT_METHOD_COOLING_HOURS", "24") or 24)
    PAYOUT_NEW_METHOD_DAYS = int(_env("PAYOUT_NEW_METHOD_DAYS", "7") or 7)  # "new payout method" risk flag
    PAYOUT_STALE_HOURS = int(_env("PAYOUT_STALE_HOURS", "24") or 24)  # finance is reminded of older requests
    # caps a four-eyes setting (card_funds.hold_days): the environment can lower it, never raise it
    CARD_FUNDS_HOLD_DAYS = int(_env("CARD_FUNDS_HOLD_DAYS", "30") or 30)

    # The investor's own account (app/account): social sign-in providers, off unless both id and secret are set;
    # *_METADATA_URL / *_API_BASE point elsewhere (tests: a local fake identity provider)
    GOOGLE_CLIENT_ID = _env("GOOGLE_CLIENT_ID")
    GOOGLE_CLIENT_SECRET = _env("GOOGLE_CLIENT_SECRET")
    GOOGLE_METADATA_URL = _env("GOOGLE_METADATA_URL",
                               "https://accounts.google.com/.well-known/openid-configuration")
    GITHUB_CLIENT_ID = _env("GITHUB_CLIENT_ID")
    GITHUB_CLIENT_SECRET = _env("GITHUB_CLIENT_SECRET")
    GITHUB_OAUTH_BASE = _env("GITHUB_OAUTH_BASE", "https://github.com")
    GITHUB_API_BASE = _env("GITHUB_API_BASE", "https://api.github.com")
    # how long KYC documents of a closed account are kept before they are deleted
    KYC_RETENTION_DAYS = int(_env("KYC_RETENTION_DAYS", "1825") or 1825)
    # support tickets waiting longer than this for staff are flagged in the queue
    SUPPORT_SLA_HOURS = int(_env("SUPPORT_SLA_HOURS", "24") or 24)
    # lifetime of a staff member's API token (investors' tokens keep API_TOKEN_TTL)
    STAFF_API_TOKEN_TTL_HOURS = int(_env("STAFF_API_TOKEN_TTL_HOURS", "8") or 8)
    # languages of the portal and of investors' messages (the console stays in English)
    LANGUAGES = ("en", "es")
    BABEL_DEFAULT_LOCALE = "en"

    # Operations alerts (app/ops): every Celery worker runs the alert checks this often (0: not in this worker;
    # beat's `ops.watch` still runs them), and a beat job counts as late this long after it was due
    OPS_WATCH_SECONDS = int(_env("OPS_WATCH_SECONDS", "60") or 0)
    OPS_BEAT_GRACE_SECONDS = int(_env("OPS_BEAT_GRACE_SECONDS", "300") or 300)

    MAIL_SERVER = _env("MAIL_SERVER")
    MAIL_PORT = int(_env("MAIL_PORT", "25") or 25)
    MAIL_USERNAME = _env("MAIL_USERNAME")
    MAIL_PASSWORD = _env("MAIL_PASSWORD")
    MAIL_USE_TLS = _env_bool("MAIL_USE_TLS")
    MAIL_USE_SSL = _env_bool("MAIL_USE_SSL")  # implicit TLS (port 465) instead of STARTTLS
    MAIL_CA_FILE = _env("MAIL_CA_FILE")  # a private authority the SMTP server's certificate is checked against
    MAIL_DEFAULT_SENDER = _env("MAIL_DEFAULT_SENDER", "Freehold <no-reply@freehold.local>")

    # SMS: off unless SMS_PROVIDER=twilio and the account, token and sender are set
    SMS_PROVIDER = _env("SMS_PROVIDER")
    TWILIO_ACCOUNT_SID = _env("TWILIO_ACCOUNT_SID")
    TWILIO_AUTH_TOKEN = _env("TWILIO_AUTH_TOKEN")
    TWILIO_FROM = _env("TWILIO_FROM")
    TWILIO_API_BASE = _env("TWILIO_API_BASE", "https://api.twilio.com")
    SMS_TIMEOUT_SECONDS = float(_env("SMS_TIMEOUT_SECONDS", "10") or 10)

    # Push: off unless PUSH_PROVIDER=fcm and a service-account JSON file is named
    PUSH_PROVIDER = _env("PUSH_PROVIDER")
    FCM_CREDENTIALS_FILE = _env("FCM_CREDENTIALS_FILE")
    FCM_PROJECT_ID = _env("FCM_PROJECT_ID")  # None: the service account's project_id
    FCM_API_BASE = _env("FCM_API_BASE", "https://fcm.googleapis.com")
    PUSH_TIMEOUT_SECONDS = float(_env("PUSH_TIMEOUT_SECONDS", "10") or 10)

    # The public address every link in mail, SMS, push and API answers is built from (never the request's Host)
    BASE_URL = _env("BASE_URL", f"http://127.0.0.1:{_env('PORT', '5000')}")
    # Host names the app answers to (others get 400); empty: any (development)
    TRUSTED_HOSTS = [h.strip() for h in (_env("TRUSTED_HOSTS", "") or "").split(",") if h.strip()]
    # How many proxies in front set X-Forwarded-* (Werkzeug ProxyFix); 0: those headers are ignored
    TRUSTED_PROXIES = int(_env("TRUSTED_PROXIES", "0") or 0)

    # Sessions and cookies
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    # Browser sessions: a server-side record per sign-in (app/auth/sessions.py)
    SESSION_IDLE_TIMEOUT = timedelta(minutes=int(_env("SESSION_IDLE_MINUTES", "30") or 30))
    SESSION_ABSOLUTE_TIMEOUT = timedelta(hours=int(_env("SESSION_ABSOLUTE_HOURS", "12") or 12))
    SESSION_REMEMBER_LIFETIME = timedelta(days=int(_env("SESSION_REMEMBER_DAYS", "30") or 30))
    PERMANENT_SESSION_LIFETIME = timedelta(days=int(_env("SESSION_REMEMBER_DAYS", "30") or 30))
    # KYC: a pending case older than this is flagged for the reviewers
    KYC_REVIEW_SLA_HOURS = int(_env("KYC_REVIEW_SLA_HOURS", "48") or 48)
    # one request may carry several documents of at most 10 MB each
    MAX_CONTENT_LENGTH = 64 * 1024 * 1024
    # Brute force (app/auth/lockout.py). Per account and source address: after this many failures in a row that
    # address is locked out of that account for a doubling delay.
    LOCKOUT_THRESHOLD = int(_env("LOCKOUT_THRESHOLD", "10") or 10)
    LOCKOUT_BASE = timedelta(minutes=1)
    LOCKOUT_MAX = timedelta(hours=24)
    # a source's failures are forgotten this long after its last one, once no lock of it is running
    SIGNIN_FAILURES_KEPT = timedelta(days=int(_env("SIGNIN_FAILURES_KEPT_DAYS", "30") or 30))
    # Per account across every address (accounts without 2FA): this many failures within the window lock the
    # account everywhere for the duration, or until a password reset
    ACCOUNT_LOCKOUT_THRESHOLD = int(_env("ACCOUNT_LOCKOUT_THRESHOLD", "50") or 50)
    ACCOUNT_LOCKOUT_WINDOW = timedelta(hours=int(_env("ACCOUNT_LOCKOUT_WINDOW_HOURS", "24") or 24))
    ACCOUNT_LOCKOUT_DURATION = timedelta(hours=int(_env("ACCOUNT_LOCKOUT_HOURS", "24") or 24))
    # The HMAC key recovery codes are stored under (app/auth/recovery.py); unset: derived from SECRET_KEY
    RECOVERY_CODE_KEY = _env("RECOVERY_CODE_KEY")
    MFA_PENDING_SECONDS = 300
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    # Retention (the nightly `ops.retention` job, app/retention.py): how long rows that nothing needs any more are
    # kept. Sessions and API tokens: after they expired or were ended; read in-app notifications: after reading;
    # webhook events: the body of a processed one is emptied (the row and its outcome stay)
    SESSIONS_KEPT = timedelta(days=int(_env("SESSIONS_KEPT_DAYS", "30") or 30))
    API_TOKENS_KEPT = timedelta(days=int(_env("API_TOKENS_KEPT_DAYS", "30") or 30))
    LOGIN_ATTEMPTS_KEPT = timedelta(days=int(_env("LOGIN_ATTEMPTS_KEPT_DAYS", "90") or 90))
    IDEMPOTENCY_KEYS_KEPT = timedelta(days=int(_env("IDEMPOTENCY_KEYS_KEPT_DAYS", "7") or 7))
    READ_NOTIFICATIONS_KEPT = timedelta(days=int(_env("READ_NOTIFICATIONS_KEPT_DAYS", "90") or 90))
    WEBHOOK_BODIES_KEPT = timedelta(days=int(_env("WEBHOOK_BODIES_KEPT_DAYS", "90") or 90))
    FAILED_TASKS_KEPT = timedelta(days=int(_env("FAILED_TASKS_KEPT_DAYS", "90") or 90))

    # Passwords: argon2id with the library's defaults (RFC 9106 low-memory profile)
    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST = 65536
    ARGON2_PARALLELISM = 4

    # API
    API_TITLE = "Freehold API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    API_TOKEN_TTL = timedelta(days=int(_env("API_TOKEN_TTL_DAYS", "30") or 30))
    API_RATE_LIMIT_USER = _env("API_RATE_LIMIT_USER", "100/minute") or "100/minute"
    API_RATE_LIMIT_ANONYMOUS = "20/minute"
    API_MAX_PER_PAGE = 100

    # Metrics (app/ops/metrics.py, app/core/metrics.py): the bearer token `/metrics` requires (production refuses to
    # start without it; unset elsewhere: loopback only), and where a Celery worker serves its own (unset: off)
    METRICS_TOKEN = _env("METRICS_TOKEN")
    WORKER_METRICS_PORT = _env("WORKER_METRICS_PORT")
    WORKER_METRICS_ADDR = _env("WORKER_METRICS_ADDR", "0.0.0.0")  # noqa: S104 - the scraper is on another host

    # Gateway webhooks, per source address: generous (a gateway sends bursts), 429 past it
    WEBHOOK_RATE_LIMIT = _env("WEBHOOK_RATE_LIMIT", "1200/minute")

    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_KEY_PREFIX = "freehold"

    BOOTSTRAP_SERVE_LOCAL = True
    BOOTSTRAP_BOOTSWATCH_THEME = None

    # Admin console
    FLASK_ADMIN_FLUID_LAYOUT = True

    CELERY_TASK_ALWAYS_EAGER = False

    # Logs (app/core/logs.py): `json` or `text`; unset means json under production, text otherwise
    LOG_FORMAT = _env("LOG_FORMAT")
    LOG_LEVEL = _env("LOG_LEVEL", "INFO")

    # Error tracking (app/core/error_tracking.py): off unless SENTRY_DSN is set
    SENTRY_DSN = _env("SENTRY_DSN")
    SENTRY_ENVIRONMENT = _env("SENTRY_ENVIRONMENT")
    SENTRY_TRACES_SAMPLE_RATE = float(_env("SENTRY_TRACES_SAMPLE_RATE", "0") or 0)

    @classmethod
    def problems(cls, config: Mapping[str, Any]) -> list[Problem]:
        """Every problem of `config` (the app's loaded configuration): development and testing accept generated
        secrets, SQLite, any host and mail written to the log."""
        return []

    @classmethod
    def validate(cls, config: Mapping[str, Any]) -> None:
        """Refuse to start with an error (every error is named); log each warning."""
        problems = cls.problems(config)
        errors = [problem for problem in problems if problem.error]
        if errors:
            raise RuntimeError(f"{cls.NAME} configuration: " + "; ".join(
                f"{problem.variable}: {problem.message}" for problem in errors))
        for problem in problems:
            log.warning("%s configuration: %s", cls.NAME, problem)


class Development(Config):
    NAME = "development"
    DEBUG = False


class Testing(Config):
    NAME = "testing"
    TESTING = True
    SECRET_KEY = "testing-secret-key-not-for-production"  # noqa: S105 - the test configuration only
    WTF_CSRF_ENABLED = True
    CELERY_TASK_ALWAYS_EAGER = True
    # cheap hashes keep the suite fast; production uses the defaults above
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST = 1024
    ARGON2_PARALLELISM = 1
    RATELIMIT_ENABLED = True
    BASE_URL = "http://localhost"  # the test client's host


class Production(Config):
    NAME = "production"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"

    @classmethod
    def problems(cls, config: Mapping[str, Any]) -> list[Problem]:
        found = [Problem(name, "missing") for name in ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS") if not config.get(name)]
        if not _env("DATABASE_URL"):
            found.append(Problem("DATABASE_URL", "missing"))
        elif str(config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite"):
            found.append(Problem("DATABASE_URL", "production needs PostgreSQL: it points at SQLite"))
        read_url = config.get("DATABASE_READ_URL")
        if read_url and not str(read_url).startswith(("postgresql", "postgres://")):
            found.append(Problem("DATABASE_READ_URL", "production needs PostgreSQL: it points at "
                                                      f"{str(read_url).split(':', 1)[0]}"))
        if not _env("BASE_URL"):
            found.append(Problem("BASE_URL", "missing (every link in mail, SMS, push and API answers is built from it)"))
        elif not str(config.get("BASE_URL", "")).startswith("https://"):
            found.append(Problem("BASE_URL", "not https: links and cookies need TLS", error=False))
        if config.get("RECOVERY_CODE_KEY") and len(config["RECOVERY_CODE_KEY"]) < 32:
            found.append(Problem("RECOVERY_CODE_KEY", "must be at least 32 characters (or unset: derived from "
                                                      "SECRET_KEY)"))
        found += mail_problems(config)
        if not config.get("TRUSTED_HOSTS"):
            found.append(Problem("TRUSTED_HOSTS", "unset: the app answers any Host header; name the public host(s)",
                                 error=False))
        if not config.get("METRICS_TOKEN"):
            found.append(Problem("METRICS_TOKEN", "missing: /metrics needs a bearer token in production"))
        elif len(str(config["METRICS_TOKEN"])) < 16:
            found.append(Problem("METRICS_TOKEN", "must be at least 16 characters"))
        port = config.get("WORKER_METRICS_PORT")
        if port and not (str(port).isdigit() and 0 < int(port) < 65536):
            found.append(Problem("WORKER_METRICS_PORT", "must be a TCP port number (or unset: off)"))
        found += shared_services_problems(config)
        found += paypal_problems(config)
        found += social_problems(config)
        if not (config.get("SENTRY_DSN") or _env("SENTRY_DSN")):
            found.append(Problem("SENTRY_DSN", "unset: errors are only logged (no error tracking)", error=False))
        found += _dotenv_problems()
        return found


def _flask_reads_dotenv() -> bool:
    """Flask's own rule: the `flask` command reads `.env` unless FLASK_SKIP_DOTENV is set (to anything but 0, false
    or no)."""
    skip = os.environ.get("FLASK_SKIP_DOTENV")
    return not skip or skip.strip().lower() in {"0", "false", "no"}


def _dotenv_problems() -> list[Problem]:
    """Production takes its settings from the environment only. The app never reads `.env` under it (read_dotenv),
    but the `flask` command reads the nearest `.env` above its working directory before the app starts, unless
    FLASK_SKIP_DOTENV=1."""
    found = []
    if DOTENV.production_named:
        found.append(Problem("FREEHOLD_CONFIG", f"production is named in {DOTENV.path}, which production never "
                                                "reads: set FREEHOLD_CONFIG=production in the environment"))
    elif DOTENV.loaded:
        found.append(Problem("FREEHOLD_CONFIG", f"this process read {DOTENV.path} ({', '.join(DOTENV.loaded)}) "
                                                "before building the production configuration: start it with "
                                                "FREEHOLD_CONFIG=production in the environment"))
    if not _flask_reads_dotenv():
        return found
    nearest = find_dotenv(".env", usecwd=True)
    if nearest and os.environ.get("FLASK_RUN_FROM_CLI") == "true":
        found.append(Problem("FLASK_SKIP_DOTENV", f"unset, so this flask command read {nearest}: production takes its "
                                                  "settings from the environment only (set FLASK_SKIP_DOTENV=1)"))
        return found
    present = sorted({str(Path(path).resolve()) for path in (nearest, ROOT_DOTENV) if path and Path(path).is_file()})
    if present:
        found.append(Problem("FLASK_SKIP_DOTENV", f"unset, and {', '.join(present)} exists: a flask command run "
                                                  "below it would read it (set FLASK_SKIP_DOTENV=1, or remove it)",
                             error=False))
    return found


CONFIGS = {"development": Development, "testing": Testing, "production": Production}


def config_from_env() -> type[Config]:
    name = (_env("FREEHOLD_CONFIG", "development") or "development").lower()
    try:
        return CONFIGS[name]
    except KeyError:
        raise RuntimeError(f"FREEHOLD_CONFIG must be one of {sorted(CONFIGS)}, not {name!r}") from None
