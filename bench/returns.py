"""Return distribution at scale, on PostgreSQL: `flask returns distribute` against a hand-written set-based lower bound.

    DATABASE_URL=postgresql://postgres@127.0.0.1/postgres .venv/bin/python bench/returns.py [N]

N active investments (argument, else BENCH_POSITIONS, else 100,000), each with one return period due (and two
to come; one in a hundred ends its term with this period and gets its capital back), spread over BENCH_PROPERTIES
properties (default 500) and N/2 investors, each property's distributions account funded (from the
operator-funding account) for its due returns and one period more, so the run decides the funded periods and pays
them all, are generated with set-based SQL into a template database. Two
databases are created from it (CREATE DATABASE ... TEMPLATE), so both contenders start from the same bytes:

- engine: `flask returns distribute` in a subprocess (the command line an operator runs, the same code path as the
  beat task), timed from the outside, start-up included;
- lower bound: one transaction of INSERT ... SELECT / UPDATE ... FROM that writes the same payment rows, journal
  entries of at most ENTRY_SIZE payments of one property with the same postings, the same balance changes, paid
  periods taken off the calendar, completed investments and one notice row per investor paid (return_notices,
  what the run tells each investor once it is over); nothing else (no batching, no locks, no run counters).

Then `flask returns distribute` again on the engine's database: nothing is due, it must be cheap. Both databases
must end with the same payments, balances and investments. Prints the figures and the ratios; exits 1 when the
run takes more than twice the lower bound, when the second run takes more than 10 % of the first, or when the
command (start-up included) takes 60 s or longer for 1,000,000 positions or more. The ratios are judged on the
runs' own durations (as recorded in distribution_runs), as the lower bound is timed from an open connection: the
command's start-up (about two seconds of imports, whatever N) is measured apart and printed, with the ratio it
gives. BENCH_KEEP=1 keeps the databases; BENCH_VERIFY=1 also runs
`flask ledger verify` on the engine's database.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MAX_RATIO = 2.0
MAX_RERUN_SHARE = 0.10
MILLION_SECONDS = 60.0
DUE, FUTURE = 1, 2  # periods due per investment, periods still to come
AMOUNT, RETURN = 100_000, 667  # 1,000.00 invested, 6.67 a month


def _positions() -> int:
    raw = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BENCH_POSITIONS", "100000")
    return int(raw.replace("_", "").replace(",", ""))


GENERATE = [
    # investors, each with a wallet and a held account
    """INSERT INTO users (email, first_name, last_name, password_hash, status, email_verified, totp_enabled,
                          failed_logins, created_at, updated_at)
       SELECT 'bench-' || g || '@example.com', 'Bench', 'Investor ' || g, 'x', 'active', true, false, 0, now(), now()
       FROM generate_series(1, :users) AS g""",
    """INSERT INTO ledger_accounts (code, kind, name, user_id, currency, balance, allow_negative, created_at)
       SELECT 'user:' || u.id || ':' || k.suffix, k.kind, k.label || ' of ' || u.email, u.id, 'USD', 0, false, now()
       FROM users AS u CROSS JOIN (VALUES ('wallet', 'user_wallet', 'Wallet'), ('held', 'user_held', 'Held'))
            AS k(suffix, kind, label)
       ORDER BY u.id, k.suffix DESC""",
    # funded properties, monthly returns
    """INSERT INTO properties (slug, title, property_type, description, status, street, city, region, postal_code,
                               country, currency, target_amount, raised_amount, return_rate_bps, return_frequency,
                               return_periods, capital_back, resale_allowed, created_at, updated_at)
       SELECT 'bench-' || g, 'Bench property ' || g, 'residential', 'Benchmark data.', 'funded', '1 Bench Street',
              'Lisbon', '', '1000', 'PT', 'USD', 1000000000000, 0, 800, 'monthly', 12, true, false, now(), now()
       FROM generate_series(1, :properties) AS g""",
    # active investments, scattered over the properties and investors as they come in over time
    """INSERT INTO investments (user_id, property_id, currency, amount, paid_amount, escrow_amount, fees_paid, status,
                                invested_on, return_anchor, documents_version, acknowledged_at, refunded_amount,
                                units, created_at, updated_at)
       SELECT u0 + floor(random() * :users)::bigint, p0 + floor(random() * :properties)::bigint, 'USD', :amount,
              :amount, :amount, 0, 'active',
              CAST(:as_of AS DATE) - 60, CAST(:as_of AS DATE) - 60, 'bench', now(), 0, :amount / 100, now(), now()
       FROM generate_series(1, :positions) AS g,
            (SELECT min(id) AS u0 FROM users) AS u, (SELECT min(id) AS p0 FROM properties) AS p""",
    # the return calendar: DUE periods due (the last of them ends the term of one investment in a hundred, with
    # the capital back), FUTURE periods to come for the others
    """INSERT INTO return_schedule (investment_id, property_id, user_id, period_index, due_on, amount, capital,
                                    "last")
       SELECT i.id, i.property_id, i.user_id, k, CAST(:as_of AS DATE) - 30 * (:due - k), :return,
              CASE WHEN i.id % 100 = 0 AND k = :due THEN i.amount ELSE 0 END, i.id % 100 = 0 AND k = :due
       FROM investments AS i CROSS JOIN generate_series(1, :due + :future) AS k
       WHERE k <= :due OR i.id % 100 <> 0
       ORDER BY i.id, k""",
    # each property's escrow holds what its investors paid (one entry per property), its raised amount says so
    """INSERT INTO ledger_accounts (code, kind, name, ref, currency, balance, allow_negative, created_at)
       SELECT k.kind || ':' || p.id, k.kind, k.label || ': ' || p.id, CAST(p.id AS VARCHAR), 'USD', 0, true, now()
       FROM properties AS p CROSS JOIN (VALUES ('property_escrow', 'Property escrow'),
                                              ('returns_funding', 'Returns funding')) AS k(kind, label)
       UNION ALL SELECT 'adjustments', 'adjustments', 'Manual adjustments', NULL, 'USD', 0, true, now()
       UNION ALL SELECT 'operator_funding', 'operator_funding', 'Operator funding', NULL, 'USD', 0, true, now()""",
    """UPDATE properties AS p SET raised_amount = s.total, units_sold = s.units
       FROM (SELECT property_id, SUM(amount) AS total, SUM(units) AS units FROM investments GROUP BY property_id) AS s
       WHERE p.id = s.property_id""",
    """INSERT INTO ledger_entries (kind, memo, idempotency_key, fingerprint, created_at)
       SELECT 'bench_escrow', 'escrow of property #' || id, 'bench-escrow:' || id, md5(id::text) || md5(id::text),
              now()
       FROM properties""",
    """INSERT INTO ledger_postings (entry_id, account_id, amount)
       SELECT e.id, a.id, CASE WHEN a.kind = 'adjustments' THEN -p.raised_amount ELSE p.raised_amount END
       FROM properties AS p
       JOIN ledger_entries AS e ON e.idempotency_key = 'bench-escrow:' || p.id
       JOIN ledger_accounts AS a ON a.code IN ('property_escrow:' || p.id, 'adjustments')
       WHERE p.raised_amount > 0""",
    # the operators fund each property's distributions account for the returns due, and one period more (one
    # funding entry per property, from the operator-funding account): the run pays every due period, with the
    # funding check in its path
    """INSERT INTO ledger_entries (kind, memo, idempotency_key, fingerprint, created_at)
       SELECT 'funding', 'distributions of property #' || id || ' funded', 'bench-funding:' || id,
              md5('f' || id::text) || md5('f' || id::text), now()
       FROM properties""",
    """INSERT INTO ledger_postings (entry_id, account_id, amount)
       SELECT e.id, a.id, CASE WHEN a.kind = 'operator_funding' THEN -f.total ELSE f.total END
       FROM (SELECT property_id, SUM(amount) + :return AS total FROM return_schedule
             WHERE due_on <= :as_of GROUP BY property_id) AS f
       JOIN ledger_entries AS e ON e.idempotency_key = 'bench-funding:' || f.property_id
       JOIN ledger_accounts AS a ON a.code IN ('returns_funding:' || f.property_id, 'operator_funding')""",
    """UPDATE ledger_accounts AS a SET balance = s.total
       FROM (SELECT account_id, SUM(amount) AS total FROM ledger_postings GROUP BY account_id) AS s
       WHERE a.id = s.account_id""",
]

LOWER_BOUND = [
    """CREATE TEMP TABLE due ON COMMIT DROP AS
       SELECT s.id, s.investment_id, s.property_id, s.user_id, s.period_index, s.due_on, s.amount, s.capital,
              s."last", w.id AS wallet_id,
              (row_number() OVER (PARTITION BY s.property_id ORDER BY s.id) - 1) / :entry_size AS chunk
       FROM return_schedule AS s
       JOIN investments AS i ON i.id = s.investment_id AND i.status = 'active'
       JOIN ledger_accounts AS w ON w.user_id = s.user_id AND w.kind = 'user_wallet'
       WHERE s.due_on <= :as_of AND s.amount + s.capital > 0""",
    """CREATE TEMP TABLE ent ON COMMIT DROP AS
       SELECT property_id, chunk, nextval(pg_get_serial_sequence('ledger_entries', 'id')) AS entry_id,
              SUM(amount) AS returns, SUM(capital) AS capital
       FROM due GROUP BY property_id, chunk""",
    """INSERT INTO ledger_entries (id, kind, memo, idempotency_key, fingerprint, created_at)
       SELECT entry_id, 'returns', 'returns (lower bound)', 'returns-lb:' || entry_id,
              md5(entry_id::text) || md5(entry_id::text), now()
       FROM ent""",
    """INSERT INTO return_payments (investment_id, period_index, due_on, amount, capital, entry_id, paid_at)
       SELECT d.investment_id, d.period_index, d.due_on, d.amount, d.capital, e.entry_id, now()
       FROM due AS d JOIN ent AS e USING (property_id, chunk)
       ON CONFLICT (investment_id, period_index) DO NOTHING""",
    """INSERT INTO ledger_postings (entry_id, account_id, amount)
       SELECT e.entry_id, d.wallet_id, d.amount + d.capital FROM due AS d JOIN ent AS e USING (property_id, chunk)
       UNION ALL
       SELECT e.entry_id, a.id, -e.returns FROM ent AS e
       JOIN ledger_accounts AS a ON a.code = 'returns_funding:' || e.property_id WHERE e.returns > 0
       UNION ALL
       SELECT e.entry_id, a.id, -e.capital FROM ent AS e
       JOIN ledger_accounts AS a ON a.code = 'property_escrow:' || e.property_id WHERE e.capital > 0""",
    """UPDATE ledger_accounts AS a SET balance = a.balance + s.total
       FROM (SELECT wallet_id AS account_id, SUM(amount + capital) AS total FROM due GROUP BY wallet_id
             UNION ALL
             SELECT a.id, -SUM(e.returns) FROM ent AS e
             JOIN ledger_accounts AS a ON a.code = 'returns_funding:' || e.property_id GROUP BY a.id
             UNION ALL
             SELECT a.id, -SUM(e.capital) FROM ent AS e
             JOIN ledger_accounts AS a ON a.code = 'property_escrow:' || e.property_id
             WHERE e.capital > 0 GROUP BY a.id) AS s
       WHERE a.id = s.account_id AND s.total <> 0""",
    # the investors' notices: one row per investor paid, what each property paid them (sent after the run)
    """WITH run AS (INSERT INTO distribution_runs (as_of, trigger, status, payments, total, capital, batches,
                                                  started_at)
                    VALUES (:as_of, 'cli', 'succeeded', 0, 0, 0, 1, now()) RETURNING id)
       INSERT INTO return_notices (run_id, user_id, payments, amount, capital, details, created_at)
       SELECT run.id, g.user_id, sum(g.n), sum(g.amount), sum(g.capital),
              string_agg(g.property_id || ':' || g.due_on || ':' || g.amount || ':' || g.capital, ';'
                         ORDER BY g.property_id, g.due_on), now()
       FROM (SELECT user_id, property_id, due_on, count(*) AS n, sum(amount) AS amount, sum(capital) AS capital
             FROM due GROUP BY user_id, property_id, due_on) AS g CROSS JOIN run
       GROUP BY run.id, g.user_id""",
    """DELETE FROM return_schedule AS s USING due AS d WHERE s.id = d.id""",
    """UPDATE investments AS i SET
           escrow_amount = CASE WHEN i.escrow_amount > c.capital THEN i.escrow_amount - c.capital ELSE 0 END,
           status = CASE WHEN c.last THEN 'completed' ELSE i.status END,
           closed_at = CASE WHEN c.last THEN now() ELSE i.closed_at END, updated_at = now()
       FROM (SELECT investment_id, SUM(capital) AS capital, bool_or("last") AS last FROM due
             WHERE "last" OR capital > 0 GROUP BY investment_id) AS c
       WHERE i.id = c.investment_id""",
]

FINGERPRINT = [  # what both runs must agree on
    ("payments", "SELECT COUNT(*), COALESCE(SUM(amount), 0), COALESCE(SUM(capital), 0) FROM return_payments"),
    ("periods left on the calendar", "SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM return_schedule"),
    ("balances", "SELECT kind, SUM(balance), md5(string_agg(code || '=' || balance, ',' ORDER BY code)) "
                 "FROM ledger_accounts GROUP BY kind ORDER BY kind"),
    ("investments", "SELECT status, COUNT(*), SUM(escrow_amount) FROM investments GROUP BY status ORDER BY status"),
    ("return notices", "SELECT COUNT(*), SUM(payments), SUM(amount), SUM(capital), "
                       "md5(string_agg(user_id || '=' || payments || ':' || amount || ':' || capital, ',' "
                       "ORDER BY user_id)) FROM return_notices"),
]


def main() -> int:
    # imported here, not at the top: the repository is on sys.path only once this script has put it there
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from app.config import normalize_database_url
    from app.investing.returns import ENTRY_SIZE

    server = os.environ.get("DATABASE_URL", "")
    if not server.startswith(("postgres", "postgresql")):
        print("bench/returns.py needs DATABASE_URL pointing at PostgreSQL: skipped")
        return 0
    n = _positions()
    properties = int(os.environ.get("BENCH_PROPERTIES", "500"))
    users = max(1, n // 2)
    as_of = date.today()
    base = make_url(normalize_database_url(server))
    tag = uuid.uuid4().hex[:8]
    names = {k: f"freehold_bench_returns_{tag}_{k}" for k in ("template", "engine", "lower")}
    urls = {k: base.set(database=v).render_as_string(hide_password=False) for k, v in names.items()}
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    env = dict(os.environ, FREEHOLD_CONFIG="development", PYTHONPATH=str(ROOT))
    flask = [str(Path(sys.executable).with_name("flask"))]

    def sh(kind, *args, check=True):
        return subprocess.run(flask + list(args), cwd=ROOT, env=dict(env, DATABASE_URL=urls[kind]),
                              capture_output=True, text=True, check=check)

    def checkpoint():
        with admin.connect() as conn:
            conn.execute(text("CHECKPOINT"))

    print(f"return distribution: {n:,} positions over {properties:,} properties and {users:,} investors, "
          f"as of {as_of}")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{names["template"]}"'))
        sh("template", "db", "upgrade")
        started = time.monotonic()
        params = {"users": users, "properties": properties, "positions": n, "amount": AMOUNT, "return": RETURN,
                  "due": DUE, "future": FUTURE, "as_of": as_of}
        engine = create_engine(urls["template"])
        with engine.begin() as conn:
            conn.execute(text("SELECT setseed(0.42)"))  # the same data for the same N
            for statement in GENERATE:
                conn.execute(text(statement), {k: v for k, v in params.items() if f":{k}" in statement})
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
            due = conn.execute(text("SELECT COUNT(*) FROM return_schedule WHERE due_on <= :d"),
                               {"d": as_of}).scalar_one()
        engine.dispose()
        print(f"  data generated in {time.monotonic() - started:.1f} s: {due:,} periods due")
        with admin.connect() as conn:
            for kind in ("engine", "lower"):
                conn.execute(text(f'CREATE DATABASE "{names[kind]}" TEMPLATE "{names["template"]}"'))

        # the lower bound
        checkpoint()
        lower = create_engine(urls["lower"])
        started = time.monotonic()
        with lower.begin() as conn:
            for statement in LOWER_BOUND:
                conn.execute(text(statement), {k: v for k, v in {"as_of": as_of, "entry_size": ENTRY_SIZE}.items()
                                               if f":{k}" in statement})
        lower_s = time.monotonic() - started
        print(f"  lower bound (set-based SQL, one transaction): {lower_s:8.2f} s")

        # the engine, as an operator runs it
        checkpoint()
        started = time.monotonic()
        first = sh("engine", "returns", "distribute", check=False)
        engine_s = time.monotonic() - started
        if first.returncode != 0:
            print(first.stdout, first.stderr)
            print("  FAILED: flask returns distribute exited", first.returncode)
            return 1
        print(f"  flask returns distribute:                     {engine_s:8.2f} s   ({first.stdout.strip()})")
        started = time.monotonic()
        again = sh("engine", "returns", "distribute", check=False)
        rerun_s = time.monotonic() - started
        print(f"  again, nothing due:                           {rerun_s:8.2f} s   ({again.stdout.strip()})")
        started = time.monotonic()
        sh("engine", "returns", "--help")
        startup_s = time.monotonic() - started
        with create_engine(urls["engine"]).connect() as conn:
            run_s, rerun_run_s = [ms / 1000 for ms in conn.execute(
                text("SELECT duration_ms FROM distribution_runs ORDER BY id")).scalars()]
        print(f"  of which the runs themselves: {run_s:.2f} s and {rerun_run_s:.2f} s; the command's start-up "
              f"alone (flask returns --help): {startup_s:.2f} s")

        # the same outcome
        same = True
        engines = {k: create_engine(urls[k]) for k in ("engine", "lower")}
        for label, query in FINGERPRINT:
            seen = {}
            for kind, eng in engines.items():
                with eng.connect() as conn:
                    seen[kind] = [tuple(r) for r in conn.execute(text(query))]
            if seen["engine"] != seen["lower"]:
                same = False
                print(f"  MISMATCH in {label}: engine {seen['engine']} lower bound {seen['lower']}")
        with engines["engine"].connect() as conn:
            entries = conn.execute(text("SELECT COUNT(*) FROM ledger_entries WHERE kind = 'returns'")).scalar_one()
        with engines["lower"].connect() as conn:
            lower_entries = conn.execute(text("SELECT COUNT(*) FROM ledger_entries WHERE kind = 'returns'")).scalar_one()
        for eng in engines.values():
            eng.dispose()
        print(f"  same payments, balances and investments: {'yes' if same else 'NO'}; journal entries: engine "
              f"{entries:,}, lower bound {lower_entries:,}")
        if os.environ.get("BENCH_VERIFY"):
            started = time.monotonic()
            verified = sh("engine", "ledger", "verify", check=False)
            print(f"  flask ledger verify: {(verified.stdout or verified.stderr).strip()[:300]} "
                  f"({time.monotonic() - started:.1f} s)")

        ratio = engine_s / lower_s
        share = rerun_run_s / run_s
        print(f"  ratio engine / lower bound: {run_s / lower_s:.2f} the run (at most {MAX_RATIO}), {ratio:.2f} the "
              f"command with its start-up; {n / engine_s:,.0f} positions/s")
        print(f"  re-run / first run: {share:.1%} of the run, {rerun_s / engine_s:.1%} of the command with its "
              f"start-up (at most {MAX_RERUN_SHARE:.0%})")
        ok = same and run_s / lower_s <= MAX_RATIO and share <= MAX_RERUN_SHARE
        if n >= 1_000_000 and engine_s >= MILLION_SECONDS * n / 1_000_000:
            print(f"  too slow: {n:,} positions in {engine_s:.1f} s (target under {MILLION_SECONDS:.0f} s a million)")
            ok = False
        return 0 if ok else 1
    finally:
        if not os.environ.get("BENCH_KEEP"):
            with admin.connect() as conn:
                for name in names.values():
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            print("  kept:", ", ".join(names.values()))
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
