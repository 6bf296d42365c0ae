"""Fixtures of the KYC tests: the two demo forms, and the storage the documents go to (every test that asks for
`storage_backend` runs twice: on the local disk and on S3 through moto's server)."""
from __future__ import annotations

import os

import boto3
import pytest
from botocore.config import Config

from app.core.db import unit_of_work
from app.kyc.demo import ensure_forms


@pytest.fixture
def forms(app):
    with unit_of_work():
        return ensure_forms()


@pytest.fixture(params=["local", "s3"])
def storage_backend(request, app, monkeypatch, tmp_path):
    """The same KYC tests run on the local disk and on S3 (moto's HTTP server)."""
    if request.param == "local":
        monkeypatch.setitem(app.config, "STORAGE_BACKEND", "local")
        monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(tmp_path / "uploads"))
        yield "local", lambda: sorted(p for p in (tmp_path / "uploads").rglob("*") if p.is_file())
        return
    endpoint = request.getfixturevalue("moto_server")
    request.getfixturevalue("aws_env")
    bucket = f"kyc-{os.urandom(4).hex()}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    client.create_bucket(Bucket=bucket)
    monkeypatch.setitem(app.config, "STORAGE_BACKEND", "s3")
    monkeypatch.setitem(app.config, "S3_BUCKET", bucket)
    monkeypatch.setitem(app.config, "S3_ENDPOINT_URL", endpoint)
    monkeypatch.setitem(app.config, "S3_REGION", "us-east-1")
    yield "s3", lambda: sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))
