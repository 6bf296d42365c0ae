"""One suite for both storage backends: a local folder, and S3 through boto3 against moto's server over real HTTP."""
from __future__ import annotations

import os
import re
import stat
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from app.core.storage import (
    LocalStorage,
    S3Storage,
    Storage,
    StorageNotFound,
    content_disposition,
    get_storage,
    new_key,
)

BAD_KEYS = ["../../etc/passwd", "/abs", "a\\b", "a/../b", "..", "a/..", "a\x00b", "a b", "a//b", "a/", "",
            "é.pdf", "a/.hidden", "kyc/?x=1", "kyc/%2e%2e/x", "a;b", "a" * 513]
DOC = b"%PDF-1.7 not really, but bytes are bytes \x00\xff" * 50


def _no_proxy_opener():
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def s3_bucket(moto_server, aws_env):
    import boto3

    name = f"freehold-test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "uploads")
    bucket = request.getfixturevalue("s3_bucket")
    return S3Storage(bucket, request.getfixturevalue("moto_server"), "us-east-1")


# the shared suite ------------------------------------------------------------------------------------------------
def test_put_get_exists_delete(storage):
    key = new_key("kyc/documents", "pdf")
    assert not storage.exists(key)
    storage.put(key, DOC, "application/pdf")
    assert storage.exists(key)
    assert storage.get(key) == DOC
    storage.put(key, b"replaced", "application/pdf")
    assert storage.get(key) == b"replaced"
    storage.delete(key)
    assert not storage.exists(key)
    with pytest.raises(StorageNotFound):
        storage.get(key)


def test_missing_key(storage):
    with pytest.raises(StorageNotFound) as caught:
        storage.get("kyc/2026/01/missing.pdf")
    assert caught.value.key == "kyc/2026/01/missing.pdf"
    assert not storage.exists("kyc/2026/01/missing.pdf")
    storage.delete("kyc/2026/01/missing.pdf")  # no error


def test_empty_and_binary_content(storage):
    storage.put("kyc/empty.bin", b"", "application/octet-stream")
    assert storage.get("kyc/empty.bin") == b""
    everything = bytes(range(256)) * 100
    storage.put("kyc/all.bin", everything, "application/octet-stream")
    assert storage.get("kyc/all.bin") == everything


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_refused_everywhere(storage, key):
    for call in (lambda: storage.put(key, b"x", "text/plain"), lambda: storage.get(key),
                 lambda: storage.exists(key), lambda: storage.delete(key), lambda: storage.presigned_url(key)):
        with pytest.raises(ValueError):
            call()


def test_keys_are_not_shared_between_prefixes(storage):
    storage.put("a/b/c.txt", b"one", "text/plain")
    storage.put("a/b-c.txt", b"two", "text/plain")
    assert storage.get("a/b/c.txt") == b"one"
    assert storage.get("a/b-c.txt") == b"two"
    assert not storage.exists("a/b")


def test_presigned_url(storage):
    key = new_key("kyc/documents", "pdf")
    storage.put(key, DOC, "application/pdf")
    url = storage.presigned_url(key, expires_in=60, filename="passport scan.pdf", content_type="application/pdf",
                                inline=False)
    if isinstance(storage, LocalStorage):
        assert url is None  # the app serves the bytes through its own authorised view
        return
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["60"]
    assert urlsplit(url).path == f"/{storage.bucket}/{key}"  # path-style addressing
    with _no_proxy_opener().open(url, timeout=10) as response:
        assert response.read() == DOC
        assert response.headers["Content-Type"] == "application/pdf"
        assert response.headers["Content-Disposition"] == 'attachment; filename="passport scan.pdf"'


def test_presigned_url_inline_with_unicode_name(storage):
    storage.put("kyc/photo.jpg", b"\xff\xd8\xff jpeg-ish", "image/jpeg")
    url = storage.presigned_url("kyc/photo.jpg", filename='Zoë\'s "ID".jpg', content_type="image/jpeg")
    if isinstance(storage, LocalStorage):
        assert url is None
        return
    with _no_proxy_opener().open(url, timeout=10) as response:
        assert response.read() == b"\xff\xd8\xff jpeg-ish"
        assert response.headers["Content-Type"] == "image/jpeg"
        assert response.headers["Content-Disposition"] == (
            "inline; filename=\"Zoe's ID.jpg\"; filename*=UTF-8''Zo%C3%AB%27s%20ID.jpg")


@pytest.mark.parametrize("expires_in", [0, -1, 7 * 24 * 3600 + 1, 1.5, True])
def test_presigned_url_expiry_bounds(storage, expires_in):
    storage.put("kyc/x.pdf", b"x", "application/pdf")
    with pytest.raises(ValueError):
        storage.presigned_url("kyc/x.pdf", expires_in=expires_in)


