"""Download my data: asking through the API and the portal, the archive's contents (only the investor's own data
and documents), one export at a time, the link that expires, someone else's export."""
import csv
import io
import json
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.account import data_export
from app.account.models import DataExport
from app.core.db import unit_of_work, utcnow
from app.core.storage import get_storage
from app.extensions import db
from app.retention import prune
from tests.support import csrf_from


def _zip(response) -> zipfile.ZipFile:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/zip"
    return zipfile.ZipFile(io.BytesIO(response.get_data()))


def _rows(archive: zipfile.ZipFile, name: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8"))))


@pytest.fixture
def held_back(monkeypatch):
    """The export task is not sent: exports stay queued, as while a worker prepares them."""
    monkeypatch.setattr(data_export, "enqueue_after_commit", lambda *args, **kwargs: None)


def test_the_api_prepares_an_archive_of_the_investors_own_data(client, investor, make_investor, token_for):
    other = make_investor(email="other@example.com")
    headers = token_for(investor)
    answer = client.post("/api/v1/me/export", headers=headers)
    assert answer.status_code == 202, answer.get_json()
    export_id = answer.get_json()["data"]["id"]

    status = client.get(f"/api/v1/me/exports/{export_id}", headers=headers).get_json()["data"]
    assert status["status"] == "ready"
    assert status["sections_done"] == status["sections_total"] > 1
    assert status["download_url"].endswith(f"/api/v1/me/exports/{export_id}/download")
    archive = _zip(client.get(f"/api/v1/me/exports/{export_id}/download", headers=headers))
    names = set(archive.namelist())

    profile = json.loads(archive.read("profile.json"))
    assert profile["email"] == investor.email and profile["id"] == investor.id
    json.loads(archive.read("kyc/details.json"))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["user"] == investor.id

    ledger = _rows(archive, "ledger_lines.csv")
    assert ledger and {row["account"] for row in ledger} <= {"wallet", "held"}
    assert "1000.00" in {row["amount"] for row in ledger}  # the funding deposit, in major units
    deposits = _rows(archive, "deposits.csv")
    assert [row["status"] for row in deposits] == ["succeeded"]
    for name in ("investments.csv", "payouts.csv", "notifications.csv", "sign_ins.csv", "market_trades.csv",
                 "market_listings.csv", "market_offers.csv", "kyc/submissions.csv"):
        header = archive.read(name).decode("utf-8").splitlines()[0]
        assert header.startswith(("id,", "entry_id,", "created_at,")), (name, header)

    documents = [n for n in names if n.startswith("kyc/documents/")]
    own = data_export.sections.documents(investor.id)
    others = {doc_id for doc_id, *_ in data_export.sections.documents(other.id)}
    assert own and others
    in_archive = {int(n.removeprefix("kyc/documents/").split("-", 1)[0]) for n in documents}
    assert in_archive == {doc_id for doc_id, *_ in own} and not in_archive & others
    for doc_id, field, key, _type in own:  # the stored files themselves
        name = next(n for n in documents if n.startswith(f"kyc/documents/{doc_id}-{field}."))
        assert archive.read(name) == get_storage().get(key)
    assert other.email.encode() not in b"".join(archive.read(n) for n in names if not n.startswith("kyc/documents"))


def test_a_second_export_while_one_is_prepared_is_a_409_naming_it(client, investor, token_for, held_back):
    headers = token_for(investor)
    first = client.post("/api/v1/me/export", headers=headers)
    assert first.status_code == 202 and first.get_json()["data"]["status"] == "queued"
    second = client.post("/api/v1/me/export", headers=headers)
    assert second.status_code == 409
    body = second.get_json()
    assert body["status"] == "error" and "being prepared" in body["message"]
    assert body["errors"]["export_id"] == [str(first.get_json()["data"]["id"])]
    assert db.session.scalar(select(db.func.count(DataExport.id))) == 1


def test_an_export_stuck_in_a_dead_worker_does_not_block_the_next(client, investor, token_for, held_back):
    headers = token_for(investor)
    stuck = client.post("/api/v1/me/export", headers=headers).get_json()["data"]["id"]
    with unit_of_work():
        db.session.execute(update(DataExport).where(DataExport.id == stuck).values(
            status="running", started_at=utcnow() - timedelta(hours=2)))
    assert client.post("/api/v1/me/export", headers=headers).status_code == 202
    db.session.expire_all()
    assert db.session.get(DataExport, stuck).status == "failed"


def test_someone_elses_export_is_a_404(client, investor, make_investor, token_for):
    export_id = client.post("/api/v1/me/export", headers=token_for(investor)).get_json()["data"]["id"]
    intruder = token_for(make_investor(email="intruder@example.com"))
    assert client.get(f"/api/v1/me/exports/{export_id}", headers=intruder).status_code == 404
    assert client.get(f"/api/v1/me/exports/{export_id}/download", headers=intruder).status_code == 404
    assert client.get("/api/v1/me/exports/999999", headers=intruder).status_code == 404


def test_an_expired_link_is_refused_and_the_file_deleted(client, investor, token_for):
    headers = token_for(investor)
    export_id = client.post("/api/v1/me/export", headers=headers).get_json()["data"]["id"]
    key = db.session.get(DataExport, export_id).storage_key
    assert get_storage().exists(key)
    with unit_of_work():
        db.session.execute(update(DataExport).where(DataExport.id == export_id).values(
            expires_at=utcnow() - timedelta(minutes=1)))
    gone = client.get(f"/api/v1/me/exports/{export_id}/download", headers=headers)
    assert gone.status_code == 410 and gone.get_json()["status"] == "error"
    assert client.get(f"/api/v1/me/exports/{export_id}", headers=headers).get_json()["data"]["download_url"] is None

    with unit_of_work():
        counts = prune()
    assert counts["expired_data_exports"] == 1
    db.session.expire_all()
    assert db.session.get(DataExport, export_id).status == "expired"
    assert not get_storage().exists(key)
    assert client.get(f"/api/v1/me/exports/{export_id}/download", headers=headers).status_code == 410


def test_the_ready_notice_reaches_the_investor(client, investor, token_for):
    from app.notifications.models import Notification  # the notice written by the task

    client.post("/api/v1/me/export", headers=token_for(investor))
    notice = db.session.scalar(select(Notification).where(Notification.user_id == investor.id,
                                                          Notification.event == "data_export_ready"))
    assert notice is not None and notice.link.endswith("/account/data")


def test_the_portal_page_asks_shows_and_downloads(client, investor, login, make_investor):
    login(investor)
    page = client.get("/account/data")
    assert page.status_code == 200 and 'data-testid="request-export"' in page.get_data(as_text=True)
    asked = client.post("/account/data/export", data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert asked.status_code == 302
    export = db.session.scalar(select(DataExport).where(DataExport.user_id == investor.id))
    page = client.get("/account/data").get_data(as_text=True)
    assert f'data-testid="export-{export.id}"' in page and 'data-testid="download-export"' in page
    archive = _zip(client.get(f"/account/data/{export.id}/download"))
    assert "profile.json" in archive.namelist()

    other = make_investor(email="nosy@example.com")
    nosy = client.application.test_client()
    login(other, http=nosy)
    assert nosy.get(f"/account/data/{export.id}/download").status_code == 404


def test_asking_without_a_csrf_token_changes_nothing(client, investor, login):
    login(investor)
    client.post("/account/data/export", data={})
    assert db.session.scalar(select(db.func.count(DataExport.id))) == 0


def test_the_pages_speak_spanish_to_a_spanish_browser(client, investor, login):
    login(investor)
    spanish = {"Accept-Language": "es"}
    data = client.get("/account/data", headers=spanish).get_data(as_text=True)
    assert "Descargar mis datos" in data and "Preparar mis datos" in data
    close = client.get("/account/close", headers=spanish).get_data(as_text=True)
    assert "Su cuenta aún no se puede cerrar" in close and "retírelo primero" in close


def test_the_page_reads_the_same_whatever_the_number_of_exports(client, investor, login, count_queries):
    login(investor)
    client.get("/account/data")

    def add_exports(count):
        with unit_of_work():
            for _ in range(count):
                db.session.add(DataExport(user_id=investor.id, status="expired", sections_total=1))

    add_exports(1)
    with count_queries() as one:
        assert client.get("/account/data").status_code == 200
    add_exports(8)
    with count_queries() as nine:
        assert client.get("/account/data").status_code == 200
    assert len(nine) == len(one)
