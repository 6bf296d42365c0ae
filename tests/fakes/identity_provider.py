"""A fake identity provider served on 127.0.0.1 (werkzeug, ephemeral port, daemon thread): Google-like OpenID
Connect and GitHub-like OAuth 2, enough for Authlib's client to do the real thing against it.

    GET  /.well-known/openid-configuration   discovery (issuer = this server's URL)
    GET  /o/oauth2/auth                       authorize: redirects back at once with code + state (as the person
                                              set by approve_as() would after consenting), or error=access_denied
    POST /token                               code -> access_token + a real RS256-signed ID token (client auth:
                                              HTTP basic or form; the code is single-use and bound to redirect_uri)
    GET  /userinfo                            the claims, for a bearer token it issued
    GET  /jwks                                the public key(s)
    GET  /login/oauth/authorize               GitHub's authorize (redirects back at once, as above)
    POST /login/oauth/access_token            GitHub's token endpoint (JSON)
    GET  /user, /user/emails                  GitHub's API, for a bearer token it issued

approve_as(subject, email) sets who "consents" next; deny() makes the next authorize answer access_denied.
forge = "other_key" | "wrong_audience" | "expired" | "wrong_issuer" | "wrong_nonce" | "no_id_token" makes the
next ID tokens dishonest in that way. Every request is recorded."""
from __future__ import annotations

import json
import secrets
import threading
import time
from base64 import b64decode
from dataclasses import dataclass, field
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

GOOGLE_CLIENT_ID = "fake-google-client-id.apps.example"
GOOGLE_CLIENT_SECRET = "fake-google-secret-7Hq2"
GITHUB_CLIENT_ID = "fake-github-client-id-Iv1"
GITHUB_CLIENT_SECRET = "fake-github-secret-Zr8"
FORGERIES = ("other_key", "wrong_audience", "expired", "wrong_issuer", "wrong_nonce", "no_id_token")


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        return None


@dataclass
class Person:
    subject: str
    email: str
    login: str = "octo"


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None
    person: Person
    kind: str  # google | github


