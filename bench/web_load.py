"""The investor-facing web under load: portal pages and API v1 reads and investments, next to /healthz.

gunicorn is started as production starts it (`gunicorn wsgi:app`, so gunicorn.conf.py applies: gevent workers,
BENCH_WORKERS (2) of them) with the production configuration over PostgreSQL and Redis: its own database
(BENCH_DB, `freehold_webload`, dropped and created afresh, migrated and seeded here) and its own Redis database
(BENCH_REDIS_DB, 12, emptied first). The demo data is loaded, then BENCH_INVESTORS (32) investors are made through
the app's own services: e-mail verified, KYC approved, wallets funded by completed bank deposits, each holding a
few investments already.

BENCH_CLIENTS (32) clients, one thread and one keep-alive `requests.Session` each, each one investor coming from
an address of its own (X-Forwarded-For, with TRUSTED_PROXIES=1 as behind a load balancer), first sign in (the
portal's password form and an API token; measured apart: argon2 costs about 120 ms a hash by design). Then, for
each page in turn, every client requests it BENCH_REQUESTS (12) times back to back; /healthz is measured the same
way at the start of every round. BENCH_ROUNDS (3) rounds; per page the round with the median p95 is reported with
its throughput, p50/p95/p99, and its throughput over the same round's /healthz. Every answer must be a 200 (201
for an investment); anything else stops the run.

    .venv/bin/python bench/web_load.py
    DATABASE_URL=postgresql://root@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 .venv/bin/python bench/web_load.py

DATABASE_URL and REDIS_URL name the servers (their database parts are replaced); without them the local servers
above are used. BENCH_PROFILE=1 also counts the SQL statements of each page (one request of each, in process,
through the test client) and prints them before the load.

Target: p95 under 250 ms for every page at 32 clients on a 2-core machine."""
from __future__ import annotations

import http.client
import logging
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "32"))
INVESTORS = int(os.environ.get("BENCH_INVESTORS", str(CLIENTS)))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "12"))  # per client and page, in each round
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
DB_NAME = os.environ.get("BENCH_DB", "freehold_webload")
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "12"))
HOLDINGS = int(os.environ.get("BENCH_HOLDINGS", "3"))  # investments each investor holds before the run
PASSWORD = "Bench-investor-2026"  # noqa: S105 - made-up investors of a throwaway database
SIGNIN_AT_ONCE = int(os.environ.get("BENCH_SIGNIN_AT_ONCE", "8"))
TARGET_P95_MS = 250.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def seed(db_url: str, redis_url: str, keys: str) -> dict:
    """Migrate and load the demo data, then the bench investors; returns what the clients need."""
    from flask_migrate import upgrade
    from sqlalchemy import select

    from app import create_app

    # testing: the demo loader refuses the production configuration; the hashes keep the production cost
    app = create_app({"CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": db_url, "REDIS_URL": redis_url,
                      "CELERY_BROKER_URL": "memory://", "ARGON2_TIME_COST": 3, "ARGON2_MEMORY_COST": 65536,
                      "ARGON2_PARALLELISM": 4, "FIELD_ENCRYPTION_KEYS": keys, "UPLOAD_FOLDER": str(ROOT / "instance" / "bench-uploads")})
    with app.app_context():
        from app.auth import services as auth
        from app.core.db import unit_of_work
        from app.core.money import Money
        from app.extensions import db
        from app.investing import services as investing
        from app.kyc.demo import approve_identity
        from app.ledger.services import platform_currency
        from app.payments import services as payments
        from app.properties.models import Property
        from app.seed import seed_demo

        upgrade(directory=str(ROOT / "migrations"))
        seed_demo()
        currency = platform_currency()
        reviewer = auth.user_by_email("compliance@example.com")
        emails = []
        for n in range(INVESTORS):
            with unit_of_work():
                email = f"bench{n}@example.com"
                user = auth.create_user(email, PASSWORD, first_name="Bench", last_name=f"Investor {n}",
                                        roles=("investor",), verified=True, terms_accepted=True)
                approve_identity(user, reviewer)
                deposit = payments.create_deposit(user.id, Money.parse("1000000.00", currency), "bank_transfer",
                                                  reference=f"bench-{n}")
                payments.complete_deposit(deposit)
                emails.append(email)
        open_ranges = [p for p in db.session.scalars(select(Property).order_by(Property.id))
                       if p.status == "active" and p.min_investment and not p.fixed_amount and not p.installments_count]
        if not open_ranges:
            raise SystemExit("the demo data has no active property with an amount range to invest in")
        for n, email in enumerate(emails):
            user = auth.user_by_email(email)
            for k in range(HOLDINGS):
                p = open_ranges[(n + k) % len(open_ranges)]
                with unit_of_work():
                    investing.invest(user, p.id, Money(p.min_investment, p.currency), acknowledged=True)
        # the investments of the run go to the offering with the most minimum investments left to take
        target = max(open_ranges, key=lambda p: (p.target_amount - p.raised_amount) // p.min_investment)
        print(f"investing in {target.title}: room for {(target.target_amount - target.raised_amount) // target.min_investment}"
              f" investments of {Money(target.min_investment, target.currency).display()}")
        found = {"emails": emails, "property_id": target.id, "slug": target.slug,
                 "amount": str(Money(target.min_investment, target.currency).to_decimal())}
        db.session.remove()
    return found


def profile(db_url: str, redis_url: str, keys: str, plan: dict) -> None:
    """SQL statements per page, one request each through the test client (the production code path, in process)."""
    from sqlalchemy import event

    from app import create_app

    app = create_app({"CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": db_url, "REDIS_URL": redis_url,
                      "CELERY_BROKER_URL": "memory://", "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
                      "FIELD_ENCRYPTION_KEYS": keys})
    with app.app_context():
        from app.extensions import db

        engine = db.engine
    counted: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: counted.append(args[2]))
    client = app.test_client()
    email = plan["emails"][0]
    client.post("/login", data={"email": email, "password": PASSWORD})
    token = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD}).get_json()["data"]["token"]
    headers = {"Authorization": f"Bearer {token}"}
    for name, method, path, api in pages(plan):
        counted.clear()
        kwargs: dict = {"headers": dict(headers, **({"Idempotency-Key": uuid.uuid4().hex} if method == "POST"
                                                   else {}))} if api else {}
        if method == "POST":
            kwargs["json"] = {"amount": plan["amount"]}
        answer = client.open(path, method=method, **kwargs)
        print(f"  {name:<28} {answer.status_code}  {len(counted):>3} statements")


