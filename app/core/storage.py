"""File storage for uploaded documents and images: a local folder (development, tests) or an S3-compatible bucket.

Keys are server-generated (`new_key`) and validated by every backend: only `[A-Za-z0-9/_.-]`, relative, no `..`,
no empty or hidden segments. Files are never under static/; the app serves them through an authorised view, or
hands out a short-lived presigned URL when the backend supports it.
"""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
import unicodedata
import uuid
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from flask import Flask, current_app

BACKENDS = ("local", "s3")
MAX_KEY_LENGTH = 512
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # the longest a SigV4 presigned URL may live
_KEY_CHARS = re.compile(r"[A-Za-z0-9/_.-]+")
_EXTENSION = re.compile(r"[a-z0-9]{1,10}")
_EXTENSION_KEY = "freehold.storage"


class StorageNotFound(KeyError):
    """No object is stored under this key."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"no stored file under {self.key!r}"


def validate_key(key: str) -> str:
    """Return the key when it is safe to use as a relative path and an object name; raise ValueError otherwise."""
    if not isinstance(key, str) or not key:
        raise ValueError("a storage key must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"a storage key is at most {MAX_KEY_LENGTH} characters")
    if "\x00" in key or "\\" in key:
        raise ValueError("a storage key may not contain NUL or backslashes")
    if key.startswith("/"):
        raise ValueError("a storage key may not be absolute")
    if ".." in key:
        raise ValueError("a storage key may not contain '..'")
    if not _KEY_CHARS.fullmatch(key):
        raise ValueError("a storage key may contain only letters, digits and / _ . -")
    for segment in key.split("/"):
        if not segment:
            raise ValueError("a storage key may not contain empty segments")
        if segment.startswith("."):
            raise ValueError("a storage key segment may not start with '.'")
    return key


def new_key(prefix: str, extension: str) -> str:
    """A fresh server-generated key: `{prefix}/{YYYY}/{MM}/{uuid4 hex}.{ext}` (UTC month)."""
    validate_key(prefix)
    ext = extension.lower().lstrip(".")
    if not _EXTENSION.fullmatch(ext):
        raise ValueError("an extension is 1 to 10 lowercase letters or digits")
    now = datetime.now(UTC)
    return validate_key(f"{prefix}/{now:%Y}/{now:%m}/{uuid.uuid4().hex}.{ext}")


def content_disposition(filename: str | None, *, inline: bool = True) -> str:
    """A Content-Disposition value (RFC 6266): an ASCII `filename` fallback plus `filename*` for other names.
    Paths, control characters and quotes are dropped from the name."""
    kind = "inline" if inline else "attachment"
    if not filename:
        return kind
    name = unicodedata.normalize("NFC", str(filename)).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C" and ch not in '"')
    name = name.strip().strip(".").strip()[:150] or "download"
    fallback = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    fallback = re.sub(r"[^A-Za-z0-9 ._()\-,+=@&!'\[\]]", "_", fallback).strip() or "download"
    value = f'{kind}; filename="{fallback}"'
    if fallback != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value


def _check_expiry(expires_in: int) -> int:
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or not 0 < expires_in <= MAX_PRESIGN_SECONDS:
        raise ValueError(f"expires_in must be whole seconds between 1 and {MAX_PRESIGN_SECONDS}")
    return expires_in


class Storage(ABC):
    @abstractmethod
    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store data under key, replacing what was there."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The stored bytes; StorageNotFound when nothing is stored under key."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; no error when it is already gone."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under key."""

    @abstractmethod
    def presigned_url(self, key: str, *, expires_in: int = 60, filename: str | None = None,
                      content_type: str | None = None, inline: bool = True) -> str | None:
        """A short-lived URL that serves the object directly, or None when the app must serve it itself."""


