"""The audit trail: records chain by hash, any stored change is found, the console shows and exports it."""
import csv
import io
import itertools
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pyotp
import pytest
from flask_login import login_user
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.exc import DBAPIError

from app.core import audit
from app.core.audit import GENESIS_HASH, AuditRecord, compute_hash, json_safe, record, verify_chain
from app.core.money import Money
from app.extensions import db
from tests.concurrency import run_threads
from tests.support import csrf_from

COLUMNS = ("created_at", "actor_id", "actor_email", "action", "target_type", "target_id", "before", "after", "reason",
           "ip", "user_agent", "prev_hash", "hash")


def _ids() -> list[int]:
    return list(db.session.execute(select(AuditRecord.id).order_by(AuditRecord.id)).scalars())


def _seed(app, make_user, count=3) -> list[int]:
    """count fully populated records (every column set), committed; returns their ids."""
    alice, bob = make_user(first_name="Alice"), make_user(first_name="Bob")
    ids = []
    with app.test_request_context("/", headers={"User-Agent": "pytest-agent/1.0"},
                                  environ_base={"REMOTE_ADDR": "203.0.113.7"}):
        for n in range(count):
            entry = record(f"user.status_changed.{n}", actor=alice, target=bob, reason=f"ticket {n}",
                           before={"status": "active", "at": datetime(2026, 1, 1, tzinfo=UTC)},
                           after={"status": "blocked", "limit": Decimal("12.50"), "n": n})
            ids.append(entry.id)
    db.session.commit()
    return ids


def _tamper(is_postgres, statement, **params) -> None:
    """What an attacker with database access could do: the append-only trigger switched off, rows edited."""
    if is_postgres:
        db.session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
    db.session.execute(statement, params)
    if is_postgres:
        db.session.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
    db.session.commit()
    db.session.expire_all()


def _altered(column: str, entry: AuditRecord, other_user_id: int):
    value = getattr(entry, column)
    if column == "created_at":
        return value + timedelta(microseconds=1)
    if column == "actor_id":
        return other_user_id
    if column in ("before", "after"):
        return {**(value or {}), "tampered": True}
    if column in ("prev_hash", "hash"):
        return ("1" if value[0] != "1" else "2") + value[1:]
    return (value or "") + "x"


def _cli_verify(app):
    return app.test_cli_runner().invoke(args=["audit", "verify"])


# recording ------------------------------------------------------------------------------------------------------
def test_records_chain_each_to_the_one_before(app, make_user):
    ids = _seed(app, make_user, count=4)
    rows = db.session.execute(select(AuditRecord).order_by(AuditRecord.id)).scalars().all()
    assert [r.id for r in rows][-4:] == ids
    assert rows[0].prev_hash == GENESIS_HASH
    for previous, current in itertools.pairwise(rows):
        assert current.prev_hash == previous.hash
    for row in rows:
        assert re.fullmatch(r"[0-9a-f]{64}", row.hash)
        assert compute_hash({name: getattr(row, name) for name in audit.HASHED_FIELDS}) == row.hash
    last = rows[-1]
    assert last.actor_email.startswith("user-") and last.target_type == "users"
    assert last.after == {"status": "blocked", "limit": "12.50", "n": 3}
    assert last.before == {"status": "active", "at": "2026-01-01T00:00:00+00:00"}
    assert last.ip == "203.0.113.7" and last.user_agent == "pytest-agent/1.0" and last.reason == "ticket 3"


def test_record_flushes_but_never_commits(app, make_user):
    kept = record("kept.action")
    db.session.commit()
    record("dropped.action")
    assert db.session.execute(select(func.count()).select_from(AuditRecord)).scalar_one() >= 2
    db.session.rollback()
    actions = list(db.session.execute(select(AuditRecord.action).order_by(AuditRecord.id)).scalars())
    assert "dropped.action" not in actions and "kept.action" in actions
    following = record("after.rollback")
    db.session.commit()
    assert following.prev_hash == kept.hash  # the rolled-back record left no gap in the chain
    assert verify_chain()[1] is None


def test_actor_ip_and_agent_come_from_the_request(app, make_user):
    user = make_user(role="admin")
    with app.test_request_context("/", headers={"User-Agent": "A" * 500},
                                  environ_base={"REMOTE_ADDR": "198.51.100.23"}):
        login_user(user)
        entry = record("console.thing", target=("property", 42))
        explicit = record("other.thing", actor=None, target=None)
    db.session.commit()
    assert entry.actor_id == user.id and entry.actor_email == user.email
    assert explicit.actor_id == user.id
    assert entry.ip == "198.51.100.23" and entry.user_agent == "A" * 300
    assert (entry.target_type, entry.target_id) == ("property", "42")
    assert (explicit.target_type, explicit.target_id) == (None, None)


