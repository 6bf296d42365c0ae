"""Submitting KYC: validation per field, hostile files refused with nothing stored, encryption at rest, object-level
access to documents and submissions, on local disk and on S3 alike."""
import io
import urllib.request

import pytest
from sqlalchemy import func, select, text

from app.core.audit import AuditRecord
from app.extensions import db
from app.kyc.models import KycDocument, KycSubmission
from tests.core import files
from tests.support import csrf_from, identity_parts


def submit_api(client, headers, form, **parts):
    data = {"form_id": str(form.id), **parts}
    return client.post("/api/v1/kyc/submissions", data=data, headers=headers, content_type="multipart/form-data")


@pytest.mark.parametrize("field,bad,words", [
    ("front_image", files.html_as_jpeg(), "not a JPEG, PNG, WebP or PDF"),
    ("front_image", files.pdf_with_open_action_js(), "scripts"),
    ("front_image", files.pdf_with_obfuscated_js(), "scripts"),
    ("front_image", files.truncated_jpeg(), "damaged"),
    ("front_image", files.png_bomb(), "too large"),
    ("front_image", files.blob(11 * 1024 * 1024), "10 MB"),
    ("selfie", b"", "Attach"),
])
def test_hostile_or_broken_files_are_refused_and_nothing_is_stored(client, make_user, token_for, forms,
                                                                   storage_backend, field, bad, words):
    _backend, stored = storage_backend
    identity, _ = forms
    user = make_user()
    parts = identity_parts()
    parts[field] = (io.BytesIO(bad), "passport.jpg")
    response = submit_api(client, token_for(user), identity, **parts)
    assert response.status_code == 422, response.get_data(as_text=True)
    body = response.get_json()
    assert field in body["errors"] and words in " ".join(body["errors"][field])
    assert stored() == []
    assert db.session.scalar(select(func.count(KycSubmission.id))) == 0


@pytest.mark.parametrize("name", ["../../etc/passwd", "..\\..\\boot.ini", "/etc/shadow", "a\x00.jpg"])
def test_a_path_as_file_name_is_refused_and_nothing_is_stored(client, make_user, token_for, forms,
                                                              storage_backend, name):
    _backend, stored = storage_backend
    identity, _ = forms
    parts = identity_parts()
    parts["front_image"] = (io.BytesIO(files.jpeg()), name)
    response = submit_api(client, token_for(make_user()), identity, **parts)
    assert response.status_code == 422
    assert "file name is not acceptable" in response.get_json()["errors"]["front_image"][0]
    assert stored() == []
    assert db.session.scalar(select(func.count(KycSubmission.id))) == 0


def test_stored_names_are_generated_by_the_server(client, make_user, token_for, forms, storage_backend):
    _backend, stored = storage_backend
    identity, _ = forms
    parts = identity_parts()
    parts["front_image"] = (io.BytesIO(files.jpeg()), "my passport <script>.png")
    assert submit_api(client, token_for(make_user()), identity, **parts).status_code == 201
    keys = [str(k) for k in stored()]
    assert len(keys) == 2 and not any("passport" in k or "script" in k for k in keys)
    assert all(k.endswith((".jpg", ".png")) for k in keys)  # the type from the content, not the name


def test_get_kyc_shows_only_the_callers_submissions(client, make_user, token_for, forms):
    identity, _ = forms
    alice, bob = make_user(), make_user()
    submit_api(client, token_for(alice), identity, **identity_parts())
    assert client.get("/api/v1/kyc", headers=token_for(bob)).get_json()["data"]["submissions"] == []
    assert len(client.get("/api/v1/kyc", headers=token_for(alice)).get_json()["data"]["submissions"]) == 1