class LocalStorage(Storage):
    """Files under a root folder: folders 0700, files 0600, written atomically (temporary file + os.replace)."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(os.path.realpath(os.fspath(root)))

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def path_for(self, key: str) -> Path:
        """The file that holds key; ValueError for a bad key or one that would resolve outside the root."""
        validate_key(key)
        path = Path(os.path.realpath(self.root / key))
        if path == self.root or not path.is_relative_to(self.root):
            raise ValueError("a storage key must stay inside the storage root")
        return path

    def _ensure_folder(self, folder: Path) -> None:
        if not self.root.is_dir():
            self.root.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.mkdir(self.root, 0o700)
                os.chmod(self.root, 0o700)
            except FileExistsError:
                pass
        current = self.root
        for part in folder.relative_to(self.root).parts:
            current = current / part
            try:
                os.mkdir(current, 0o700)
                os.chmod(current, 0o700)
            except FileExistsError:
                if not current.is_dir() or current.is_symlink():
                    raise ValueError(f"{current} is in the way of a storage folder") from None

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self.path_for(key)
        self._ensure_folder(path.parent)
        # the folders may not have existed when path_for resolved the key: check again now that they do
        if self.path_for(key) != path:
            raise ValueError("a storage key must stay inside the storage root")
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # created 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(bytes(data))
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def get(self, key: str) -> bytes:
        path = self.path_for(key)
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise StorageNotFound(key) from None

    def delete(self, key: str) -> None:
        path = self.path_for(key)
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            os.unlink(path)

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def presigned_url(self, key: str, *, expires_in: int = 60, filename: str | None = None,
                      content_type: str | None = None, inline: bool = True) -> str | None:
        validate_key(key)
        _check_expiry(expires_in)
        return None


class S3Storage(Storage):
    """An S3-compatible bucket through boto3 (SigV4, path-style addressing); objects encrypted at rest (SSE-S3).
    Credentials come from boto3's usual chain (environment, instance role, ...)."""

    def __init__(self, bucket: str, endpoint_url: str | None = None, region: str | None = None):
        if not bucket:
            raise RuntimeError("S3_BUCKET is not set")
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.region = region
        self.client = boto3.client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or None,
            config=BotoConfig(signature_version="s3v4", s3={"addressing_style": "path"}))

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r}, endpoint_url={self.endpoint_url!r}, region={self.region!r})"

    @staticmethod
    def _missing(exc: ClientError) -> bool:
        error = getattr(exc, "response", {}).get("Error", {})
        status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        return error.get("Code") in {"NoSuchKey", "404", "NotFound"} or status == 404

    def put(self, key: str, data: bytes, content_type: str) -> None:
        validate_key(key)
        self.client.put_object(Bucket=self.bucket, Key=key, Body=bytes(data), ContentType=content_type,
                               ServerSideEncryption="AES256")

    def get(self, key: str) -> bytes:
        validate_key(key)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if self._missing(exc):
                raise StorageNotFound(key) from None
            raise
        with response["Body"] as body:
            return cast(bytes, body.read())

    def delete(self, key: str) -> None:
        validate_key(key)
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def exists(self, key: str) -> bool:
        validate_key(key)
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if self._missing(exc):
                return False
            raise
        return True

    def presigned_url(self, key: str, *, expires_in: int = 60, filename: str | None = None,
                      content_type: str | None = None, inline: bool = True) -> str | None:
        validate_key(key)
        params = {"Bucket": self.bucket, "Key": key,
                  "ResponseContentDisposition": content_disposition(filename, inline=inline)}
        if content_type:
            params["ResponseContentType"] = content_type
        return cast(str, self.client.generate_presigned_url("get_object", Params=params,
                                                            ExpiresIn=_check_expiry(expires_in)))


def _settings(app: Flask) -> tuple[Any, ...]:  # the backend, then the config values it is built from
    config = app.config
    backend = str(config.get("STORAGE_BACKEND") or "local").strip().lower()
    if backend == "local":
        return backend, config.get("UPLOAD_FOLDER") or os.path.join(app.instance_path, "uploads")
    if backend == "s3":
        return backend, config.get("S3_BUCKET"), config.get("S3_ENDPOINT_URL"), config.get("S3_REGION")
    raise RuntimeError(f"STORAGE_BACKEND must be one of {', '.join(BACKENDS)}, not {config.get('STORAGE_BACKEND')!r}")


def _build(app: Flask, settings: tuple[Any, ...]) -> Storage:
    if settings[0] == "s3":
        _, bucket, endpoint_url, region = settings
        if not bucket:
            raise RuntimeError("STORAGE_BACKEND is s3 but S3_BUCKET is not set")
        return S3Storage(bucket, endpoint_url, region)
    root = Path(os.path.realpath(os.fspath(settings[1])))
    if app.static_folder:
        static = Path(os.path.realpath(app.static_folder))
        if root == static or root.is_relative_to(static):
            raise RuntimeError(f"UPLOAD_FOLDER may not be inside the public static folder ({static})")
    return LocalStorage(root)


def get_storage() -> Storage:
    """The storage configured for the current app, built once per app (rebuilt if its settings change)."""
    # current_app is a LocalProxy, which Flask's annotations present as the app itself
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    settings = _settings(app)
    cached: tuple[tuple[Any, ...], Storage] | None = app.extensions.get(_EXTENSION_KEY)
    if cached is not None and cached[0] == settings:
        return cached[1]
    storage = _build(app, settings)
    app.extensions[_EXTENSION_KEY] = (settings, storage)
    return storage
