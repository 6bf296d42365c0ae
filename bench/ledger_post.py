"""Ledger throughput: committed transfers per second, and `verify` over the resulting ledger.

Runs against DATABASE_URL (PostgreSQL) when set, else a throw-away SQLite file. Prints each figure as a ratio
against its stated lower bound; exits 1 when a figure falls below its bound.

    make bench                     # or: .venv/bin/python bench/ledger_post.py
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TRANSFERS = int(os.environ.get("BENCH_TRANSFERS", "2000"))
# Lower bounds on a 2-core machine: one committed, balanced, idempotent transfer (two conditional balance
# updates, one entry, two postings) per transaction; verify() is set-based SQL over the whole ledger.
MIN_TRANSFERS_PER_SECOND = 150
MIN_VERIFIED_ENTRIES_PER_SECOND = 20_000


def main() -> int:
    # imported here, not at the top: the repository is on sys.path only once this script has put it there
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from app import create_app
    from app.config import normalize_database_url

    server = os.environ.get("DATABASE_URL", "")
    cleanup = None
    if server.startswith(("postgres", "postgresql")):
        base = make_url(normalize_database_url(server))
        name = f"freehold_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = base.set(database=name).render_as_string(hide_password=False)

        def cleanup():
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"

    app = create_app({"CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": url})
    try:
        with app.app_context():
            # the app's modules are imported once the app exists (as the worker and the commands do)
            from flask_migrate import upgrade

            from app.auth import services as auth
            from app.core.db import unit_of_work
            from app.core.money import Money
            from app.ledger import services as ledger
            from app.ledger.checks import verify
            from app.ledger.models import FEE_REVENUE, USER_WALLET
            from app.payments import services as payments

            upgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"))
            with unit_of_work():
                user = auth.create_user("bench@example.com", "bench-password-123", verified=True)
                deposit = payments.create_deposit(user.id, Money(TRANSFERS * 100, "USD"), "bank_transfer")
                payments.complete_deposit(deposit)
            with unit_of_work():
                fee = ledger.platform_account(FEE_REVENUE)

            started = time.perf_counter()
            for i in range(TRANSFERS):
                with unit_of_work():  # one committed transfer
                    wallet = ledger.user_account(user.id, USER_WALLET)
                    ledger.post([(wallet, -100), (fee, 100)], key=f"bench-{i}", kind="fee")
            elapsed = time.perf_counter() - started
            rate = TRANSFERS / elapsed

            started = time.perf_counter()
            report = verify()
            verify_elapsed = time.perf_counter() - started
            assert report.ok, report.violations
            verify_rate = report.entries / verify_elapsed
    finally:
        if cleanup:
            cleanup()

    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"backend: {backend}; {TRANSFERS} committed transfers in {elapsed:.2f} s")
    print(f"transfers/s: {rate:,.0f}  lower bound {MIN_TRANSFERS_PER_SECOND}  ratio {rate / MIN_TRANSFERS_PER_SECOND:.2f}")
    print(f"verify: {report.entries} entries in {verify_elapsed * 1000:.0f} ms = {verify_rate:,.0f} entries/s  "
          f"lower bound {MIN_VERIFIED_ENTRIES_PER_SECOND:,}  ratio {verify_rate / MIN_VERIFIED_ENTRIES_PER_SECOND:.2f}")
    ok = rate >= MIN_TRANSFERS_PER_SECOND and verify_rate >= MIN_VERIFIED_ENTRIES_PER_SECOND
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
