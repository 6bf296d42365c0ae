"""Returns from the outside: the command line, the daily task, and the console (runs, preview and run now,
shortfalls) with its permissions."""
from datetime import timedelta

from sqlalchemy import func, select

from app.core.audit import AuditRecord
from app.extensions import db
from app.investing import returns
from app.investing.models import FAILED, SUCCEEDED, DistributionRun, ReturnPayment
from tests.investing.test_distribution import TODAY, assert_consistent, book, periods
from tests.support import csrf_from


def _portfolio(make_property, make_user, fund=None):
    p1, p2 = make_property(title="Harbour Lofts"), make_property(title="Mill Yard")
    if fund is not None:  # every due period funded
        fund(p1.id, 5_000)
        fund(p2.id, 800)
    a, b = make_user(), make_user()
    book(p1, a, schedule=periods(2, amount=1_250))
    book(p1, b, schedule=periods(1, amount=2_500))
    book(p2, b, schedule=periods(1, amount=800, capital=100_000))
    return p1, p2


# command line ------------------------------------------------------------------------------------------------------
def test_dry_run_prints_per_property_and_pays_nothing(app, make_property, make_user, fund_distributions):
    p1, _p2 = _portfolio(make_property, make_user)
    fund_distributions(p1.id, 3_000)  # Harbour Lofts: the first period (12.50), not the second (37.50); Mill Yard: none
    result = app.test_cli_runner().invoke(args=["returns", "distribute", "--dry-run"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "dry run as of" in out and "nothing is paid" in out
    harbour = next(line for line in out.splitlines() if "Harbour Lofts" in line)
    assert harbour.split()[-7:] == ["1", "1", "12.50", "0.00", "17.50", "1", "37.50"]
    mill = next(line for line in out.splitlines() if "Mill Yard" in line)  # capital back is paid, funded or not
    assert mill.split()[-7:] == ["0", "0", "0.00", "1000.00", "0.00", "1", "8.00"]
    assert out.splitlines()[-1].split() == ["total", "1", "12.50", "1000.00", "2", "45.50"]
    assert db.session.scalar(select(func.count(ReturnPayment.id))) == 0
    assert db.session.scalar(select(func.count(DistributionRun.id))) == 0


def test_distribute_prints_what_it_paid_and_what_waits_and_is_idempotent(app, make_property, make_user,
                                                                          fund_distributions):
    _p1, p2 = _portfolio(make_property, make_user)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["returns", "distribute"])
    assert first.exit_code == 0, first.output
    assert "succeeded: 0 payment(s), returns USD 0.00, capital USD 1,000.00" in first.output
    assert "waiting for funding: 3 period(s) of 2 property(ies), USD 58.00 needed" in first.output
    assert "Harbour Lofts: 2 period(s)" in first.output and "Mill Yard: 1 period(s)" in first.output
    fund_distributions(p2.id, 800)
    fund_distributions(_p1.id, 5_000)
    second = runner.invoke(args=["returns", "distribute"])
    assert second.exit_code == 0, second.output
    assert "succeeded: 4 payment(s), returns USD 58.00" in second.output
    assert second.output.strip().splitlines()[-1] == "nothing waits for funding"
    again = runner.invoke(args=["returns", "distribute", "--as-of", TODAY.isoformat()])
    assert again.exit_code == 0 and "succeeded: 0 payment(s)" in again.output
    runs = db.session.scalars(select(DistributionRun).order_by(DistributionRun.id)).all()
    assert [r.trigger for r in runs] == ["cli", "cli", "cli"]
    assert_consistent()


def test_distribute_exits_non_zero_on_failure(app, make_property, make_user, monkeypatch, fund_distributions):
    _portfolio(make_property, make_user, fund_distributions)

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(type(returns.dialect()), "pay_batch", broken)
    result = app.test_cli_runner().invoke(args=["returns", "distribute"])
    assert result.exit_code == 1
    assert "failed" in result.output and "database went away" in result.output
    assert db.session.scalar(select(DistributionRun.status)) == FAILED


def test_distribute_refuses_the_future_and_bad_dates(app):
    runner = app.test_cli_runner()
    future = runner.invoke(args=["returns", "distribute", "--as-of", (TODAY + timedelta(days=2)).isoformat()])
    assert future.exit_code != 0 and "future" in future.output
    assert runner.invoke(args=["returns", "distribute", "--as-of", "25/11/2026"]).exit_code != 0
    nothing = runner.invoke(args=["returns", "distribute", "--dry-run", "--as-of", "2020-01-01"])
    assert nothing.exit_code == 0 and "nothing due" in nothing.output


# the daily task ----------------------------------------------------------------------------------------------------
def test_the_daily_task_runs_the_engine(fund_distributions, app, make_property, make_user):
    from app.investing.tasks import distribute_returns
    from app.tasks import BEAT_SCHEDULE

    assert BEAT_SCHEDULE["returns-distribute-daily"]["task"] == distribute_returns.name
    _portfolio(make_property, make_user, fund_distributions)
    result = distribute_returns.delay().get()
    assert result["status"] == SUCCEEDED and result["payments"] == 4 and result["capital"] == 100_000
    assert distribute_returns.delay().get()["payments"] == 0  # a retried or duplicated task pays nothing
    assert db.session.scalar(select(DistributionRun.trigger).limit(1)) == "beat"


# console -----------------------------------------------------------------------------------------------------------
def test_finance_previews_runs_and_sees_the_runs_and_shortfalls(client, login, make_user, make_property,
                                                                fund_distributions):
    p1, p2 = _portfolio(make_property, make_user)
    fund_distributions(p1.id, 3_000)  # Harbour Lofts: its first period (12.50) only; the second (37.50) waits
    fund_distributions(p2.id, 800)
    finance = make_user(role="finance")
    login(finance)
    page = client.get("/admin/returns_preview/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Harbour Lofts" in html and "Mill Yard" in html and "USD 12.50" in html and "USD 1,000.00" in html
    assert "USD 37.50" in html and "Periods waiting for funding" in html and "owes" not in html
    assert "Run now" in html
    ahead = client.get(f"/admin/returns_preview/?as_of={(TODAY + timedelta(days=40)).isoformat()}")
    assert "cannot pay returns before they are due" in ahead.get_data(as_text=True)
    assert "must be a date" in client.get("/admin/returns_preview/?as_of=soon").get_data(as_text=True)

    response = client.post("/admin/returns_preview/run", data={"csrf_token": csrf_from(html),
                                                                "as_of": TODAY.isoformat()})
    assert response.status_code == 302
    run = db.session.scalar(select(DistributionRun))
    assert run.status == SUCCEEDED and run.trigger == "console" and run.actor_id == finance.id
    assert run.payments == 2 and run.total == 2_050
    record = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "returns.run"))
    assert record.actor_id == finance.id and record.after["payments"] == 2 and record.after["as_of"] == str(TODAY)
    assert record.after["waiting_periods"] == 1 and record.after["waiting_returns"] == 3_750

    runs = client.get("/admin/distribution_runs/").get_data(as_text=True)
    assert "console" in runs and "succeeded" in runs and "USD 20.50" in runs
    shortfalls = client.get("/admin/returns_shortfalls/").get_data(as_text=True)
    assert "Harbour Lofts" in shortfalls and f"returns_funding:{p1.id}" in shortfalls and "USD 37.50" in shortfalls
    assert "USD 17.50" in shortfalls and "USD 20.00" in shortfalls  # its balance, and what is still to fund
    assert f'href="/admin/distribution-funding/propose?property_id={p1.id}"' in shortfalls
    assert "Mill Yard" not in shortfalls.split("<tbody>")[1] and "operator owes" not in shortfalls
    assert_consistent()


