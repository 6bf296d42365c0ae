"""A statement against the ledger: opening, every line and its running balance, closing (= available + held),
returns, capital and fees, the per-year summary; the task retried; progress; one statement in preparation per range."""
from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from app.account import statements
from app.account.statement_models import READY, RUNNING, Statement
from app.auth.models import User
from app.core.db import unit_of_work
from app.core.errors import NotFound, ValidationError
from app.core.money import Money
from app.core.storage import get_storage
from app.extensions import db
from app.ledger.models import USER_KINDS, Account, JournalEntry, Posting
from tests.account.statement_support import LAST_YEAR, TODAY, build_history, csv_text_of, pdf_text, usd
from tests.concurrency import run_threads


@pytest.fixture
def history(monkeypatch, investor, make_property, method, finance, fund):
    return build_history(monkeypatch, investor, make_property(), method, finance, fund)


@pytest.fixture
def investor_options():
    return {"balance": None, "first_name": "Zoë", "last_name": "Núñez"}


def ask(user, first, last, locale="en") -> Statement:
    with unit_of_work():
        statement, _ = statements.request_statement(user, first, last, locale=locale)
    db.session.expire_all()
    return db.session.get(Statement, statement.id)


def ledger_lines(user_id, first, last):
    start, end = statements_start(first), statements_start(last + timedelta(days=1))
    return db.session.execute(
        select(Posting.entry_id, Posting.amount).join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(Account, Account.id == Posting.account_id)
        .where(Account.user_id == user_id, Account.kind.in_(USER_KINDS), JournalEntry.created_at >= start,
               JournalEntry.created_at < end).order_by(JournalEntry.created_at, Posting.id)).all()


def statements_start(day):
    return datetime.combine(day, time(), tzinfo=UTC)  # the statement's days are UTC days


def test_the_years_pdf_reads_back_with_the_ledgers_totals(history, investor):
    s = ask(investor, date(TODAY.year, 1, 1), TODAY)
    assert s.status == READY and s.progress_done == s.progress_total
    text = pdf_text(s)
    assert "Zoë Núñez" in text  # DejaVu prints the accents
    assert f"Opening balance on Jan 1, {TODAY.year}" in text and usd(100_000) in text
    closing_line = next(line for line in text.splitlines() if line.startswith("Closing balance on"))
    assert closing_line.endswith(usd(history["closing"]))
    assert history["closing"] == 100_000 - 50_000 + history["returns"] + history["capital"] - 20_000 - history["fee"]
    returns_line = next(line for line in text.splitlines() if line.startswith("Returns received"))
    assert history["returns"] > 0 and returns_line.endswith(usd(history["returns"]))
    fees_line = next(line for line in text.splitlines() if line.startswith("Fees paid"))
    assert history["fee"] > 0 and fees_line.endswith(usd(history["fee"]))
    assert f"{TODAY.year} {usd(history['returns'])} {usd(history['fee'])}" in text  # the tax summary's row
    assert "Return" in text and "Returns run #" not in text  # the investor's words, never internal memos
    lines = text.splitlines()
    money_in = next(line for line in lines if line.startswith("Money in"))
    money_out = next(line for line in lines if line.startswith("Money out"))
    # a hold moves money between the investor's own accounts: neither in nor out
    assert money_in.endswith(usd(history["returns"] + history["capital"]))
    assert money_out.endswith(usd(50_000 + 20_000 + history["fee"]))
    holding = next(line for line in lines if line.startswith(history["investment"].property.title))
    assert holding.split()[-5:] == [usd(50_000), usd(history["returns"]), usd(history["capital"]),
                                    usd(history["returns"]), usd(history["capital"])]


def test_last_years_statement_starts_at_zero_and_ends_at_the_deposit(history, investor):
    s = ask(investor, date(LAST_YEAR, 1, 1), date(LAST_YEAR, 12, 31))
    text = pdf_text(s)
    assert f"Opening balance on Jan 1, {LAST_YEAR}" in text
    opening = next(line for line in text.splitlines() if line.startswith("Opening balance"))
    closing = next(line for line in text.splitlines() if line.startswith("Closing balance"))
    assert opening.endswith(usd(0)) and closing.endswith(usd(100_000))


