"""flask users / seed / ledger / audit / keys / returns / config commands. Each command that writes is one unit of work,
but for the jobs that commit per batch themselves (the demo's returns run, `returns distribute`)."""
from __future__ import annotations

import sys

import click
from flask import Flask, current_app

from app.auth import services as auth
from app.config import CONFIGS
from app.core import audit
from app.core.crypto import rotate_all
from app.core.db import discard, unit_of_work
from app.core.errors import DomainError
from app.core.money import Money
from app.core.security import ROLES
from app.investing import returns
from app.investing.tasks import pay_declared_waiting
from app.ledger.checks import verify as verify_ledger_invariants
from app.ledger.services import platform_currency
from app.ops.checks import record_audit_verify, record_ledger_verify
from app.ops.cli import ops_cli
from app.seed import seed_demo as load_demo_data


def register_cli(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(seed_cli)
    app.cli.add_command(ledger_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(returns_cli)
    app.cli.add_command(config_cli)
    app.cli.add_command(ops_cli)


@click.group("users", help="Manage user accounts.")
def users_cli():
    pass


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--role", type=click.Choice(ROLES), default="investor", show_default=True)
@click.option("--first-name", default="")
@click.option("--last-name", default="")
@click.option("--verified", is_flag=True, help="Mark the e-mail address as verified.")
def create_user(email, password, role, first_name, last_name, verified):
    """Create a user with one role."""
    try:
        with unit_of_work():
            user = auth.create_user(email, password, first_name=first_name, last_name=last_name, roles=(role,),
                                    verified=verified)
            audit.record("users.create", target=user, after={"email": user.email, "roles": [role],
                                                             "verified": verified, "via": "command line"})
    except DomainError as exc:
        details = "; ".join(f"{k}: {' '.join(v)}" for k, v in (exc.errors or {}).items())
        raise click.ClickException(f"{exc.message}{' (' + details + ')' if details else ''}") from None
    click.echo(f"created {user.email} (id {user.id}, role {role}{', verified' if verified else ''})")


@users_cli.command("reset-2fa")
@click.option("--email", required=True)
@click.option("--reason", required=True, help="Why: it goes into the audit trail.")
def reset_two_factor(email, reason):
    """Break-glass: turn off a user's two-factor authentication (a sole admin's too) without a second admin.
    Audited as done on the command line; the user sets 2FA up again at the next sign-in."""
    try:
        with unit_of_work():
            user = auth.user_by_email(email)
            if user is None:
                raise click.ClickException(f"no user with the e-mail address {email}")
            ended = auth.break_glass_reset_2fa(user, reason=reason)
            roles = ", ".join(sorted(user.role_names))
    except DomainError as exc:
        details = "; ".join(f"{k}: {' '.join(v)}" for k, v in (exc.errors or {}).items())
        raise click.ClickException(f"{exc.message}{' (' + details + ')' if details else ''}") from None
    click.echo(f"two-factor authentication of {user.email} ({roles}) is reset; {ended} session(s) and every API "
               "token ended; audited as users.reset_2fa via the command line. They set it up again at sign-in.")


@click.group("seed", help="Load data.")
def seed_cli():
    pass


@seed_cli.command("demo")
def seed_demo():
    """Load the demo data (idempotent) and print the logins."""
    if current_app.config["CONFIG_NAME"] == "production":
        raise click.ClickException("refusing to load demo data under the production configuration")
    logins = load_demo_data()  # commits the demo data, then runs the returns job (which commits per batch)
    click.echo("Demo data is loaded. Sign in at /login:")
    for login in logins:
        extra = f"  TOTP secret {login.totp_secret}" if login.totp_secret else ""
        click.echo(f"  {login.role:<17} {login.email:<26} {login.password}{extra}")


@click.group("config", help="Configuration tools.")
def config_cli():
    pass


@config_cli.command("check")
def check_config():
    """Print every problem of the configuration this environment gives the app; exit 1 on an error."""
    name = current_app.config["CONFIG_NAME"]
    problems = CONFIGS[name].problems(current_app.config)
    for problem in problems:
        click.echo(str(problem), err=problem.error)
    errors = sum(problem.error for problem in problems)
    if errors:
        click.echo(f"config NOT ok ({name}): {errors} error(s), {len(problems) - errors} warning(s)", err=True)
        sys.exit(1)
    click.echo(f"config ok ({name})" + (f": {len(problems)} warning(s)" if problems else ""))


@click.group("ledger", help="Ledger tools.")
def ledger_cli():
    pass


@ledger_cli.command("verify")
def verify_ledger():
    """Check every ledger invariant; exit 1 listing each violation."""
    report = verify_ledger_invariants()
    discard()  # the proof only read
    with unit_of_work():  # its outcome opens or resolves the ledger alert
        record_ledger_verify(report.ok, list(report.violations), entries=report.entries, accounts=report.accounts)
    if report.ok:
        click.echo(f"ledger ok: {report.entries} entries, {report.accounts} accounts")
        return
    for violation in report.violations:
        click.echo(f"violation: {violation}", err=True)
    click.echo(f"ledger NOT ok: {len(report.violations)} violation(s) in {report.entries} entries, "
               f"{report.accounts} accounts", err=True)
    sys.exit(1)


@click.group("audit", help="Audit trail tools.")
def audit_cli():
    pass


@audit_cli.command("verify")
def verify_audit():
    """Recompute every audit record's hash and check the links; exit 1 naming the first broken record."""
    checked, broken, problem = audit.verify_chain()
    broken_id = broken.id if broken is not None else None
    discard()  # the check only read
    with unit_of_work():  # its outcome opens or resolves the audit alert
        record_audit_verify(checked, broken_id, problem)
    if broken_id is None:
        click.echo(f"audit ok: {checked} records")
        return
    click.echo(f"audit chain broken at record #{broken_id}: {problem}", err=True)
    sys.exit(1)


@click.group("keys", help="Field-encryption keys.")
def keys_cli():
    pass


@keys_cli.command("rotate")
def rotate_keys():
    """Re-encrypt every encrypted field under the newest key of FIELD_ENCRYPTION_KEYS."""
    with unit_of_work():
        counts = rotate_all()
        audit.record("keys.rotate", after=counts)
    for field, count in counts.items():
        click.echo(f"{field}: {count} re-encrypted")
    click.echo(f"keys rotated: {sum(counts.values())} values now under the newest key")


@click.group("returns", help="Return distributions.")
def returns_cli():
    pass


@returns_cli.command("distribute")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Pay what is due up to this date (YYYY-MM-DD); default today. Not in the future.")
@click.option("--dry-run", is_flag=True, help="Show what would be paid, per property, and change nothing.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Schedule rows per transaction.")
def distribute_returns(as_of, dry_run, batch_size):
    """Pay every return due up to the as-of date and not paid yet (missed periods included). Idempotent."""
    as_of = as_of.date() if as_of else returns.today()
    if dry_run:
        lines = returns.preview(as_of)
        discard()  # a dry run only read
        if not lines:
            click.echo(f"dry run as of {as_of.isoformat()}: nothing due")
            return

        def money(minor, currency):
            return Money(minor, currency).amount_str()

        click.echo(f"dry run as of {as_of.isoformat()}: nothing is paid")
        click.echo(f"{'property':<44} {'investors':>9} {'payments':>9} {'returns':>15} {'capital':>15} "
                   f"{'distributions after':>20} {'periods waiting':>15} {'waiting':>15}")
        for line in lines:
            name = f"#{line.property_id} {line.title}"
            click.echo(f"{name[:44]:<44} {line.investors:>9,} {line.payments:>9,} "
                       f"{money(line.returns, line.currency):>15} {money(line.capital, line.currency):>15} "
                       f"{money(line.funding_after, line.currency):>20} {line.waiting_periods:>15,} "
                       f"{money(line.waiting_returns, line.currency):>15}")
        currency = platform_currency()
        click.echo(f"{'total':<44} {'':>9} {sum(x.payments for x in lines):>9,} "
                   f"{money(sum(x.returns for x in lines), currency):>15} "
                   f"{money(sum(x.capital for x in lines), currency):>15} {'':>20} "
                   f"{sum(x.waiting_periods for x in lines):>15,} "
                   f"{money(sum(x.waiting_returns for x in lines), currency):>15}")
        return
    try:
        run = returns.distribute(as_of, trigger="cli",
                                      **({"batch_size": batch_size} if batch_size else {}))
    except DomainError as exc:
        discard()  # refused before the run began: nothing of it was written
        raise click.ClickException(exc.message) from None
    line = returns.summary(run)
    if run.status != "succeeded":
        click.echo(line, err=True)
        sys.exit(1)
    click.echo(line)
    declared_paid = pay_declared_waiting()
    if declared_paid:
        click.echo(f"{declared_paid} declared distribution(s) that waited for funding paid")
    waiting = returns.shortfalls(as_of)
    discard()  # the report only read
    if not waiting:
        click.echo("nothing waits for funding")
        return
    currency = platform_currency()
    click.echo(f"waiting for funding: {sum(w.periods for w in waiting):,} period(s) of {len(waiting):,} "
               f"property(ies), {Money(sum(w.needed for w in waiting), currency).display()} needed, "
               f"{Money(sum(w.to_fund for w in waiting), currency).display()} still to fund")
    for w in waiting:
        click.echo(f"  #{w.property_id} {w.title}: {w.periods:,} period(s) since {w.oldest_due.isoformat()}, "
                   f"{Money(w.needed, w.currency).display()} needed, balance {Money(w.balance, w.currency).display()}"
                   f", {Money(w.to_fund, w.currency).display()} to fund")
