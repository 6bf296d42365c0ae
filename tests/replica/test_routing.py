"""Read-only heavy work reads from the replica; writes, and what a browser sees right after its own action, come
from the primary. Proved on a real streaming replica whose replay is paused: a row changed on the primary then
reads old on the replica and new on the primary."""
from __future__ import annotations

import logging
import time

from sqlalchemy import select, text

from app.auth.models import User
from app.core import audit
from app.core.db import unit_of_work
from app.core.replica import PRIMARY_UNTIL, reading_replica, replica_of, replica_reads
from app.extensions import cache, db
from app.properties.catalogue import CHANGED_AT_KEY
from tests.support import csrf_from, free_port


def _outside_write_window(client) -> None:
    """As if this browser's last action (signing in) was long ago."""
    with client.session_transaction() as browser:
        browser.pop(PRIMARY_UNTIL, None)


def _rename_on_primary(pair, user_id: int, last_name: str) -> None:
    pair.on_primary("UPDATE users SET last_name = :name WHERE id = :id", name=last_name, id=user_id)


def test_console_list_reads_the_replica_until_the_staff_member_acts(pair, client, login, make_user):
    staff = make_user("support@example.com", role="support")
    investor = make_user("ann@example.com", last_name="Before")
    assert login(staff).status_code == 302
    _outside_write_window(client)
    pair.pause()
    _rename_on_primary(pair, investor.id, "Afterwards")

    page = client.get("/admin/users/").get_data(as_text=True)
    assert "ann@example.com" in page
    assert "Before" in page and "Afterwards" not in page  # the replica has not replayed the change

    # a state-changing request by this staff member: the pages they see next read the primary
    details = client.get(f"/admin/users/details/?id={investor.id}").get_data(as_text=True)
    client.post(f"/admin/users/{investor.id}/resend-verification", data={"csrf_token": csrf_from(details)})
    page = client.get("/admin/users/").get_data(as_text=True)
    assert "Afterwards" in page and "Before" not in page


def test_without_a_replica_reads_go_to_the_primary_the_same(pair, client, login, make_user, app):
    """The same page, another browser that never acted: the replica; the details page (not a list): the primary."""
    staff = make_user("support@example.com", role="support")
    investor = make_user("ann@example.com", last_name="Before")
    login(staff)
    _outside_write_window(client)
    pair.pause()
    _rename_on_primary(pair, investor.id, "Afterwards")
    assert "Afterwards" in client.get(f"/admin/users/details/?id={investor.id}").get_data(as_text=True)
    assert "Afterwards" not in client.get("/admin/users/").get_data(as_text=True)


def test_export_reads_the_replica_and_audits_itself_on_the_primary(pair, client, login, make_user):
    officer = make_user("officer@example.com", role="compliance")
    login(officer)
    _outside_write_window(client)
    pair.pause()
    with unit_of_work():
        audit.record("test.after_pause", after={"marker": "late-record"})

    response = client.get("/admin/audit/export/csv/")
    assert response.status_code == 200
    assert "late-record" not in response.get_data(as_text=True)  # read from the paused replica
    db.session.remove()
    exports = db.session.scalars(select(audit.AuditRecord).where(audit.AuditRecord.action == "audit.export")).all()
    assert len(exports) == 1  # the export's own record, written on the primary
    checked, broken, _why = audit.verify_chain()
    assert broken is None and checked >= 3  # chained after the record the replica did not have


def test_a_unit_of_work_that_writes_reads_the_primary(pair, make_user):
    investor = make_user("ann@example.com", last_name="Before")
    pair.pause()
    _rename_on_primary(pair, investor.id, "Afterwards")
    db.session.remove()

    def last_name():
        return db.session.scalar(select(User.last_name).where(User.id == investor.id))

    with replica_reads():
        assert reading_replica()
        assert last_name() == "Before"
    db.session.remove()
    with replica_reads(), unit_of_work():
        audit.record("test.write")  # a write in this unit (a lock, then a flush)...
        assert last_name() == "Afterwards"  # ...so what it reads next comes from the primary
    db.session.remove()
    with replica_reads():
        db.session.add(audit.AuditRecord(action="pending", prev_hash="x", hash="y"))  # pending, not flushed
        db.session.autoflush = False
        assert last_name() == "Afterwards"
        db.session.rollback()
    db.session.remove()
    with replica_reads():
        assert db.session.execute(text("SELECT last_name FROM users WHERE id = :id"),
                                  {"id": investor.id}).scalar() == "Afterwards"  # raw SQL: never the replica
    db.session.remove()
    assert last_name() == "Afterwards"  # unmarked work (tasks, commands): the primary


