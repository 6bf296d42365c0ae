"""Market settlement under contention, on PostgreSQL: concurrent buyers over many listings against a lower bound.

    DATABASE_URL=postgresql://root@127.0.0.1/postgres .venv/bin/python bench/market.py

The database (BENCH_DB, `fh_market_bench` on DATABASE_URL's server) is dropped, created and migrated each run,
then filled through the services: BENCH_LISTINGS (200) holdings of BENCH_SELLERS (50) sellers spread over
BENCH_PROPERTIES (10) offerings that allow resale (unit price 100.00, lock-up over), each holding listing
BENCH_UNITS (10) units at 95.00-105.00 a unit (`market.create_listing`), and BENCH_BUYERS (64) investors, e-mail
verified, KYC approved, wallets funded by completed deposits. Fees are the settings' defaults (1 % each side,
at least 1.00). BENCH_THREADS (32) threads then buy until every unit is sold: each takes the next of its buyers,
a random listing still open and 1-3 units (capped by what a refusal last said was left), twice over:

- lower bound: plain SQL through the same engine, one transaction a trade: the listing's conditional UPDATE
  (open, not expired, not halted, units_remaining >= units; sold out at 0), the INSERT of the same market_trades row, and the
  ledger-like conditional balance UPDATEs of the buyer's wallet, the seller's wallet and fee revenue, in account
  order. No journal entry, no holding moved, no services. Its rows are then taken back (trades deleted, listings
  reopened, balances recomputed from the postings), so the engine starts from the same rows;
- engine: `app.market.services.buy` inside `unit_of_work`, as the API's buy does (the user loaded, the trade
  settled with its journal entry, the units moved to a new holding with its calendar split, notifications,
  surveillance queued after commit to an in-memory broker).

Each is timed from the first thread's start to the last unit sold. Prints trades/s and the p95 settlement latency
(one successful trade's transaction, commit included) of both and the engine's throughput ratio to the lower bound
(goal: at least 1/3). Then checks the engine's outcome: per listing, the units of its trades equal units minus
units_remaining, never negative (zero oversold units), and `verify()` of the ledger is clean. Exits 1 when the
ratio is below the goal, a unit is oversold or the ledger does not verify. BENCH_SEED (7) makes the choices
repeatable; BENCH_KEEP=1 keeps the database.

Measured on 2026-12-03 on the project's 2-core machine, shared with other work (load average 12-15 through the
run, so absolute figures are several times a quiet machine's; compare the ratio and the per-trade costs), with the
default sizes (200 listings of 10 units, 64 buyers, 32 threads; set-up 539 s):

    lower bound (plain SQL)   1074 trades (2000 units, 446 refusals) in  21.58 s:  49.8 trades/s,
                              settlement p50 416 ms, p95 1,435 ms; per trade 4.5 ms of CPU here and 6 statements
    engine (market.buy)       1087 trades (2000 units, 445 refusals) in 528.40 s:   2.1 trades/s,
                              settlement p50 9,031 ms, p95 47,123 ms; per trade 128.2 ms of CPU here and 69 statements
    ratio 0.04 (goal 0.33): NOT MET; oversold units: 0 listings wrong (2000 of 2000 units sold); ledger verify: ok

Again at 19:02 the same day, the machine quieter (load average 2.6-3.5; set-up 59 s), the code of every market
branch merged:

    lower bound (plain SQL)   1068 trades (2000 units, 423 refusals) in   5.72 s: 186.7 trades/s,
                              settlement p50 102 ms, p95 390 ms; per trade 4.3 ms of CPU here and 6 statements
    engine (market.buy)       1074 trades (2000 units, 417 refusals) in 132.48 s:   8.1 trades/s,
                              settlement p50 2,514 ms, p95 10,153 ms; per trade 107.6 ms of CPU here and 69 statements
    ratio 0.04 (goal 0.33): NOT MET; oversold units: 0 listings wrong (2000 of 2000 units sold); ledger verify: ok

The engine spends 25-28 times the lower bound's CPU a trade in this process and sends 11 times its statements;
on the quieter machine it used 0.87 s of CPU a second (8.1 x 0.1076), one whole interpreter: the figure follows
the interpreter's cost of a trade, not lock waits. Where the time goes: docs/domains/market.md#figures.

After the settlement's duplicate reads were removed (the listing and its property in one query without the
property's collections, one key lookup, one wallet read, the claim's RETURNING instead of two listing refreshes),
40 listings, 16 buyers, 8 threads, the old and new code run side by side on the same machine:

    before: engine 3.7 trades/s, 109.2 ms of CPU and 68 statements a trade (lower bound 125.4 trades/s): ratio 0.03
    after:  engine 4.3 trades/s,  91.0 ms of CPU and 52 statements a trade (lower bound 151.8 trades/s): ratio 0.03

Run alone afterwards (same sizes): engine 9.5 trades/s, 80.7 ms of CPU and 52 statements a trade against the lower
bound's 192.7 trades/s: ratio 0.05; 0 oversold, ledger verified. One trade at a time: 63 -> 48 statements, about
100 -> 55 ms of CPU; 46 once the in-app notification is rendered before its row is written (no UPDATE after). The lower bound still writes fewer rows than a
trade (no journal entry, postings, holding or calendar), so the ratio understates the engine.
"""
from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = os.environ.get("BENCH_DB", "fh_market_bench")
LISTINGS = int(os.environ.get("BENCH_LISTINGS", "200"))
UNITS = int(os.environ.get("BENCH_UNITS", "10"))
SELLERS = int(os.environ.get("BENCH_SELLERS", "50"))
PROPERTIES = int(os.environ.get("BENCH_PROPERTIES", "10"))
BUYERS = int(os.environ.get("BENCH_BUYERS", "64"))
THREADS = int(os.environ.get("BENCH_THREADS", "32"))
SEED = int(os.environ.get("BENCH_SEED", "7"))
UNIT_PRICE = 10_000  # 100.00 a unit: every trade's fees are above their minimum
MIN_RATIO = 1 / 3
LOWER_KEY = "bench-lower:"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