def pages(plan: dict) -> list[tuple[str, str, str, bool]]:
    """(name, method, path, through the API)."""
    pid, slug = plan["property_id"], plan["slug"]
    return [
        ("portal dashboard", "GET", "/", False),
        ("portal catalogue", "GET", "/properties", False),
        ("portal property page", "GET", f"/properties/{slug}", False),
        ("portal portfolio", "GET", "/portfolio", False),
        ("portal wallet", "GET", "/wallet", False),
        ("API GET /me", "GET", "/api/v1/me", True),
        ("API GET /properties", "GET", "/api/v1/properties", True),
        ("API GET /properties/{id}", "GET", f"/api/v1/properties/{pid}", True),
        ("API GET /investments", "GET", "/api/v1/investments", True),
        ("API GET /wallet", "GET", "/api/v1/wallet", True),
        ("API GET /wallet/transactions", "GET", "/api/v1/wallet/transactions", True),
        ("API GET /notifications", "GET", "/api/v1/notifications", True),
        ("API POST invest", "POST", f"/api/v1/properties/{pid}/invest", True),
    ]


class Client:
    """One investor: a keep-alive session from an address of its own."""

    def __init__(self, base: str, email: str, index: int):
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        self.base, self.email = base, email
        self.http = requests.Session()
        # a keep-alive connection idle past gunicorn's 5 s (while the other clients finish a page) may be closed
        # just as it is reused: a GET goes again once (urllib3 never repeats a POST)
        self.http.mount("http://", HTTPAdapter(max_retries=Retry(total=1, status=0, redirect=0)))
        self.http.headers["X-Forwarded-For"] = f"10.1.{index // 250}.{index % 250 + 1}"
        self.http.headers["X-Forwarded-Proto"] = "https"  # the cookies are Secure, as behind TLS
        self.token = ""

    def _keep_cookies(self) -> None:
        for cookie in self.http.cookies:  # production cookies are Secure; this client talks plain HTTP to gunicorn
            cookie.secure = False

    def sign_in(self) -> tuple[float, float]:
        import re

        page = self.http.get(self.base + "/login")
        csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
        if csrf is None:
            raise SystemExit("no CSRF token on /login")
        self._keep_cookies()
        started = time.perf_counter()
        answer = self.http.post(self.base + "/login", data={"email": self.email, "password": PASSWORD,
                                                            "csrf_token": csrf.group(1)}, allow_redirects=False,
                                # behind TLS the CSRF check wants a same-origin referrer
                                headers={"Referer": self.base.replace("http://", "https://") + "/login"})
        portal = time.perf_counter() - started
        if answer.status_code != 302:
            raise SystemExit(f"portal sign-in of {self.email}: {answer.status_code}")
        self._keep_cookies()
        started = time.perf_counter()
        answer = self.http.post(self.base + "/api/v1/auth/token", json={"email": self.email, "password": PASSWORD})
        api = time.perf_counter() - started
        if answer.status_code != 200:
            raise SystemExit(f"API token of {self.email}: {answer.status_code} {answer.text[:200]}")
        self.token = answer.json()["data"]["token"]
        return portal, api

    def request(self, method: str, path: str, api: bool, body: dict | None) -> float:
        headers = {}
        if api:
            headers["Authorization"] = f"Bearer {self.token}"
            if method == "POST":
                headers["Idempotency-Key"] = uuid.uuid4().hex
        started = time.perf_counter()
        answer = self.http.request(method, self.base + path, headers=headers, json=body, allow_redirects=False)
        took = time.perf_counter() - started
        if answer.status_code not in (200, 201):
            raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
        if not api:
            self._keep_cookies()
        return took