# local only ------------------------------------------------------------------------------------------------------
def test_local_files_0600_and_folders_0700(tmp_path):
    storage = LocalStorage(tmp_path / "uploads")
    storage.put("kyc/2026/05/doc.pdf", b"x", "application/pdf")
    root = tmp_path / "uploads"
    assert stat.S_IMODE((root / "kyc/2026/05/doc.pdf").stat().st_mode) == 0o600
    for folder in (root, root / "kyc", root / "kyc/2026", root / "kyc/2026/05"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    # nothing else left behind (the temporary file was renamed into place)
    assert sorted(p.name for p in (root / "kyc/2026/05").iterdir()) == ["doc.pdf"]


def test_local_write_is_atomic_on_failure(tmp_path, monkeypatch):
    storage = LocalStorage(tmp_path / "uploads")
    storage.put("kyc/doc.pdf", b"old", "application/pdf")

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        storage.put("kyc/doc.pdf", b"new", "application/pdf")
    monkeypatch.undo()
    assert storage.get("kyc/doc.pdf") == b"old"
    assert [p.name for p in (tmp_path / "uploads/kyc").iterdir()] == ["doc.pdf"]


def test_local_cannot_reach_outside_root(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    root = tmp_path / "uploads"
    storage = LocalStorage(root)
    storage.put("kyc/a.txt", b"a", "text/plain")
    # a symbolic link planted inside the root does not lead out of it
    (root / "link").symlink_to(outside)
    with pytest.raises(ValueError):
        storage.get("link/secret.txt")
    with pytest.raises(ValueError):
        storage.put("link/new.txt", b"x", "text/plain")
    assert not (outside / "new.txt").exists()
    for key in ("../outside/secret.txt", "/etc/passwd", "..\\outside\\secret.txt"):
        with pytest.raises(ValueError):
            storage.get(key)
    # every stored file is under the root
    for dirpath, _, names in os.walk(root):
        for name in names:
            assert Path(os.path.realpath(Path(dirpath) / name)).is_relative_to(os.path.realpath(root))


def test_local_key_is_a_folder(tmp_path):
    storage = LocalStorage(tmp_path / "uploads")
    storage.put("kyc/a/b.txt", b"x", "text/plain")
    assert not storage.exists("kyc/a")
    with pytest.raises(StorageNotFound):
        storage.get("kyc/a")
    storage.delete("kyc/a/b.txt/c")  # a file in the way of a folder: nothing to delete, no error


# keys ------------------------------------------------------------------------------------------------------------
def test_new_key_shape():
    key = new_key("kyc/documents", "PDF")
    now = datetime.now(UTC)
    assert re.fullmatch(rf"kyc/documents/{now:%Y}/{now:%m}/[0-9a-f]{{32}}\.pdf", key)
    assert new_key("kyc", "jpg") != new_key("kyc", "jpg")


@pytest.mark.parametrize("prefix,extension", [("../x", "pdf"), ("/abs", "pdf"), ("kyc", "p/df"), ("kyc", ""),
                                              ("kyc", "../pdf"), ("k y c", "pdf"), ("kyc", "verylongextension")])
def test_new_key_refuses_bad_parts(prefix, extension):
    with pytest.raises(ValueError):
        new_key(prefix, extension)


def test_content_disposition():
    assert content_disposition(None, inline=True) == "inline"
    assert content_disposition(None, inline=False) == "attachment"
    assert content_disposition("scan.pdf") == 'inline; filename="scan.pdf"'
    assert content_disposition("../../etc/passwd", inline=False) == 'attachment; filename="passwd"'
    value = content_disposition('Zoë "ID"\r\nX-Evil: 1.jpg')
    assert "\r" not in value and "\n" not in value
    assert value == "inline; filename=\"Zoe IDX-Evil_ 1.jpg\"; filename*=UTF-8''Zo%C3%AB%20IDX-Evil%3A%201.jpg"


# configuration ---------------------------------------------------------------------------------------------------
def test_get_storage_local_default_under_instance(app, monkeypatch):
    monkeypatch.setitem(app.config, "STORAGE_BACKEND", "local")
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", None)
    storage = get_storage()
    assert isinstance(storage, LocalStorage)
    assert storage.root == Path(os.path.realpath(app.instance_path)) / "uploads"
    assert get_storage() is storage  # cached per app


def test_get_storage_local_folder_from_config(app, monkeypatch, tmp_path):
    monkeypatch.setitem(app.config, "STORAGE_BACKEND", "local")
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(tmp_path / "files"))
    storage = get_storage()
    assert storage.root == Path(os.path.realpath(tmp_path / "files"))
    storage.put("kyc/a.txt", b"a", "text/plain")
    assert (tmp_path / "files/kyc/a.txt").read_bytes() == b"a"


def test_get_storage_refuses_static_folder(app, monkeypatch):
    monkeypatch.setitem(app.config, "STORAGE_BACKEND", "local")
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", os.path.join(app.static_folder, "uploads"))
    with pytest.raises(RuntimeError, match="static"):
        get_storage()


def test_get_storage_s3(app, monkeypatch, moto_server, s3_bucket):
    monkeypatch.setitem(app.config, "STORAGE_BACKEND", "s3")
    monkeypatch.setitem(app.config, "S3_BUCKET", s3_bucket)
    monkeypatch.setitem(app.config, "S3_ENDPOINT_URL", moto_server)
    monkeypatch.setitem(app.config, "S3_REGION", "us-east-1")
    storage = get_storage()
    assert isinstance(storage, S3Storage) and storage.bucket == s3_bucket
    assert get_storage() is storage
    storage.put("kyc/a.txt", b"a", "text/plain")
    import boto3

    head = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1").head_object(
        Bucket=s3_bucket, Key="kyc/a.txt")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentType"] == "text/plain"


def test_get_storage_s3_needs_a_bucket(app, monkeypatch):
    monkeypatch.setitem(app.config, "STORAGE_BACKEND", "s3")
    monkeypatch.setitem(app.config, "S3_BUCKET", None)
    with pytest.raises(RuntimeError, match="S3_BUCKET"):
        get_storage()


@pytest.mark.parametrize("backend", ["ftp", "S4", "locl"])
def test_get_storage_unknown_backend(app, monkeypatch, backend):
    monkeypatch.setitem(app.config, "STORAGE_BACKEND", backend)
    with pytest.raises(RuntimeError, match="STORAGE_BACKEND must be one of local, s3"):
        get_storage()