@dataclass
class Plan:
    """What the buyers need: the listings and the accounts the lower bound moves."""
    listing_ids: list[int]
    buyer_ids: list[int]
    wallets: dict[int, int]  # user id -> wallet account id
    fee_account: int
    fees: dict[str, int]  # the settings in force: seller_fee_bps, seller_fee_min, buyer_fee_bps, buyer_fee_min


@dataclass
class Run:
    trades: int = 0
    units: int = 0
    refused: int = 0
    elapsed: float = 0.0
    cpu: float = 0.0  # this process's CPU seconds over the run (every thread)
    statements: int = 0  # SQL statements sent over the run, refusals and their reads included
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.trades / self.elapsed if self.elapsed else 0.0

    @property
    def p95_ms(self) -> float:
        return percentile(self.latencies, 0.95) * 1000

    def per_trade(self) -> str:
        if not self.trades:
            return ""
        return (f"per trade {self.cpu / self.trades * 1000:.1f} ms of CPU here and "
                f"{self.statements / self.trades:.0f} statements")


def build(*, listings: int = LISTINGS, units: int = UNITS, sellers: int = SELLERS, properties: int = PROPERTIES,
          buyers: int = BUYERS, tag: str = "bench") -> Plan:
    """The offerings, holdings, listings and buyers, through the services (inside an app context)."""
    # imported here: the repository is on sys.path only once this script has put it there, and the app exists
    from datetime import timedelta

    from sqlalchemy import select, update

    from app.auth import services as auth
    from app.auth.models import User
    from app.core.db import unit_of_work, utcnow
    from app.core.money import Money
    from app.extensions import db
    from app.investing import services as investing
    from app.kyc.demo import approve_identity
    from app.ledger import services as ledger
    from app.ledger.models import FEE_REVENUE, Account
    from app.market import services as market
    from app.payments import services as payments
    from app.properties import services as props
    from app.properties.models import Property, PropertyPhoto
    from app.settings.services import value

    def person(email: str, role: str = "investor") -> User:
        return auth.create_user(email, "Bench-market-2026", first_name="Bench", last_name=email.split("@")[0],
                                roles=(role,), verified=True, terms_accepted=True)

    def fund(user: User, minor: int, reference: str) -> None:
        deposit = payments.create_deposit(user.id, Money(minor, "USD"), "bank_transfer", reference=reference)
        payments.complete_deposit(deposit)

    with unit_of_work():
        manager = person(f"{tag}-manager@example.com", "property_manager")
        approver = person(f"{tag}-finance@example.com", "finance")
        reviewer = person(f"{tag}-compliance@example.com", "compliance")
    now = utcnow()
    property_ids = []
    for n in range(properties):
        with unit_of_work():
            p = Property(slug=f"{tag}-market-{n}", title=f"Bench market {n}", property_type="residential",
                         city="Lisbon", country="PT", street="1 Bench Street", description="Benchmark data.",
                         currency="USD", target_amount=10_000_000_000, raised_amount=0, min_investment=UNIT_PRICE,
                         max_investment=100_000_000, unit_price=UNIT_PRICE, return_rate_bps=800,
                         return_frequency="quarterly", return_periods=20, capital_back=True, resale_allowed=True,
                         resale_lockup_days=0, funding_starts_at=now - timedelta(days=2),
                         funding_ends_at=now + timedelta(days=30), status="draft", created_by_id=manager.id)
            db.session.add(p)
            db.session.flush()
            props.check_terms_change(p, {})
            db.session.add(PropertyPhoto(property_id=p.id, position=1, is_cover=True, original_key="x/o.jpg",
                                         thumbnail_key="x/t.jpg", medium_key="x/m.jpg", large_key="x/l.jpg",
                                         status="ready"))
            db.session.flush()
            db.session.refresh(p)
            props.approve(props.submit(p, actor=manager), actor=approver)
            property_ids.append(p.id)

    seller_users = []
    for s in range(sellers):
        with unit_of_work():
            user = person(f"{tag}-seller{s}@example.com")
            approve_identity(user, reviewer)
            fund(user, (listings // sellers + 1) * 2 * units * UNIT_PRICE, f"{tag}-seller-{s}")
            seller_users.append(user.id)
    holdings = []
    for k in range(listings):
        with unit_of_work():
            user = db.session.get(User, seller_users[k % sellers])
            p_id = property_ids[(k // sellers + k) % properties]
            p = db.session.get(Property, p_id)
            inv = investing.invest(user, p_id, Money(2 * units * UNIT_PRICE, "USD"), acknowledged=True,
                                   documents_version=investing.offering_version(p), ip="127.0.0.1")
            holdings.append((user.id, inv.id))
    # the funding windows closed yesterday: with no lock-up, the holdings may be listed at once
    with unit_of_work():
        db.session.execute(update(Property).where(Property.id.in_(property_ids))
                           .values(funding_ends_at=now - timedelta(days=1)))
    rng = random.Random(SEED)
    listing_ids = []
    for user_id, inv_id in holdings:
        with unit_of_work():
            price = UNIT_PRICE + 100 * rng.randint(-5, 5)
            listing = market.create_listing(db.session.get(User, user_id), inv_id, units, Money(price, "USD"))
            listing_ids.append(listing.id)

    buyer_ids = []
    for b in range(buyers):
        with unit_of_work():
            user = person(f"{tag}-buyer{b}@example.com")
            approve_identity(user, reviewer)
            fund(user, listings * units * UNIT_PRICE * 2, f"{tag}-buyer-{b}")
            buyer_ids.append(user.id)
    with unit_of_work():
        fee_account = ledger.platform_account(FEE_REVENUE).id
        wallets = {user_id: account_id for user_id, account_id in db.session.execute(select(
            Account.user_id, Account.id).where(Account.user_id.in_(buyer_ids + seller_users),
                                               Account.kind == "user_wallet"))}
        fees = {k: int(value(f"market.{k}")) for k in ("seller_fee_bps", "seller_fee_min", "buyer_fee_bps",
                                                      "buyer_fee_min")}
    return Plan(listing_ids, buyer_ids, wallets, fee_account, fees)


def _fee(amount: int, bps: int, minimum: int) -> int:
    """Half-even to the cent, at least the minimum (as app.market.fees.fee)."""
    if amount == 0:
        return 0
    quotient, remainder = divmod(amount * bps, 10_000)
    if remainder * 2 > 10_000 or (remainder * 2 == 10_000 and quotient % 2):
        quotient += 1
    return max(quotient, minimum)


LOWER_CLAIM = """
    UPDATE market_listings SET units_remaining = units_remaining - :units,
           status = CASE WHEN units_remaining = :units THEN 'sold' ELSE status END,
           closed_at = CASE WHEN units_remaining = :units THEN now() ELSE closed_at END
    WHERE id = :id AND status = 'open' AND expires_at > now() AND units_remaining >= :units
      AND NOT EXISTS (SELECT 1 FROM market_halts AS h WHERE h.property_id = market_listings.property_id
                      AND h.resumed_at IS NULL)
    RETURNING property_id, seller_id, investment_id, currency, unit_price, price_per_unit, seller_fee_bps,
              seller_fee_min, buyer_fee_bps, buyer_fee_min"""
LOWER_TRADE = """
    INSERT INTO market_trades (listing_id, property_id, seller_id, buyer_id, seller_investment_id, currency, units,
                               unit_price, price_per_unit, amount, buyer_fee, seller_fee, idempotency_key,
                               settled_at)
    VALUES (:listing_id, :property_id, :seller_id, :buyer_id, :seller_investment_id, :currency, :units,
            :unit_price, :price_per_unit, :amount, :buyer_fee, :seller_fee, :key, now())"""
LOWER_MOVE = """
    UPDATE ledger_accounts SET balance = balance + :delta
    WHERE id = :id AND (allow_negative OR balance + :delta >= 0)"""
REMAINING = "SELECT status, units_remaining FROM market_listings WHERE id = :id"


def lower_trade(conn, plan: Plan, listing_id: int, buyer_id: int, units: int) -> bool:
    """One trade in plain SQL on `conn` (its own transaction); False when the listing could not give the units."""
    from sqlalchemy import text

    with conn.begin():
        row = conn.execute(text(LOWER_CLAIM), {"id": listing_id, "units": units}).mappings().first()
        if row is None:
            return False
        amount = units * row["price_per_unit"]
        buyer_fee = _fee(amount, row["buyer_fee_bps"], row["buyer_fee_min"])
        seller_fee = _fee(amount, row["seller_fee_bps"], row["seller_fee_min"])
        conn.execute(text(LOWER_TRADE), {
            "listing_id": listing_id, "property_id": row["property_id"], "seller_id": row["seller_id"],
            "buyer_id": buyer_id, "seller_investment_id": row["investment_id"], "currency": row["currency"],
            "units": units, "unit_price": row["unit_price"], "price_per_unit": row["price_per_unit"],
            "amount": amount, "buyer_fee": buyer_fee, "seller_fee": seller_fee,
            "key": f"{LOWER_KEY}{uuid.uuid4().hex}"})
        moves = {plan.wallets[buyer_id]: -(amount + buyer_fee), plan.wallets[row["seller_id"]]: amount - seller_fee,
                 plan.fee_account: buyer_fee + seller_fee}
        for account_id in sorted(moves):
            if conn.execute(text(LOWER_MOVE), {"id": account_id, "delta": moves[account_id]}).rowcount != 1:
                raise RuntimeError(f"account #{account_id} would go below zero")
    return True


def take_back_lower_bound() -> int:
    """Undo the lower bound's rows: its trades deleted, the listings reopened, the balances their postings say."""
    from sqlalchemy import text

    from app.core.db import unit_of_work
    from app.extensions import db

    with unit_of_work():
        deleted = db.session.execute(text("DELETE FROM market_trades WHERE idempotency_key LIKE :k"),
                                     {"k": LOWER_KEY + "%"}).rowcount
        db.session.execute(text("UPDATE market_listings SET units_remaining = units, status = 'open', "
                                "closed_at = NULL WHERE status IN ('open', 'sold')"))
        db.session.execute(text(
            "UPDATE ledger_accounts AS a SET balance = COALESCE((SELECT SUM(p.amount) FROM ledger_postings AS p "
            "WHERE p.account_id = a.id), 0)"))
    return deleted


def drive(app, plan: Plan, threads: int, trade, *, seed: int = SEED) -> Run:
    """`threads` threads buy until every listing is sold out; trade(listing_id, buyer_id, units) -> bool settles
    one trade in the thread's app context (False or an error: refused). Returns the run's figures."""
    import itertools

    from sqlalchemy import event, text

    from app.extensions import db

    run = Run()
    lock = threading.Lock()
    open_ids = list(plan.listing_ids)
    left_hint: dict[int, int] = {}  # what a refusal last read of a listing's remaining units
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        rng = random.Random(seed * 1_000 + index)
        buyers = plan.buyer_ids[index::threads] or plan.buyer_ids
        turn = 0
        with app.app_context():
            try:
                barrier.wait()
                while True:
                    with lock:
                        if not open_ids:
                            return
                        listing_id = rng.choice(open_ids)
                        units = min(rng.randint(1, 3), left_hint.get(listing_id, 3))
                    buyer_id = buyers[turn % len(buyers)]
                    turn += 1
                    started = time.perf_counter()
                    try:
                        done = trade(listing_id, buyer_id, units)
                    except Exception as exc:  # a refusal by the services (Conflict): read what is left
                        if type(exc).__name__ not in ("Conflict", "NotFound"):
                            raise
                        db.session.rollback()
                        done = False
                    took = time.perf_counter() - started
                    if done:
                        with lock:
                            run.trades += 1
                            run.units += units
                            run.latencies.append(took)
                        continue
                    status, left = db.session.execute(text(REMAINING), {"id": listing_id}).one()
                    db.session.rollback()
                    with lock:
                        run.refused += 1
                        if status != "open" or left == 0:
                            if listing_id in open_ids:
                                open_ids.remove(listing_id)
                        else:
                            left_hint[listing_id] = left
            except BaseException as exc:
                errors.append(exc)
            finally:
                db.session.remove()

    sent = itertools.count()

    def count(*_args) -> None:
        next(sent)

    engine = db.engine
    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    event.listen(engine, "before_cursor_execute", count)
    barrier.wait()
    started, cpu = time.perf_counter(), time.process_time()
    for w in workers:
        w.join()
    run.elapsed, run.cpu = time.perf_counter() - started, time.process_time() - cpu
    event.remove(engine, "before_cursor_execute", count)
    run.statements = next(sent)
    if errors:
        raise errors[0]
    return run


def run_lower_bound(app, plan: Plan, threads: int) -> Run:
    from app.extensions import db

    local = threading.local()

    def trade(listing_id: int, buyer_id: int, units: int) -> bool:
        if not hasattr(local, "conn"):
            local.conn = db.engine.connect()
        return lower_trade(local.conn, plan, listing_id, buyer_id, units)

    try:
        return drive(app, plan, threads, trade)
    finally:
        db.engine.dispose()  # the threads' connections go back


def run_engine(app, plan: Plan, threads: int) -> Run:
    from app.auth.models import User
    from app.core.db import unit_of_work
    from app.extensions import db
    from app.market import services as market

    def trade(listing_id: int, buyer_id: int, units: int) -> bool:
        with unit_of_work():
            market.buy(db.session.get(User, buyer_id), listing_id, units, key=uuid.uuid4().hex, ip="127.0.0.1")
        return True

    return drive(app, plan, threads, trade)


@dataclass
class Outcome:
    oversold: list[str]
    units_sold: int
    units_listed: int
    ledger_ok: bool
    violations: list[str]
    entries: int


def check(listing_ids: list[int] | None = None) -> Outcome:
    """Per listing, the units of its trades against units - units_remaining (never negative); then verify()."""
    from sqlalchemy import text

    from app.extensions import db
    from app.ledger.checks import verify

    rows = db.session.execute(text(
        "SELECT l.id, l.units, l.units_remaining, COALESCE(SUM(t.units), 0) AS sold FROM market_listings AS l "
        "LEFT JOIN market_trades AS t ON t.listing_id = l.id GROUP BY l.id, l.units, l.units_remaining "
        "ORDER BY l.id")).all()
    if listing_ids is not None:
        wanted = set(listing_ids)
        rows = [r for r in rows if r.id in wanted]
    oversold = [f"listing #{r.id}: {r.sold} units traded, {r.units} - {r.units_remaining} taken"
                for r in rows if r.units_remaining < 0 or r.sold != r.units - r.units_remaining]
    report = verify()
    db.session.rollback()
    return Outcome(oversold, sum(int(r.sold) for r in rows), sum(int(r.units) for r in rows), report.ok,
                   list(report.violations), report.entries)


def main() -> int:
    # imported here, not at the top: the repository is on sys.path only once this script has put it there
    import logging

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from app import create_app
    from app.config import normalize_database_url

    server = os.environ.get("DATABASE_URL", "")
    if not server.startswith(("postgres", "postgresql")):
        print("bench/market.py needs DATABASE_URL pointing at PostgreSQL: skipped")
        return 0
    base = make_url(normalize_database_url(server))
    url = base.set(database=DB_NAME).render_as_string(hide_password=False)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
    logging.disable(logging.WARNING)  # the set-up's mail goes nowhere, by design
    app = create_app({"CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": url, "CELERY_BROKER_URL": "memory://",
                      "CELERY_TASK_ALWAYS_EAGER": False, "UPLOAD_FOLDER": tempfile.mkdtemp(),
                      "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": THREADS + 2, "max_overflow": 4,
                                                    "pool_pre_ping": True, "hide_parameters": True}})
    try:
        with app.app_context():
            from flask_migrate import upgrade

            upgrade(directory=str(ROOT / "migrations"))
            started = time.perf_counter()
            plan = build()
            print(f"market: {len(plan.listing_ids)} listings of {UNITS} units ({SELLERS} sellers, {PROPERTIES} "
                  f"offerings), {len(plan.buyer_ids)} buyers, {THREADS} threads, 1-3 units a trade; set up in "
                  f"{time.perf_counter() - started:.0f} s")
            lower = run_lower_bound(app, plan, THREADS)
            taken = take_back_lower_bound()
            engine = run_engine(app, plan, THREADS)
            outcome = check(plan.listing_ids)
    finally:
        if not os.environ.get("BENCH_KEEP"):
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        admin.dispose()

    for label, r in (("lower bound (plain SQL)", lower), ("engine (market.buy)", engine)):
        print(f"  {label:24} {r.trades:5} trades ({r.units} units, {r.refused} refusals) in {r.elapsed:6.2f} s: "
              f"{r.rate:7.1f} trades/s, settlement p50 {percentile(r.latencies, 0.5) * 1000:6.1f} ms, "
              f"p95 {r.p95_ms:6.1f} ms; {r.per_trade()}")
    ratio = engine.rate / lower.rate if lower.rate else 0.0
    print(f"  trades/s ratio engine / lower bound: {ratio:.2f} (goal at least {MIN_RATIO:.2f}); p95 "
          f"{engine.p95_ms:.0f} ms against {lower.p95_ms:.0f} ms; mean {statistics.fmean(engine.latencies or [0]) * 1000:.0f} ms "
          f"against {statistics.fmean(lower.latencies or [0]) * 1000:.0f} ms ({taken} lower-bound trades taken back)")
    print(f"  oversold units: {len(outcome.oversold)} listings wrong "
          f"({outcome.units_sold} of {outcome.units_listed} units sold)" +
          "".join(f"\n    {line}" for line in outcome.oversold[:10]))
    print(f"  ledger verify: {'ok' if outcome.ledger_ok else 'FAILED'}: {outcome.entries} entries" +
          "".join(f"\n    {line}" for line in outcome.violations[:10]))
    ok = (ratio >= MIN_RATIO and not outcome.oversold and outcome.ledger_ok
          and outcome.units_sold == outcome.units_listed)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
