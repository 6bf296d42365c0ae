"""How freely a gevent worker's event loop keeps running while a password is hashed (app/core/offload.py).

In a gevent-patched process (as under gunicorn.conf.py's gevent workers), another request's greenlet ticks every
millisecond while argon2 hashes a password with the production cost (time cost 4, 64 MiB). Were the hash computed
on the loop, the greenlet would not tick at all; off the loop it should keep most of its pace. The figure is the
ticks counted during the hash over the ticks a free loop would make (one per millisecond); the round with the
median figure of BENCH_ROUNDS (5) is reported. tests/core/test_web_server.py proves the behaviour itself (the loop
is free during the hash); this measures how free.

    .venv/bin/python bench/web_server.py

Lower bound: 0.20 of the free pace, on a 2-core machine.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
MIN_TICK_RATIO = 0.20

SCRIPT = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()
    import json, time
    import gevent
    from app import create_app
    from app.auth import passwords

    app = create_app({"CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://", "ARGON2_TIME_COST": 4,
                      "ARGON2_MEMORY_COST": 65536, "ARGON2_PARALLELISM": 1})
    ticks = []

    def other_request():
        while True:
            ticks.append(time.monotonic())
            gevent.sleep(0.001)

    gevent.spawn(other_request)
    gevent.sleep(0.01)
    with app.app_context():
        passwords.hash_password("a warm-up, so that the pool thread exists")
        started, before = time.monotonic(), len(ticks)
        hashed = passwords.hash_password("a long and unusual passphrase")
        took, during = time.monotonic() - started, len(ticks) - before
        assert passwords.verify(hashed, "a long and unusual passphrase")
    print(json.dumps({"took": took, "during": during}))
""")


def one_round() -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["ratio"] = result["during"] / (result["took"] / 0.001)
    return result


def main() -> int:
    rounds = sorted((one_round() for _ in range(ROUNDS)), key=lambda r: r["ratio"])
    median = rounds[len(rounds) // 2]
    print(f"password hash in a gevent process: {median['took'] * 1000:.0f} ms, another greenlet ticked "
          f"{median['during']} times (a free loop: {median['took'] / 0.001:.0f})")
    print(f"loop pace during the hash: {median['ratio']:.2f} of free  lower bound {MIN_TICK_RATIO:.2f}  "
          f"ratio {median['ratio'] / MIN_TICK_RATIO:.2f}")
    return 0 if median["ratio"] >= MIN_TICK_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