def test_outside_a_request_there_is_no_actor_ip_or_agent(app):
    entry = record("system.job", reason="nightly")
    assert (entry.actor_id, entry.actor_email, entry.ip, entry.user_agent) == (None, None, None, None)


def test_record_refuses_an_empty_action(app):
    with pytest.raises(ValueError):
        record("")


def test_json_safe_gives_what_json_gives_back():
    value = {
        1: datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=UTC), "d": date(2026, 3, 4), "amount": Decimal("1.10"),
        "id": UUID("12345678-1234-5678-1234-567812345678"), "money": Money(1250, "USD"), "t": (1, 2),
        "s": {"b", "a"}, "nan": float("nan"), "ok": 1.5, "none": None, "flag": True,
    }
    assert json_safe(value) == {
        "1": "2026-03-04T05:06:07.000890+00:00", "d": "2026-03-04", "amount": "1.10",
        "id": "12345678-1234-5678-1234-567812345678", "money": str(Money(1250, "USD")), "t": [1, 2],
        "s": ["a", "b"], "nan": "nan", "ok": 1.5, "none": None, "flag": True,
    }


@pytest.mark.parametrize("moment", [datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                                    datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)],
                         ids=["whole-second", "microseconds"])
def test_created_at_read_back_hashes_the_same(app, monkeypatch, is_postgres, moment):
    monkeypatch.setattr(audit, "utcnow", lambda: moment)
    entry = record("time.check", after={"x": 1})
    db.session.commit()
    entry_id, stored_hash = entry.id, entry.hash
    db.session.expunge_all()
    if is_postgres:  # a session in another time zone reads the same instant with another offset
        db.session.execute(text("SET LOCAL TIME ZONE 'Asia/Kolkata'"))
    row = db.session.execute(select(AuditRecord.__table__).where(AuditRecord.id == entry_id)).mappings().one()
    if is_postgres:
        assert row["created_at"].utcoffset() == timedelta(hours=5, minutes=30)
    assert row["created_at"] == moment
    assert compute_hash(row) == stored_hash
    assert verify_chain() == (1, None, None)
    db.session.rollback()


# verifying ------------------------------------------------------------------------------------------------------
def test_verify_chain_is_ok_on_an_intact_chain(app, make_user):
    assert verify_chain() == (0, None, None)
    ids = _seed(app, make_user, count=5)
    checked, broken, problem = verify_chain()
    assert checked == len(_ids()) >= len(ids) and broken is None and problem is None
    result = _cli_verify(app)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"audit ok: {checked} records"


def test_verify_chain_streams_in_batches(app, monkeypatch, make_user):
    monkeypatch.setattr(audit, "VERIFY_BATCH", 2)
    _seed(app, make_user, count=7)
    assert verify_chain() == (len(_ids()), None, None)


