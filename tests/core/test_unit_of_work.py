"""One unit of work: it commits once at the end, rolls back on any error, joins an outer unit, and is the only
place in app/ that commits or rolls back."""
import ast
from pathlib import Path

import pytest
from celery import shared_task
from sqlalchemy import select

from app.auth.models import Role
from app.core.db import after_commit, enqueue_after_commit, in_unit_of_work, unit_of_work
from app.extensions import db

APP = Path(__file__).resolve().parents[2] / "app"


def _role(name: str) -> Role | None:
    db.session.expire_all()
    return db.session.scalar(select(Role).where(Role.name == name))


def test_commits_once_at_the_end_then_runs_the_after_commit_queue():
    calls = []
    with unit_of_work():
        db.session.add(Role(name="uow-a", description="x"))
        after_commit(calls.append, "sent")
        assert calls == [] and in_unit_of_work()
    assert calls == ["sent"] and not in_unit_of_work()
    db.session.rollback()  # nothing left to undo: it was committed
    assert _role("uow-a") is not None


def test_rolls_back_everything_on_an_error_and_drops_the_queue():
    calls = []
    with pytest.raises(RuntimeError), unit_of_work():
        db.session.add(Role(name="uow-b", description="x"))
        db.session.flush()
        after_commit(calls.append, "never")
        raise RuntimeError("boom")
    assert calls == [] and not in_unit_of_work()
    assert _role("uow-b") is None


def test_a_nested_unit_joins_the_outer_one():
    with pytest.raises(RuntimeError), unit_of_work():
        with unit_of_work():
            db.session.add(Role(name="uow-c", description="x"))
        assert in_unit_of_work()  # the inner one did not commit
        raise RuntimeError("the outer unit fails after the inner one ended")
    assert _role("uow-c") is None


def test_decorator_forms_commit_per_call():
    @unit_of_work
    def bare(name):
        db.session.add(Role(name=name, description="x"))
        return name

    @unit_of_work()
    def called(name):
        db.session.add(Role(name=name, description="x"))
        raise ValueError(name)

    assert bare("uow-d") == "uow-d"
    with pytest.raises(ValueError):
        called("uow-e")
    assert _role("uow-d") is not None and _role("uow-e") is None


SEEN: list = []


@shared_task(name="tests.uow_seen")
def seen_task(value):
    SEEN.append(value)


def test_a_task_queued_by_name_runs_after_commit():
    SEEN.clear()
    with unit_of_work():
        enqueue_after_commit("tests.uow_seen", "hello")
        assert SEEN == []
    assert SEEN == ["hello"]


def _calls(tree: ast.AST, names: set[str]):
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)
                and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) in names):
            yield node


def test_nothing_in_app_commits_or_rolls_back_outside_the_unit_of_work():
    offenders = []
    for path in sorted(APP.rglob("*.py")):
        if path == APP / "core" / "db.py":
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        offenders += [f"{path.relative_to(APP.parent)}:{node.lineno}"
                      for node in _calls(tree, {"commit", "rollback"})]
    assert offenders == [], "commit()/rollback() outside app/core/db.py: use unit_of_work()"