def test_submission_stores_clean_documents_and_serves_them_to_the_owner_only(client, make_user, token_for, forms,
                                                                             storage_backend, login):
    backend, stored = storage_backend
    identity, _ = forms
    alice, bob = make_user(), make_user()
    response = submit_api(client, token_for(alice), identity, **identity_parts())
    assert response.status_code == 201
    submission = response.get_json()["data"]
    assert submission["status"] == "pending"
    assert submission["values"]["document_number"] == "••••6543"  # masked in the API
    assert len(stored()) == 2
    doc_id = submission["documents"][0]["id"]
    mine = client.get(f"/api/v1/kyc/documents/{doc_id}", headers=token_for(alice))
    if backend == "s3":
        assert mine.status_code == 302
        with urllib.request.urlopen(mine.headers["Location"]) as fetched:
            content = fetched.read()
    else:
        assert mine.status_code == 200 and mine.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in mine.headers["Content-Security-Policy"]
        content = mine.data
    assert content[:3] == b"\xff\xd8\xff" and b"GPS" not in content  # re-encoded, EXIF gone
    assert client.get(f"/api/v1/kyc/documents/{doc_id}", headers=token_for(bob)).status_code == 404
    login(bob)
    assert client.get(f"/kyc/documents/{doc_id}").status_code == 404
    assert client.get("/kyc/documents/999999").status_code == 404


def test_sensitive_values_are_encrypted_at_rest(client, make_user, token_for, forms):
    identity, _ = forms
    submit_api(client, token_for(make_user()), identity, **identity_parts(document_number="SECRET-77231"))
    raw = db.session.execute(text("SELECT value, secret_value FROM kyc_values")).all()
    assert raw and not any("SECRET-77231" in str(v) for row in raw for v in row)
    assert any(row[1] for row in raw)  # stored, encrypted
    from app.kyc.models import KycValue

    values = {v.field.name: v.text for v in db.session.scalars(select(KycValue))}
    assert values["document_number"] == "SECRET-77231"


@pytest.mark.parametrize("overrides,field", [
    ({"document_type": "library_card"}, "document_type"),
    ({"date_of_birth": "2020-01-01"}, "date_of_birth"),
    ({"date_of_birth": "31/12/1980"}, "date_of_birth"),
    ({"document_number": ""}, "document_number"),
    ({"document_number": "x" * 501}, "document_number"),
    ({"issuing_country": "ZZ"}, "issuing_country"),
    ({"shoe_size": "44"}, "shoe_size"),
])
def test_fields_are_validated_on_the_server(client, make_user, token_for, forms, overrides, field):
    identity, _ = forms
    response = submit_api(client, token_for(make_user()), identity, **identity_parts(**overrides))
    assert response.status_code == 422 and field in response.get_json()["errors"]
    assert db.session.scalar(select(func.count(KycSubmission.id))) == 0


def test_one_pending_submission_per_form(client, make_user, token_for, forms):
    identity, _ = forms
    headers = token_for(make_user())
    assert submit_api(client, headers, identity, **identity_parts()).status_code == 201
    assert submit_api(client, headers, identity, **identity_parts()).status_code == 409


def test_get_kyc_lists_forms_fields_and_status(client, make_user, token_for, forms):
    user = make_user()
    body = client.get("/api/v1/kyc", headers=token_for(user)).get_json()["data"]
    assert body["status"] == "not_started"
    names = {f["name"]: f for f in body["forms"]}
    assert [fld["name"] for fld in names["Identity"]["fields"]][:2] == ["document_type", "document_number"]
    assert {fld["type"] for fld in names["Identity"]["fields"]} >= {"select", "text", "date", "file"}
    assert body["missing_for_investing"] == ["Identity"]
    assert set(body["missing_for_withdrawing"]) == {"Identity", "Proof of address"}


def test_portal_submission_with_field_errors_and_success(client, make_user, login, forms):
    identity, _ = forms
    user = make_user()
    login(user)
    page = client.get(f"/kyc/forms/{identity.id}")
    assert page.status_code == 200 and "Document number" in page.get_data(as_text=True)
    token = csrf_from(page.get_data(as_text=True))
    bad = client.post(f"/kyc/forms/{identity.id}", data={"csrf_token": token, **identity_parts(
        front=files.html_as_jpeg())}, content_type="multipart/form-data")
    assert bad.status_code == 422 and "not a JPEG" in bad.get_data(as_text=True)
    good = client.post(f"/kyc/forms/{identity.id}", data={"csrf_token": token, **identity_parts()},
                       content_type="multipart/form-data")
    assert good.status_code == 302
    overview = client.get("/kyc").get_data(as_text=True)
    assert "under review" in overview
    assert db.session.scalar(select(AuditRecord).where(AuditRecord.action == "kyc.submitted")) is not None
    assert db.session.scalar(select(func.count(KycDocument.id))) == 2