def test_run_now_refuses_the_future_and_needs_csrf(client, login, make_user, make_property, fund_distributions):
    _portfolio(make_property, make_user, fund_distributions)
    login(make_user(role="finance"))
    html = client.get("/admin/returns_preview/").get_data(as_text=True)
    future = (TODAY + timedelta(days=3)).isoformat()
    page = client.post("/admin/returns_preview/run", data={"csrf_token": csrf_from(html), "as_of": future},
                       follow_redirects=True)
    assert "on or after their due date" in page.get_data(as_text=True)
    assert client.post("/admin/returns_preview/run", data={"as_of": TODAY.isoformat()}).status_code == 400
    assert db.session.scalar(select(func.count(DistributionRun.id))) == 0
    assert db.session.scalar(select(func.count(AuditRecord.id)).where(AuditRecord.action == "returns.run")) == 0


def test_other_staff_see_no_returns_pages(client, login, make_user):
    login(make_user(role="support"))
    for url in ("/admin/distribution_runs/", "/admin/returns_preview/", "/admin/returns_shortfalls/"):
        assert client.get(url).status_code == 403, url
    token = csrf_from(client.get("/account/security").get_data(as_text=True))
    assert client.post("/admin/returns_preview/run", data={"csrf_token": token}).status_code == 403
    assert db.session.scalar(select(func.count(DistributionRun.id))) == 0


def test_run_list_queries_do_not_grow_with_runs(client, login, make_user, count_queries):
    login(make_user(role="admin"))
    returns.distribute()
    with count_queries() as few:
        assert client.get("/admin/distribution_runs/").status_code == 200
    for _ in range(5):
        returns.distribute()
    with count_queries() as many:
        assert client.get("/admin/distribution_runs/").status_code == 200
    assert len(many) == len(few)
