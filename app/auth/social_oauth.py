"""The conversation with the identity providers, through Authlib's Flask client: Google by OpenID Connect
discovery (the ID token's signature checked against the provider's JWKS, and its issuer, audience = our client id,
expiry and nonce), GitHub by OAuth 2 (the user read from its API: /user and /user/emails).

state and nonce are single-use: Authlib keeps them for the browser's session in the shared cache (Redis in
production) and the session cookie only names them; the callback takes them out of the cache with one delete, so a
replayed callback (the same URL, even with the old cookie) finds nothing and is refused. Face-level: it reads the
request and the Flask session."""
from __future__ import annotations

import logging
from typing import Any

import requests
from authlib.integrations.flask_client import OAuth, OAuthError
from flask import current_app, request
from joserfc.errors import JoseError
from werkzeug.wrappers import Response

from app.auth.social import ProviderIdentity
from app.extensions import cache

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 10
_EXTENSION = "freehold_social_clients"


class SocialFailed(Exception):
    """The provider's answer did not prove an identity (refused, replayed, forged, expired, unreachable)."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code  # cancelled | state | token


class _SingleUseCache:
    """Authlib's cache for state data: `get` answers a value only to the one caller whose delete removed it, so
    two requests replaying one state at the same moment cannot both use it."""

    def get(self, key: str) -> Any:
        value = cache.get(key)
        if value is None or not cache.delete(key):
            return None
        return value

    def set(self, key: str, value: Any, expires_in: int | None = None) -> Any:
        return cache.set(key, value, timeout=expires_in)

    def delete(self, key: str) -> Any:
        return cache.delete(key)


def _settings(provider: str) -> dict[str, Any]:
    cfg = current_app.config
    if provider == "google":
        return {"client_id": cfg["GOOGLE_CLIENT_ID"], "client_secret": cfg["GOOGLE_CLIENT_SECRET"],
                "server_metadata_url": cfg["GOOGLE_METADATA_URL"],
                "client_kwargs": {"scope": "openid email profile", "default_timeout": TIMEOUT_SECONDS}}
    oauth_base, api_base = cfg["GITHUB_OAUTH_BASE"].rstrip("/"), cfg["GITHUB_API_BASE"].rstrip("/")
    return {"client_id": cfg["GITHUB_CLIENT_ID"], "client_secret": cfg["GITHUB_CLIENT_SECRET"],
            "authorize_url": f"{oauth_base}/login/oauth/authorize",
            "access_token_url": f"{oauth_base}/login/oauth/access_token",
            "api_base_url": f"{api_base}/",
            "client_kwargs": {"scope": "read:user user:email", "default_timeout": TIMEOUT_SECONDS}}


def client(provider: str) -> Any:
    """The provider's Authlib client for the current settings (kept per app: discovery and keys are fetched once)."""
    settings = _settings(provider)
    key = (provider, *(str(settings.get(name)) for name in ("client_id", "client_secret", "server_metadata_url",
                                                            "authorize_url", "api_base_url")))
    clients = current_app.extensions.setdefault(_EXTENSION, {})
    if key not in clients:
        oauth = OAuth(cache=_SingleUseCache())
        oauth.app = current_app._get_current_object()  # type: ignore[attr-defined]  # not init_app: one per setting
        clients[key] = oauth.register(provider, **settings)
    return clients[key]


def begin(provider: str, redirect_uri: str) -> Response:
    """Send the browser to the provider (a fresh state, and for OpenID Connect a fresh nonce)."""
    try:
        return client(provider).authorize_redirect(redirect_uri)
    except (OAuthError, requests.RequestException, ValueError, KeyError) as exc:
        log.warning("social sign-in: %s unreachable: %s", provider, exc)
        raise SocialFailed("unreachable", str(exc)) from exc


def finish(provider: str) -> ProviderIdentity:
    """The callback: trade the code for tokens (state checked and spent), then read who signed in."""
    if request.args.get("error"):
        raise SocialFailed("cancelled", request.args.get("error", "")[:100])
    if not request.args.get("state") or not request.args.get("code"):
        raise SocialFailed("state", "no state or no code")
    remote = client(provider)
    try:
        token = remote.authorize_access_token()
        return _google(token) if provider == "google" else _github(remote, token)
    except (OAuthError, JoseError) as exc:
        code = "state" if "state" in str(exc).lower() else "token"
        log.warning("social sign-in: %s answer refused: %s", provider, exc)
        raise SocialFailed(code, str(exc)) from exc
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        log.warning("social sign-in: %s answer unusable: %s", provider, exc)
        raise SocialFailed("token", str(exc)) from exc


def _google(token: dict[str, Any]) -> ProviderIdentity:
    """Only a validated ID token counts (Authlib checked it since the state held a nonce): an answer without one
    proves nothing."""
    claims = token.get("userinfo")
    if not claims or not claims.get("sub"):
        raise SocialFailed("token", "no ID token")
    email = claims.get("email") if claims.get("email_verified") else None
    return ProviderIdentity("google", str(claims["sub"]), email)


def _github(remote: Any, token: dict[str, Any]) -> ProviderIdentity:
    user = remote.get("user", token=token)
    user.raise_for_status()
    data = user.json()
    if not isinstance(data, dict) or not data.get("id"):
        raise SocialFailed("token", "no user id")
    email = None
    emails = remote.get("user/emails", token=token)
    if emails.ok and isinstance(emails.json(), list):
        email = next((item.get("email") for item in emails.json()
                      if isinstance(item, dict) and item.get("primary") and item.get("verified")), None)
    return ProviderIdentity("github", str(data["id"]), email)
