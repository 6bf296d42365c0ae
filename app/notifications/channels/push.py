"""Push notifications through Firebase Cloud Messaging's HTTP v1 API.

The OAuth2 access token comes from a service-account JSON file through google-auth. Credentials are cached per
process, keyed by the file's path (reloaded when the file changes), so one token serves every send until it is
about to expire; each worker process fetches its own."""
from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
import requests
from flask import current_app
from google.oauth2 import service_account

from app.notifications.channels.base import Channel, ChannelError, DeviceGone, OutgoingMessage

SCOPES = ["https://www.googleapis.com/auth/firebase.messaging"]

_RETRYABLE_STATUSES = {"UNAVAILABLE", "INTERNAL", "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "DEADLINE_EXCEEDED"}
_GONE_STATUSES = {"UNREGISTERED", "NOT_FOUND"}
_CONFIG_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
)


@dataclass
class _Cached:
    credentials: service_account.Credentials
    signature: tuple  # (mtime, size, inode) of the file it came from
    lock: threading.Lock = field(default_factory=threading.Lock)


_cache: dict[str, _Cached] = {}
_cache_lock = threading.Lock()


def clear_credentials_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _load(path: str) -> _Cached:
    path = os.path.abspath(path)
    try:
        stat = os.stat(path)
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        with _cache_lock:
            cached = _cache.get(path)
            if cached is None or cached.signature != signature:
                credentials = service_account.Credentials.from_service_account_file(path, scopes=SCOPES)
                cached = _cache[path] = _Cached(credentials, signature)
            return cached
    except OSError as exc:
        raise ChannelError(f"FCM credentials file {path} cannot be read ({exc.strerror or type(exc).__name__})",
                           retryable=False) from None
    except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
        raise ChannelError(_scrub(f"FCM credentials file {path} is not a usable service-account key "
                                  f"({type(exc).__name__}: {exc})"), retryable=False) from None


def _access_token(cached: _Cached, timeout: float) -> str:
    with cached.lock:
        credentials = cached.credentials
        if not credentials.valid:
            request = partial(google.auth.transport.requests.Request(), timeout=timeout)
            try:
                credentials.refresh(request)
            except (google.auth.exceptions.GoogleAuthError, requests.RequestException, ValueError) as exc:
                raise ChannelError(_scrub(f"could not obtain an FCM access token ({type(exc).__name__}: {exc})"),
                                   retryable=True) from None
        return credentials.token


def _forget_token(cached: _Cached, token: str) -> None:
    with cached.lock:
        if cached.credentials.token == token:
            cached.credentials.token = None  # fetch a new one next time


class FcmPush(Channel):
    name = "push"

    def _config(self) -> dict:
        return current_app.config

    def enabled(self) -> bool:
        config = self._config()
        return (config.get("PUSH_PROVIDER") or "").strip().lower() == "fcm" and bool(
            config.get("FCM_CREDENTIALS_FILE"))

    def send(self, message: OutgoingMessage) -> str | None:
        if not self.enabled():
            raise ChannelError("push is not configured (PUSH_PROVIDER, FCM_CREDENTIALS_FILE)", retryable=False)
        if not (message.to or "").strip():
            raise ChannelError("push device token is empty", retryable=False)

        config = self._config()
        timeout = float(config.get("PUSH_TIMEOUT_SECONDS") or 10)
        cached = _load(config["FCM_CREDENTIALS_FILE"])
        project = config.get("FCM_PROJECT_ID") or cached.credentials.project_id
        if not project:
            raise ChannelError("FCM project unknown: set FCM_PROJECT_ID or use a key file with project_id",
                               retryable=False)
        token = _access_token(cached, timeout)

        notification = {"body": message.body or ""}
        if message.subject:
            notification["title"] = message.subject
        payload: dict[str, dict[str, Any]] = {"message": {"token": message.to, "notification": notification}}
        if message.data:
            payload["message"]["data"] = {str(k): "" if v is None else str(v) for k, v in message.data.items()}

        base = (config.get("FCM_API_BASE") or "https://fcm.googleapis.com").rstrip("/")
        url = f"{base}/v1/projects/{project}/messages:send"
        try:
            response = requests.post(url, json=payload, headers={"Authorization": f"Bearer {token}"},
                                     timeout=timeout)
        except requests.Timeout:
            raise ChannelError("FCM did not answer in time", retryable=True) from None
        except _CONFIG_ERRORS as exc:
            raise ChannelError(_scrub(f"FCM API address is unusable: {exc}", token), retryable=False) from None
        except requests.RequestException as exc:
            raise ChannelError(f"FCM could not be reached: {type(exc).__name__}", retryable=True) from None

        if 200 <= response.status_code < 300:
            try:
                answer = response.json()
            except ValueError:
                answer = None
            # accepted: never raise here, a retry would deliver the notification twice
            return answer.get("name") if isinstance(answer, dict) else None
        if response.status_code == 401:
            _forget_token(cached, token)
        raise _failure(response, token)


def _failure(response: requests.Response, token: str) -> ChannelError:
    status = response.status_code
    error_status, fcm_code, text = _fcm_error(response)
    codes = {error_status, fcm_code}
    label = f"HTTP {status}" + "".join(f" {c}" for c in dict.fromkeys(filter(None, (error_status, fcm_code))))
    detail = f": {text}" if text else ""

    def error(cls, what: str, hint: str = "", **kwargs) -> ChannelError:
        return cls(_scrub(f"{what} ({label}){detail}{hint}", token), **kwargs)

    if status == 429 or status >= 500 or codes & _RETRYABLE_STATUSES:
        retry_after = response.headers.get("Retry-After")
        return error(ChannelError, "FCM is unavailable", f"; retry after {retry_after[:20]}" if retry_after else "",
                     retryable=True)
    if codes & _GONE_STATUSES:
        return error(DeviceGone, "FCM says the device token is no longer registered")
    if status in (401, 403):
        return error(ChannelError, "FCM rejected our credentials",
                     "; a configuration problem: check FCM_CREDENTIALS_FILE, FCM_PROJECT_ID and that the "
                     "service account may send messages", retryable=False)
    if status == 404:
        return error(ChannelError, "FCM endpoint not found", "; check FCM_API_BASE and FCM_PROJECT_ID",
                     retryable=False)
    return error(ChannelError, "FCM refused the message", retryable=False)


def _fcm_error(response: requests.Response) -> tuple[str | None, str | None, str]:
    """(google.rpc status, FCM errorCode, message) from {"error": {"status", "message", "details": [...]}}."""
    try:
        payload = response.json()
    except ValueError:
        return None, None, ""
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return None, None, ""
    fcm_code = None
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("errorCode"):
            fcm_code = str(detail["errorCode"])[:40]
            break
    status = str(error["status"])[:40] if error.get("status") else None
    return status, fcm_code, str(error.get("message") or "")[:300]


_PEM = re.compile(r"-----BEGIN [A-Z ]+-----.*?(-----END [A-Z ]+-----|$)", re.DOTALL)


def _scrub(text: str, *secrets: str | None) -> str:
    """Error texts carry no key material and no access token."""
    text = _PEM.sub("[redacted key]", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text
