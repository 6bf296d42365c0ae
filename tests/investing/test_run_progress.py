"""A return run's progress: the payments it plans are counted once at its start, its counters are committed with
each batch (another connection sees them while it runs), and its console page shows a progress bar while it runs
and the outcome once it is over."""
from sqlalchemy import select

from app.core.db import unit_of_work, utcnow
from app.extensions import db
from app.investing import returns
from app.investing.models import RUNNING, SUCCEEDED, DistributionRun
from tests.investing.test_distribution import TODAY, book, periods


def _due(make_property, make_user, fund_distributions, investors=3, each=2):
    p = make_property()
    for _ in range(investors):
        book(p, make_user(), schedule=periods(each, amount=1_000))
    fund_distributions(p.id, investors * each * 1_000)


def test_planned_is_set_at_the_start_and_payments_move_per_committed_batch(app, make_property, make_user,
                                                                           fund_distributions):
    _due(make_property, make_user, fund_distributions)
    seen = []

    def watch(batch_no):  # another connection: what the console's status page reads while the run goes on
        with db.engine.connect() as other:
            seen.append(other.execute(select(DistributionRun.planned, DistributionRun.payments,
                                             DistributionRun.status)).one())

    run = returns.distribute(batch_size=2, after_batch=watch)
    assert run.status == SUCCEEDED and run.planned == 6 and run.payments == 6
    assert [tuple(row) for row in seen] == [(6, 2, RUNNING), (6, 4, RUNNING), (6, 6, RUNNING)]
    assert run.progress() == {"id": run.id, "status": SUCCEEDED, "percent": 100, "done": 6, "total": 6,
                              "label": "Payments"}


def test_nothing_due_plans_nothing(app):
    run = returns.distribute()
    assert run.status == SUCCEEDED and run.planned == 0 and run.percent == 100


def _running(actor_id=None, planned=8, payments=2):
    with unit_of_work():
        run = DistributionRun(as_of=TODAY, trigger="console", actor_id=actor_id, status=RUNNING, planned=planned,
                              payments=payments, total=0, capital=0, batches=1, started_at=utcnow())
        db.session.add(run)
    return run.id


def test_the_run_page_shows_a_progress_bar_while_it_runs_then_the_outcome(client, login, make_user):
    login(make_user(role="finance"))
    run_id = _running()
    page = client.get(f"/admin/distribution_runs/details/?id={run_id}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-testid="run-progress"' in body
    assert f'data-progress-url="/admin/distribution_runs/status/{run_id}"' in body and "js/progress.js" in body
    status = client.get(f"/admin/distribution_runs/status/{run_id}")
    assert status.status_code == 200 and status.headers["Cache-Control"] == "no-store"
    assert status.get_json() == {"id": run_id, "status": "running", "percent": 25, "done": 2, "total": 8,
                                 "label": "Payments"}
    with unit_of_work():
        run = db.session.get(DistributionRun, run_id)
        run.status, run.payments, run.duration_ms, run.finished_at = SUCCEEDED, 8, 1_500, utcnow()
    body = client.get(f"/admin/distribution_runs/details/?id={run_id}").get_data(as_text=True)
    assert 'data-testid="run-outcome"' in body and "8 of 8 planned payment(s), returns USD 0.00" in body and "1.5 s" in body
    assert "data-progress-url" not in body
    assert client.get("/admin/distribution_runs/status/999999").status_code == 404


def test_the_run_status_needs_returns_view(client, login, make_user):
    run_id = _running()
    for role in ("support", "compliance", "property_manager"):
        other = type(client)(client.application)
        login(make_user(role=role), http=other)
        assert other.get(f"/admin/distribution_runs/status/{run_id}").status_code == 403, role
