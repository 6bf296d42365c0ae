"""flask ops check: run every alert check now and print the open problems (exit 1 when there is any)."""
from __future__ import annotations

import sys

import click

from app.core.db import discard
from app.ops import alerts, checks


@click.group("ops", help="Operations: alerts and the checks behind them.")
def ops_cli():
    pass


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "unknown"


@ops_cli.command("check")
def check():
    """Run every alert check (opening and resolving alerts as a worker would) and print what is open."""
    outcome = checks.run_checks()
    broken = [name for name, what in outcome.items() if what.startswith("error")]
    open_now = alerts.open_alerts()
    discard()  # only read since the checks' own units of work
    for name in broken:
        click.echo(f"check {name} failed (see the log)", err=True)
    if not open_now:
        click.echo("ops ok: no open alert" if not broken else "ops: no open alert, but a check failed")
        sys.exit(1 if broken else 0)
    for alert in open_now:
        click.echo(f"{alert.key}: {alert.summary} (since {_when(alert.since or alert.raised_at)})")
        if alert.kind in alerts.KINDS:
            click.echo(f"    look at: {alerts.KINDS[alert.kind].where}")
    click.echo(f"ops NOT ok: {len(open_now)} open alert(s)", err=True)
    sys.exit(1)