def hammer(clients: list[Client], method: str, path: str, api: bool, body: dict | None,
           requests_each: int = REQUESTS) -> tuple[float, list[float]]:
    """(requests per second, every latency) of all clients requesting `path` requests_each times at once."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(len(clients) + 1)

    def run(client: Client) -> None:
        mine = []
        start.wait()
        try:
            for _ in range(requests_each):
                mine.append(client.request(method, path, api, body))
        except Exception as exc:
            errors.append(str(exc))
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    start.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{len(errors)} clients failed on {method} {path}: {errors[0]}")
    return len(latencies) / elapsed, latencies


def wait_for_server(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("gunicorn did not answer /healthz")


def main() -> int:
    import redis
    from cryptography.fernet import Fernet
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from app.config import normalize_database_url

    server = make_url(normalize_database_url(os.environ.get("DATABASE_URL")
                                             or "postgresql+psycopg://root@127.0.0.1:5432/postgres"))
    if not server.drivername.startswith("postgresql"):
        print("bench/web_load.py needs DATABASE_URL pointing at PostgreSQL (or unset: the local server)")
        return 2
    redis_url = make_url(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379").set(
        database=str(REDIS_DB)).render_as_string(hide_password=False)
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
    db_url = server.set(database=DB_NAME).render_as_string(hide_password=False)
    redis.Redis.from_url(redis_url).flushdb()

    started = time.perf_counter()
    logging.disable(logging.WARNING)  # the seeding's mail goes nowhere, by design: not worth a line each
    keys = Fernet.generate_key().decode()  # the seeding encrypts with the key the server reads with
    plan = seed(db_url, redis_url, keys)
    logging.disable(logging.NOTSET)
    print(f"seeded {len(plan['emails'])} investors and the demo data in {time.perf_counter() - started:.0f} s")
    if os.environ.get("BENCH_PROFILE"):
        print("SQL statements per page (one request each):")
        profile(db_url, redis_url, keys, plan)

    port = 19000 + os.getpid() % 1000
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, FREEHOLD_CONFIG="production", FLASK_SKIP_DOTENV="1", DATABASE_URL=db_url,
               REDIS_URL=redis_url, SECRET_KEY=uuid.uuid4().hex + uuid.uuid4().hex,
               FIELD_ENCRYPTION_KEYS=keys, BASE_URL="https://freehold.example",
               TRUSTED_HOSTS="127.0.0.1", TRUSTED_PROXIES="1", METRICS_TOKEN=uuid.uuid4().hex,
               MAIL_SERVER="127.0.0.1", MAIL_PORT="2525", WEB_CONCURRENCY=str(WORKERS),
               UPLOAD_FOLDER=str(ROOT / "instance" / "bench-uploads"),
               # every client is one investor who requests far more than a person would
               API_RATE_LIMIT_USER="100000000/minute")
    env.pop("CELERY_BROKER_URL", None)
    gunicorn = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "wsgi:app", "--bind", f"127.0.0.1:{port}",
                                 "--log-level", "warning"], cwd=ROOT, env=env)
    try:
        wait_for_server(port)
        clients = [Client(base, plan["emails"][n % len(plan["emails"])], n) for n in range(CLIENTS)]
        signins: list[tuple[float, float]] = []
        lock = threading.Lock()

        failures: list[str] = []

        def sign_in(client: Client) -> None:
            try:
                result = client.sign_in()
            except (Exception, SystemExit) as exc:
                failures.append(str(exc))
                return
            with lock:
                signins.append(result)

        signin_started = time.perf_counter()
        # SIGNIN_AT_ONCE at a time: a sign-in holds a database connection through its hash, and a worker's pool
        # holds 15 (5 and 10 overflow); a crowd of hashes on a loaded machine would wait out the pool's 30 s
        for first in range(0, len(clients), SIGNIN_AT_ONCE):
            threads = [threading.Thread(target=sign_in, args=(c,)) for c in clients[first:first + SIGNIN_AT_ONCE]]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        signin_took = time.perf_counter() - signin_started
        if failures:
            raise SystemExit(f"{len(failures)} clients could not sign in: {failures[0]}")
        body = {"amount": plan["amount"]}
        # warm-up: every page once per client (a worker imports and compiles templates on first use)
        hammer(clients, "GET", "/healthz", False, None, requests_each=3)
        for _, method, path, api in pages(plan):
            hammer(clients, method, path, api, body if method == "POST" else None, requests_each=1)
        results: dict[str, list[tuple[float, float, float, float, float]]] = {}
        for _ in range(ROUNDS):
            static, latencies = hammer(clients, "GET", "/healthz", False, None)
            results.setdefault("/healthz", []).append(_figures(static, latencies, static))
            for name, method, path, api in pages(plan):
                rate, latencies = hammer(clients, method, path, api, body if method == "POST" else None)
                results.setdefault(name, []).append(_figures(rate, latencies, static))
    finally:
        gunicorn.terminate()
        gunicorn.wait(15)

    portal_ms = [s[0] * 1000 for s in signins]
    api_ms = [s[1] * 1000 for s in signins]
    print(f"sign-in, {len(clients)} clients at once ({signin_took:.1f} s in all): portal p50 "
          f"{statistics.median(portal_ms):.0f} ms p95 {percentile(portal_ms, 0.95):.0f} ms; API token p50 "
          f"{statistics.median(api_ms):.0f} ms p95 {percentile(api_ms, 0.95):.0f} ms")
    print(f"gunicorn, {WORKERS} gevent workers, production config, PostgreSQL and Redis; {CLIENTS} clients, "
          f"{REQUESTS} requests each per page and round; the round with the median p95 of {ROUNDS}")
    print(f"{'page':<30} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'/healthz':>9}   p95 of each round")
    worst = 0.0
    for name, rounds in results.items():
        rate, p50, p95, p99, ratio = sorted(rounds, key=lambda r: r[2])[len(rounds) // 2]
        if name != "/healthz":
            worst = max(worst, p95)
        print(f"{name:<30} {rate:>7.0f} {p50:>7.0f} {p95:>7.0f} {p99:>7.0f} {ratio:>9.2f}   "
              + " ".join(f"{r[2]:.0f}" for r in rounds))
    print(f"worst page p95: {worst:.0f} ms  target {TARGET_P95_MS:.0f} ms  figure/target {worst / TARGET_P95_MS:.2f}")
    return 0 if worst < TARGET_P95_MS else 1


def _figures(rate: float, latencies: list[float], static: float) -> tuple[float, float, float, float, float]:
    ms = [v * 1000 for v in latencies]
    return rate, percentile(ms, 0.50), percentile(ms, 0.95), percentile(ms, 0.99), rate / static


if __name__ == "__main__":
    sys.exit(main())