def test_the_csv_is_the_ledgers_lines_with_running_balances(history, investor):
    first = date(TODAY.year, 1, 1)
    s = ask(investor, first, TODAY)
    rows = list(csv.reader(io.StringIO(csv_text_of(s))))
    header, opening, lines, closing = rows[0], rows[1], rows[2:-1], rows[-1]
    assert header[:2] == ["Date (UTC)", "Entry"]
    assert opening[2] == "Opening balance" and opening[5] == "1000.00"
    expected = ledger_lines(investor.id, first, TODAY)
    assert [(int(r[1]), r[4]) for r in lines] == [(e, f"{a / 100:.2f}") for e, a in expected]
    running = 100_000
    for row, (_entry, amount) in zip(lines, expected):
        running += amount
        assert row[5] == f"{running / 100:.2f}"
    assert closing[2] == "Closing balance" and closing[5] == f"{history['closing'] / 100:.2f}"
    assert not any("Returns run #" in cell for row in rows for cell in row)


def test_spanish_statement_speaks_spanish_and_formats_amounts(history, investor):
    s = ask(investor, date(TODAY.year, 1, 1), TODAY, locale="es")
    text = pdf_text(s)
    assert "Saldo inicial" in text and Money(100_000, "USD").local("es") in text


def test_a_retried_task_writes_the_same_files_and_no_second_statement(history, investor):
    s = ask(investor, date(TODAY.year, 1, 1), TODAY)
    pdf, csv_bytes = get_storage().get(s.pdf_key), get_storage().get(s.csv_key)
    with unit_of_work():  # a worker died after writing the files: the task is delivered again
        db.session.get(Statement, s.id).status = RUNNING
    assert statements.generate(s.id) == READY
    db.session.expire_all()
    again = db.session.get(Statement, s.id)
    assert (again.pdf_key, again.csv_key) == (s.pdf_key, s.csv_key)
    assert get_storage().get(again.pdf_key) == pdf and get_storage().get(again.csv_key) == csv_bytes
    assert statements.generate(s.id) == READY  # once ready, a late duplicate changes nothing
    assert db.session.scalar(select(func.count()).select_from(Statement)) == 1


def test_progress_moves_step_by_step(history, investor, monkeypatch):
    seen = []
    real = statements._advance

    def spy(statement_id, done):
        real(statement_id, done)
        seen.append(done)

    monkeypatch.setattr(statements, "_advance", spy)
    s = ask(investor, date(TODAY.year, 1, 1), TODAY)
    assert seen == list(range(1, s.progress_total)) and s.percent == 100


def test_the_same_range_asked_twice_while_prepared_is_the_same_statement(investor, monkeypatch):
    monkeypatch.setattr(statements, "enqueue_after_commit", lambda *a, **k: None)  # the worker is busy
    first = ask(investor, date(TODAY.year, 1, 1), TODAY)
    second = ask(investor, date(TODAY.year, 1, 1), TODAY)
    other = ask(investor, date(TODAY.year, 2, 1), TODAY)
    assert first.id == second.id != other.id and first.status == "queued"


@pytest.mark.parametrize(("first", "last", "field"), [
    (TODAY, TODAY - timedelta(days=1), "to"),
    (TODAY, TODAY + timedelta(days=1), "to"),
    (TODAY - timedelta(days=6 * 366), TODAY, "from"),
    (date(1999, 1, 1), date(1999, 12, 31), "from"),
])
def test_bad_ranges_are_refused_and_nothing_is_written(investor, first, last, field):
    with pytest.raises(ValidationError) as caught, unit_of_work():
        statements.request_statement(investor, first, last, locale="en")
    assert field in caught.value.errors
    assert db.session.scalar(select(func.count()).select_from(Statement)) == 0


def test_someone_elses_statement_is_not_found(investor, make_investor, monkeypatch):
    monkeypatch.setattr(statements, "enqueue_after_commit", lambda *a, **k: None)
    mine = ask(investor, TODAY, TODAY)
    other = make_investor(email="other@example.com")
    with pytest.raises(NotFound):
        statements.for_owner(mine.id, other.id)


def test_the_same_range_asked_six_times_at_once_makes_one_statement(app, postgres, investor, monkeypatch):
    monkeypatch.setattr(statements, "enqueue_after_commit", lambda *a, **k: None)
    user_id = investor.id

    def work(_index):
        user = db.session.get(User, user_id)
        with unit_of_work():
            statement, _created = statements.request_statement(user, date(TODAY.year, 1, 1), TODAY, locale="en")
        return statement.id

    results = run_threads(app, 6, work, commit=False)
    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 1
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Statement)) == 1