def test_catalogue_reads_the_replica_unless_it_just_changed(pair, client, login, make_user, make_property,
                                                            token_for):
    investor = make_user("ann@example.com")
    prop = make_property(title="Harbour Lofts")
    login(investor)
    _outside_write_window(client)
    pair.pause()
    pair.on_primary("UPDATE properties SET title = 'Harbour Lofts Renamed' WHERE id = :id", id=prop.id)

    cache.delete(CHANGED_AT_KEY)  # the listing's last change was long ago
    cache.clear()
    page = client.get("/properties").get_data(as_text=True)
    assert "Harbour Lofts" in page and "Renamed" not in page
    api = client.get("/api/v1/properties", headers=token_for(investor)).get_json()
    assert [p["title"] for p in api["data"]] == ["Harbour Lofts"]

    # a change recorded moments ago: the next build reads the primary (and is cached under the new version)
    from app.properties.catalogue import _bump_cache
    _bump_cache()
    page = client.get("/properties").get_data(as_text=True)
    assert "Harbour Lofts Renamed" in page


def test_a_replica_too_far_behind_is_not_used(pair, client, login, make_user, app, monkeypatch):
    staff = make_user("support@example.com", role="support")
    investor = make_user("ann@example.com", last_name="Before")
    login(staff)
    _outside_write_window(client)
    pair.pause()
    _rename_on_primary(pair, investor.id, "Afterwards")
    time.sleep(1.2)
    monkeypatch.setitem(app.config, "READ_AFTER_WRITE_SECONDS", 1)  # the bound: 1 s behind at most
    replica_of(app).reset()
    page = client.get("/admin/users/").get_data(as_text=True)
    assert "Afterwards" in page
    assert replica_of(app).lag > 1


def test_an_unreachable_replica_is_skipped_and_reported_once(pair, other_app, make_user, login, caplog):
    """A replica that refuses connections (a closed port): pages work from the primary, the breaker keeps the
    replica out for a while, and the outage is reported once."""
    closed = free_port()
    other = other_app(DATABASE_READ_URL=f"postgresql+psycopg://postgres@127.0.0.1:{closed}/postgres")
    staff = make_user("support@example.com", role="support")
    make_user("ann@example.com", last_name="Before")
    client = other.test_client()
    login(staff, http=client)
    _outside_write_window(client)

    replica = replica_of(other)
    with caplog.at_level(logging.WARNING, logger="app.core.replica"):
        started = time.monotonic()
        first = client.get("/admin/users/")
        second = client.get("/admin/users/")
        elapsed = time.monotonic() - started
    assert first.status_code == second.status_code == 200
    assert "ann@example.com" in second.get_data(as_text=True)  # from the primary
    assert not replica.available  # the breaker is open: the replica is not tried again for a while
    warnings = [r for r in caplog.records if "replica unreachable" in r.getMessage()]
    assert len(warnings) == 1
    assert elapsed < 5


def test_statement_export_reads_the_replica(pair, client, login, make_user, fund):
    investor = make_user("ann@example.com")
    fund(investor, "100.00")
    login(investor)
    _outside_write_window(client)
    pair.pause()
    fund(investor, "250.00")  # committed on the primary, not yet replayed

    statement = client.get("/wallet/statement.csv").get_data(as_text=True)
    assert "100.00" in statement and "250.00" not in statement
    assert "350.00" in client.get("/wallet").get_data(as_text=True)  # the wallet page itself: the primary
