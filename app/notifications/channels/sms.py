"""SMS through Twilio's Messages API (form POST with HTTP basic auth), spoken over `requests`."""
from __future__ import annotations

import base64
import re

import requests
from flask import current_app

from app.notifications.channels.base import Channel, ChannelError, OutgoingMessage

MAX_BODY_CHARS = 1600  # Twilio's limit for one message (it splits it into segments itself)
E164 = re.compile(r"\+[1-9][0-9]{7,14}")  # "+" then 8 to 15 digits, no leading zero

# requests errors that mean the configuration is wrong, not that the network hiccuped
_CONFIG_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
)


def is_e164(number: str) -> bool:
    return bool(E164.fullmatch(number or ""))


class TwilioSms(Channel):
    name = "sms"

    def _config(self) -> dict:
        return current_app.config

    def enabled(self) -> bool:
        config = self._config()
        return (
            (config.get("SMS_PROVIDER") or "").strip().lower() == "twilio"
            and bool(config.get("TWILIO_ACCOUNT_SID"))
            and bool(config.get("TWILIO_AUTH_TOKEN"))
            and bool(config.get("TWILIO_FROM"))
        )

    def send(self, message: OutgoingMessage) -> str | None:
        if not self.enabled():
            raise ChannelError("SMS is not configured (SMS_PROVIDER, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, "
                               "TWILIO_FROM)", retryable=False)
        if not is_e164(message.to):
            raise ChannelError("SMS destination is not an E.164 phone number (+ and 8 to 15 digits)",
                               retryable=False)
        body = (message.body or "")[:MAX_BODY_CHARS]
        if not body.strip():
            raise ChannelError("SMS body is empty", retryable=False)

        config = self._config()
        sid = config["TWILIO_ACCOUNT_SID"]
        token = config["TWILIO_AUTH_TOKEN"]
        base = (config.get("TWILIO_API_BASE") or "https://api.twilio.com").rstrip("/")
        url = f"{base}/2010-04-01/Accounts/{sid}/Messages.json"
        form = {"To": message.to, "From": config["TWILIO_FROM"], "Body": body}

        try:
            response = requests.post(url, data=form, auth=(sid, token),
                                     timeout=float(config.get("SMS_TIMEOUT_SECONDS") or 10))
        except requests.Timeout:
            raise ChannelError("Twilio did not answer in time", retryable=True) from None
        except _CONFIG_ERRORS as exc:
            raise ChannelError(_redact(f"Twilio API address is unusable: {exc}", token),
                               retryable=False) from None
        except requests.RequestException as exc:
            raise ChannelError(_redact(f"Twilio could not be reached: {type(exc).__name__}", token),
                               retryable=True) from None

        if 200 <= response.status_code < 300:
            try:
                payload = response.json()
            except ValueError:
                payload = None
            # accepted: never raise here, a retry would send the text twice
            return payload.get("sid") if isinstance(payload, dict) else None
        raise _failure(response, token, base64.b64encode(f"{sid}:{token}".encode()).decode())


def _failure(response: requests.Response, *secrets: str) -> ChannelError:
    status = response.status_code
    detail = _twilio_error(response)
    if status == 429 or status == 408 or status >= 500:
        text = f"Twilio is unavailable (HTTP {status}){detail}"
        retry_after = response.headers.get("Retry-After")
        if retry_after:
            text += f"; retry after {retry_after[:20]}"
        return ChannelError(_redact(text, *secrets), retryable=True)
    if status in (401, 403):
        text = f"Twilio rejected the credentials (HTTP {status}){detail}: check TWILIO_ACCOUNT_SID and " \
               "TWILIO_AUTH_TOKEN"
        return ChannelError(_redact(text, *secrets), retryable=False)
    return ChannelError(_redact(f"Twilio refused the message (HTTP {status}){detail}", *secrets), retryable=False)


def _twilio_error(response: requests.Response) -> str:
    """Twilio's JSON error ({"code": 21211, "message": "...", "more_info": ..., "status": 400}) as text."""
    try:
        payload = response.json()
    except ValueError:
        return ""
    if not isinstance(payload, dict):
        return ""
    code, text = payload.get("code"), payload.get("message")
    parts = []
    if code is not None:
        parts.append(f"Twilio error {str(code)[:20]}")
    if text:
        parts.append(str(text)[:300])
    return "".join(": " + part for part in parts)


def _redact(text: str, *secrets: str | None) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text
