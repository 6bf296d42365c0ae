import os
import socket

import boto3
import pytest
from botocore.config import Config

from app.extensions import db
from app.kyc.demo import ensure_forms
from tests.core import files


@pytest.fixture
def forms(app):
    identity, address = ensure_forms()
    db.session.commit()
    return identity, address


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_server():
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(params=["local", "s3"])
def storage_backend(request, app, monkeypatch, tmp_path):
    """The same KYC tests run on the local disk and on S3 (moto's HTTP server)."""
    if request.param == "local":
        monkeypatch.setitem(app.config, "STORAGE_BACKEND", "local")
        monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(tmp_path / "uploads"))
        yield "local", lambda: sorted(p for p in (tmp_path / "uploads").rglob("*") if p.is_file())
        return
    endpoint = request.getfixturevalue("moto_server")
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    bucket = f"kyc-{os.urandom(4).hex()}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    client.create_bucket(Bucket=bucket)
    monkeypatch.setitem(app.config, "STORAGE_BACKEND", "s3")
    monkeypatch.setitem(app.config, "S3_BUCKET", bucket)
    monkeypatch.setitem(app.config, "S3_ENDPOINT_URL", endpoint)
    monkeypatch.setitem(app.config, "S3_REGION", "us-east-1")
    yield "s3", lambda: sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


IDENTITY_VALUES = {"document_type": "passport", "document_number": "P9876543", "issuing_country": "GB",
                   "date_of_birth": "1980-02-29"}


def identity_parts(front=None, selfie=None, **overrides):
    """multipart data for POST /api/v1/kyc/submissions or the portal form."""
    import io

    data = dict(IDENTITY_VALUES, **overrides)
    data["front_image"] = (io.BytesIO(front if front is not None else files.jpeg_with_gps(60, 40)), "front.jpg")
    data["selfie"] = (io.BytesIO(selfie if selfie is not None else files.png(40, 40)), "selfie.png")
    return {k: v for k, v in data.items() if v is not None}