@pytest.mark.parametrize("position", ["first", "middle", "last"])
@pytest.mark.parametrize("column", COLUMNS)
def test_altering_any_field_of_any_record_is_found(app, make_user, is_postgres, column, position):
    _seed(app, make_user, count=3)
    ids = _ids()
    target_id = {"first": ids[0], "middle": ids[len(ids) // 2], "last": ids[-1]}[position]
    entry = db.session.get(AuditRecord, target_id)
    other_user = make_user()
    new_value = _altered(column, entry, other_user.id)
    statement = text(f'UPDATE audit_log SET "{column}" = :value WHERE id = :id').bindparams(
        bindparam("value", type_=AuditRecord.__table__.c[column].type))
    _tamper(is_postgres, statement, value=new_value, id=target_id)
    assert getattr(db.session.get(AuditRecord, target_id), column) == new_value  # the change is stored

    checked, broken, problem = verify_chain()
    assert broken is not None and broken.id == target_id, (column, problem)
    assert checked == ids.index(target_id) + 1
    result = _cli_verify(app)
    assert result.exit_code == 1
    assert f"audit chain broken at record #{target_id}: " in result.output


@pytest.mark.parametrize("position", ["first", "middle"])
def test_renumbering_a_record_out_of_its_place_is_found(app, make_user, is_postgres, position):
    """The id is the record's place in the chain: moving it breaks the link of the record that followed it."""
    _seed(app, make_user, count=3)
    ids = _ids()
    moved = ids[0] if position == "first" else ids[len(ids) // 2]
    following = ids[ids.index(moved) + 1]
    _tamper(is_postgres, text("UPDATE audit_log SET id = :new WHERE id = :id"), new=ids[-1] + 1000, id=moved)
    _checked, broken, problem = verify_chain()
    assert broken.id == following and "prev_hash" in problem
    result = _cli_verify(app)
    assert result.exit_code == 1 and f"audit chain broken at record #{following}: " in result.output


def test_deleting_a_middle_record_is_found(app, make_user, is_postgres):
    _seed(app, make_user, count=5)
    ids = _ids()
    removed = ids[len(ids) // 2]
    following = ids[ids.index(removed) + 1]
    _tamper(is_postgres, text("DELETE FROM audit_log WHERE id = :id"), id=removed)
    _checked, broken, problem = verify_chain()
    assert broken.id == following
    assert f"record #{ids[ids.index(removed) - 1]}" in problem and "removed" in problem
    result = _cli_verify(app)
    assert result.exit_code == 1
    assert f"audit chain broken at record #{following}: its prev_hash does not match" in result.output


def test_a_rewritten_record_with_a_recomputed_hash_still_breaks_the_next_link(app, make_user, is_postgres):
    _seed(app, make_user, count=3)
    ids = _ids()
    victim = db.session.get(AuditRecord, ids[-2])
    fields = {name: getattr(victim, name) for name in audit.HASHED_FIELDS}
    fields["reason"] = "nothing to see"
    _tamper(is_postgres, text("UPDATE audit_log SET reason = :r, hash = :h WHERE id = :id"),
            r="nothing to see", h=compute_hash(fields), id=victim.id)
    _checked, broken, problem = verify_chain()
    assert broken.id == ids[-1] and "prev_hash" in problem


# the console ----------------------------------------------------------------------------------------------------
def _filter_arg(app, column: str, operation: str) -> str:
    admin = app.extensions["admin"]
    admin = admin[0] if isinstance(admin, list) else admin
    view = next(v for v in admin._views if v.endpoint == "audit")
    for idx, flt in enumerate(view._filters):
        if str(flt.name) == column and str(flt.operation()) == operation:
            return f"flt0_{view.get_filter_arg(idx, flt)}", view
    raise AssertionError(f"no filter {column} {operation}")


def _sign_in_staff(client, make_user, login, role="admin"):
    """A staff member with two-factor authentication, signed in with password and (when asked) a TOTP code."""
    user = make_user(role=role)
    user.totp_secret, user.totp_enabled = pyotp.random_base32(), True
    db.session.commit()
    response = login(user)
    if response.status_code == 302 and response.headers["Location"].startswith("/login/code"):
        page = client.get("/login/code").get_data(as_text=True)
        response = client.post("/login/code", data={"code": pyotp.TOTP(user.totp_secret).now(),
                                                    "csrf_token": csrf_from(page)})
        assert response.status_code == 302, response.status_code
    return user


def test_console_lists_records_newest_first_with_details(app, client, make_user, login):
    ids = _seed(app, make_user, count=2)
    _sign_in_staff(client, make_user, login)
    html = client.get("/admin/audit/").get_data(as_text=True)
    assert "user.status_changed.0" in html and "user.status_changed.1" in html
    assert html.index("user.status_changed.1") < html.index("user.status_changed.0")
    assert "Verify chain" in html and "Export" in html
    last = db.session.get(AuditRecord, ids[-1])
    details = client.get(f"/admin/audit/details/?id={last.id}").get_data(as_text=True)
    assert last.hash in details and last.prev_hash in details and "&#34;blocked&#34;" in details


def test_console_is_read_only(app, client, make_user, login):
    ids = _seed(app, make_user, count=1)
    _sign_in_staff(client, make_user, login)
    assert client.get("/admin/audit/new/").status_code in (302, 403, 404)
    assert client.get(f"/admin/audit/edit/?id={ids[0]}").status_code in (302, 403, 404)
    page = client.get("/admin/audit/").get_data(as_text=True)
    response = client.post("/admin/audit/delete/", data={"id": str(ids[0]), "csrf_token": csrf_from(page)})
    assert response.status_code in (302, 400, 403, 404, 405)
    db.session.rollback()
    assert ids[0] in _ids()


def test_audit_console_needs_staff(app, client, make_user, login):
    assert client.get("/admin/audit/").status_code == 302
    login(make_user())
    assert client.get("/admin/audit/").status_code == 403
    assert client.get("/admin/audit/export/csv/").status_code == 403


def test_csv_export_is_itself_audited(app, client, make_user, login):
    _seed(app, make_user, count=3)
    staff = _sign_in_staff(client, make_user, login)
    key, _view = _filter_arg(app, "Action", "equals")
    response = client.get(f"/admin/audit/export/csv/?{key}=user.status_changed.1")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:5] == ["Id", "Created At", "Actor ID", "Actor", "Action"]
    assert len(rows) == 2 and rows[1][4] == "user.status_changed.1"
    assert rows[1][rows[0].index("After")] == '{"limit":"12.50","n":1,"status":"blocked"}'

    db.session.rollback()  # see what the request committed
    export = db.session.execute(
        select(AuditRecord).where(AuditRecord.action == "audit.export")).scalars().one()
    assert export.actor_id == staff.id and export.actor_email == staff.email
    assert export.ip == "127.0.0.1" and export.user_agent and export.target_type == "audit_log"
    assert export.after == {"format": "csv", "rows": 1, "search": None, "sort": None,
                            "filters": [{"column": "Action", "operation": "equals",
                                         "value": "user.status_changed.1"}]}
    assert verify_chain()[1] is None


def test_csv_export_writes_formula_like_cells_as_text(app, client, make_user, login):
    """A reason typed into the console must not run as a formula in the spreadsheet that opens the export."""
    target = make_user(first_name="Target")
    for reason in ("=HYPERLINK(\"http://evil.example\",\"x\")", "+1+1", "-2", "@SUM(A1)"):
        record("user.note", target=target, reason=reason)
    db.session.commit()
    _sign_in_staff(client, make_user, login)
    key, _view = _filter_arg(app, "Action", "equals")
    response = client.get(f"/admin/audit/export/csv/?{key}=user.note")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    reasons = [row[rows[0].index("Reason")] for row in rows[1:]]
    assert sorted(reasons) == sorted(["'=HYPERLINK(\"http://evil.example\",\"x\")", "'+1+1", "'-2", "'@SUM(A1)"])


def test_verify_button_needs_csrf_and_reports(app, client, make_user, login, is_postgres):
    ids = _seed(app, make_user, count=3)
    _sign_in_staff(client, make_user, login)
    page = client.get("/admin/audit/").get_data(as_text=True)
    assert client.post("/admin/audit/verify").status_code == 400  # no CSRF token
    response = client.post("/admin/audit/verify", data={"csrf_token": csrf_from(page)}, follow_redirects=True)
    db.session.rollback()
    assert response.status_code == 200
    # the check is itself audited, after it counted: the chain now holds one more record
    assert f"audit ok: {verify_chain()[0] - 1} records" in response.get_data(as_text=True)
    assert db.session.scalar(select(AuditRecord).order_by(AuditRecord.id.desc())).action == "audit.verify"

    _tamper(is_postgres, text("UPDATE audit_log SET reason = 'rewritten' WHERE id = :id"), id=ids[1])
    response = client.post("/admin/audit/verify", data={"csrf_token": csrf_from(page)}, follow_redirects=True)
    assert f"audit chain broken at record #{ids[1]}: " in response.get_data(as_text=True)


# PostgreSQL: the database's guard and concurrent appends ------------------------------------------------------------
@pytest.mark.postgres
def test_database_refuses_editing_or_deleting_audit_records(app, postgres, make_user):
    _seed(app, make_user, count=2)
    for statement in ("UPDATE audit_log SET reason = 'edited'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text(statement))
        db.session.rollback()
    assert verify_chain()[1] is None


@pytest.mark.postgres
def test_twenty_threads_appending_at_once_leave_one_chain(app, postgres):
    threads_count, per_thread = 20, 5

    def append(index):
        for n in range(per_thread):
            record("test.concurrent", target=("thread", index), after={"n": n})
            db.session.commit()

    errors = [r for r in run_threads(app, threads_count, append, commit=False) if isinstance(r, Exception)]
    assert not errors, errors
    db.session.rollback()
    assert verify_chain() == (threads_count * per_thread, None, None)
    prev_hashes = list(db.session.execute(select(AuditRecord.prev_hash)).scalars())
    assert len(set(prev_hashes)) == threads_count * per_thread  # no two records claim the same predecessor