@dataclass
class FakeIdentityProvider:
    google_client_id: str = GOOGLE_CLIENT_ID
    google_client_secret: str = GOOGLE_CLIENT_SECRET
    github_client_id: str = GITHUB_CLIENT_ID
    github_client_secret: str = GITHUB_CLIENT_SECRET
    forge: str | None = None
    requests: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "fake-key-1", "use": "sig", "alg": "RS256"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "fake-key-1", "use": "sig", "alg": "RS256"})
        self.person = Person("google-sub-1001", "investor@gmail.example")
        self.denied = False
        self._grants: dict[str, _Grant] = {}
        self._tokens: dict[str, Person] = {}
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    # lifecycle --------------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def start(self) -> FakeIdentityProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # what the person at the provider does ------------------------------------------------------------------------
    def approve_as(self, subject: str, email: str = "someone@example.org", login: str = "octo") -> None:
        self.person, self.denied = Person(subject, email, login), False

    def deny(self) -> None:
        self.denied = True

    def paths(self) -> list[str]:
        return [path for _, path in self.requests]

    # the ID token -----------------------------------------------------------------------------------------------
    def id_token(self, grant: _Grant) -> str:
        now = int(time.time())
        claims = {"iss": self.url, "aud": grant.client_id, "sub": grant.person.subject, "email": grant.person.email,
                  "email_verified": True, "iat": now, "exp": now + 600, "nonce": grant.nonce}
        key = self.key
        if self.forge == "other_key":
            key = self.other_key  # the same kid, a key the JWKS does not hold
        elif self.forge == "wrong_audience":
            claims["aud"] = "someone-elses-client-id"
        elif self.forge == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        elif self.forge == "wrong_issuer":
            claims["iss"] = "https://accounts.evil.example"
        elif self.forge == "wrong_nonce":
            claims["nonce"] = "not-the-nonce-that-was-sent"
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)

    # WSGI -------------------------------------------------------------------------------------------------------
    def _wsgi(self, environ, start_response):
        request = Request(environ)
        self.requests.append((request.method, request.path))
        return self._route(request)(environ, start_response)

    def _route(self, request: Request) -> Response:
        path = request.path
        if path == "/.well-known/openid-configuration":
            return _json({"issuer": self.url, "authorization_endpoint": f"{self.url}/o/oauth2/auth",
                          "token_endpoint": f"{self.url}/token", "userinfo_endpoint": f"{self.url}/userinfo",
                          "jwks_uri": f"{self.url}/jwks", "response_types_supported": ["code"],
                          "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
                          "scopes_supported": ["openid", "email", "profile"],
                          "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]})
        if path == "/jwks":
            return _json(KeySet([self.key]).as_dict(private=False))
        if path == "/o/oauth2/auth":
            return self._authorize(request, "google", self.google_client_id)
        if path == "/login/oauth/authorize":
            return self._authorize(request, "github", self.github_client_id)
        if path == "/token" and request.method == "POST":
            return self._token(request, "google", self.google_client_id, self.google_client_secret)
        if path == "/login/oauth/access_token" and request.method == "POST":
            return self._token(request, "github", self.github_client_id, self.github_client_secret)
        person = self._bearer(request)
        if person is None and path in ("/userinfo", "/user", "/user/emails"):
            return _json({"message": "Bad credentials"}, 401)
        if path == "/userinfo" and person is not None:
            return _json({"sub": person.subject, "email": person.email, "email_verified": True})
        if path == "/user" and person is not None:
            return _json({"id": int(person.subject) if person.subject.isdigit() else person.subject,
                          "login": person.login, "email": None})
        if path == "/user/emails" and person is not None:
            return _json([{"email": f"{person.login}@users.noreply.example", "primary": False, "verified": True},
                          {"email": person.email, "primary": True, "verified": True}])
        return _json({"error": "not_found"}, 404)

    def _authorize(self, request: Request, kind: str, client_id: str) -> Response:
        args = request.args
        redirect_uri, state = args.get("redirect_uri", ""), args.get("state", "")
        if args.get("client_id") != client_id or not redirect_uri:
            return _json({"error": "invalid_client"}, 400)
        if self.denied:
            return _redirect(redirect_uri, {"error": "access_denied", "state": state})
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._grants[code] = _Grant(client_id, redirect_uri, args.get("nonce"), self.person, kind)
        return _redirect(redirect_uri, {"code": code, "state": state})

    def _client_auth(self, request: Request) -> tuple[str | None, str | None]:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            client_id, _, secret = b64decode(header[6:]).decode().partition(":")
            return client_id, secret
        return request.form.get("client_id"), request.form.get("client_secret")

    def _token(self, request: Request, kind: str, client_id: str, client_secret: str) -> Response:
        given_id, given_secret = self._client_auth(request)
        if given_id != client_id or given_secret != client_secret:
            return _json({"error": "invalid_client"}, 401)
        with self._lock:
            grant = self._grants.pop(request.form.get("code", ""), None)  # a code is good once
        if grant is None or grant.kind != kind or grant.redirect_uri != request.form.get("redirect_uri"):
            return _json({"error": "invalid_grant"}, 400)
        access = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[access] = grant.person
        body: dict = {"access_token": access, "token_type": "Bearer", "expires_in": 3600}
        if kind == "google":
            body["scope"] = "openid email profile"
            if self.forge != "no_id_token":
                body["id_token"] = self.id_token(grant)
        else:
            body["scope"] = "read:user,user:email"
        return _json(body)

    def _bearer(self, request: Request) -> Person | None:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return None
        with self._lock:
            return self._tokens.get(value.strip())


def _json(body, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _redirect(uri: str, params: dict[str, str]) -> Response:
    separator = "&" if "?" in uri else "?"
    return Response("", status=302, headers={"Location": uri + separator + urlencode(params)})
