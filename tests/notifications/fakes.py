"""Fake provider APIs for the SMS and push channels: real HTTP servers on 127.0.0.1 (ephemeral port, daemon
thread) that record every request and answer with programmed responses.

FakeTwilio: POST /2010-04-01/Accounts/{sid}/Messages.json, HTTP basic auth checked.
FakeGoogle: POST /token (the OAuth2 JWT-bearer grant google-auth sends for a service account; the assertion's
RS256 signature, issuer, audience and scope are checked) and POST /v1/projects/{project}/messages:send (FCM HTTP v1;
only bearer tokens this fake issued are accepted)."""
from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # the audience Google expects in the assertion


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def json(self):
        return json.loads(self.body)

    def basic_auth(self) -> tuple[str, str] | None:
        value = self.headers.get("authorization", "")
        if not value.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return user, password

    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        return value[7:] if value.startswith("Bearer ") else None


@dataclass
class Response:
    status: int
    body: object = None  # dict/list -> JSON, str/bytes -> as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (timeouts)


class FakeServer:
    """Subclasses implement route(recorded) -> Response."""

    def __init__(self):
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self._serve()

            def do_GET(self):
                self._serve()

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                recorded = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                    self.rfile.read(length) if length else b"")
                with fake._lock:
                    fake.requests.append(recorded)
                answer = fake.route(recorded)
                if answer.delay:
                    fake._stopping.wait(answer.delay)
                if isinstance(answer.body, (dict, list)):
                    payload, content_type = json.dumps(answer.body).encode(), "application/json"
                elif isinstance(answer.body, str):
                    payload, content_type = answer.body.encode(), "text/plain; charset=utf-8"
                else:
                    payload, content_type = answer.body or b"", "application/octet-stream"
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up (timeout tests)
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def route(self, recorded: Recorded) -> Response:  # pragma: no cover - overridden
        raise NotImplementedError

    @staticmethod
    def _next(queue: deque) -> Response | None:
        try:
            return queue.popleft()
        except IndexError:
            return None


class FakeTwilio(FakeServer):
    """Answers 201 with a new message sid unless a response was queued with respond()."""

    def __init__(self, account_sid: str = "AC" + "0" * 31 + "1", auth_token: str | None = None):
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token or secrets.token_hex(16)
        self._responses: deque[Response] = deque()
        self.sent: list[dict[str, str]] = []

    def respond(self, status: int, body=None, *, headers: dict | None = None, delay: float = 0.0) -> None:
        """Queue the answer to the next Messages request (after the auth check)."""
        self._responses.append(Response(status, body, headers or {}, delay))

    @property
    def messages(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/Messages.json")]

    def route(self, recorded: Recorded) -> Response:
        match = re.fullmatch(r"/2010-04-01/Accounts/([^/]+)/Messages\.json", recorded.path)
        if recorded.method != "POST" or not match:
            return Response(404, {"code": 20404, "message": "The requested resource was not found",
                                  "status": 404})
        if recorded.basic_auth() != (self.account_sid, self.auth_token) or match.group(1) != self.account_sid:
            return Response(401, {"code": 20003, "message": "Authenticate", "status": 401},
                            {"WWW-Authenticate": 'Basic realm="Twilio API"'})
        programmed = self._next(self._responses)
        if programmed is not None:
            return programmed
        form = recorded.form()
        sid = "SM" + secrets.token_hex(16)
        self.sent.append({**form, "sid": sid})
        return Response(201, {"sid": sid, "account_sid": self.account_sid, "to": form.get("To"),
                              "from": form.get("From"), "body": form.get("Body"), "status": "queued",
                              "error_code": None, "error_message": None})


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_key_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


class FakeGoogle(FakeServer):
    """OAuth2 token endpoint and FCM v1 send endpoint on one server."""

    def __init__(self, private_key: rsa.RSAPrivateKey, *, project_id: str = "freehold-test",
                 client_email: str = "push@freehold-test.iam.gserviceaccount.com", expires_in: int = 3600):
        super().__init__()
        self.private_key = private_key
        self.project_id = project_id
        self.client_email = client_email
        self.private_key_id = secrets.token_hex(20)
        self.expires_in = expires_in
        self.issued: list[str] = []
        self.assertions: list[dict] = []
        self._token_responses: deque[Response] = deque()
        self._send_responses: deque[Response] = deque()

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def service_account_info(self) -> dict:
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.private_key_id,
            "private_key": private_key_pem(self.private_key),
            "client_email": self.client_email,
            "client_id": "100000000000000000001",
            "token_uri": self.token_uri,
        }

    def write_service_account(self, path) -> str:
        path.write_text(json.dumps(self.service_account_info()))
        return str(path)

    def respond_token(self, status: int, body=None, *, headers: dict | None = None, delay: float = 0.0) -> None:
        """Queue the answer to the next token request (instead of issuing a token)."""
        self._token_responses.append(Response(status, body, headers or {}, delay))

    def respond_send(self, status: int, body=None, *, headers: dict | None = None, delay: float = 0.0) -> None:
        """Queue the answer to the next authorised send request."""
        self._send_responses.append(Response(status, body, headers or {}, delay))

    @staticmethod
    def fcm_error(code: int, status: str, message: str, error_code: str | None = None) -> dict:
        """The body FCM answers errors with."""
        error = {"code": code, "message": message, "status": status}
        if error_code:
            error["details"] = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                                 "errorCode": error_code}]
        return {"error": error}

    @property
    def token_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/token"]

    @property
    def send_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/messages:send")]

    def route(self, recorded: Recorded) -> Response:
        if recorded.method == "POST" and recorded.path == "/token":
            return self._token(recorded)
        match = re.fullmatch(r"/v1/projects/([^/]+)/messages:send", recorded.path)
        if recorded.method == "POST" and match:
            return self._send(recorded, match.group(1))
        return Response(404, "Not Found")

    def _token(self, recorded: Recorded) -> Response:
        form = recorded.form()
        if form.get("grant_type") != JWT_BEARER:
            return Response(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"})
        claims = self._verify_assertion(form.get("assertion", ""))
        if claims is None:
            return Response(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        self.assertions.append(claims)
        programmed = self._next(self._token_responses)
        if programmed is not None:
            return programmed
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        self.issued.append(token)
        return Response(200, {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"})

    def _verify_assertion(self, assertion: str) -> dict | None:
        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(header_b64))
            claims = json.loads(_b64url_decode(claims_b64))
            self.private_key.public_key().verify(_b64url_decode(signature_b64),
                                                 f"{header_b64}.{claims_b64}".encode(),
                                                 padding.PKCS1v15(), hashes.SHA256())
        except (ValueError, InvalidSignature):
            return None
        now = time.time()
        if (header.get("alg") != "RS256" or header.get("kid") != self.private_key_id
                or claims.get("iss") != self.client_email or claims.get("aud") != GOOGLE_TOKEN_AUDIENCE
                or FCM_SCOPE not in str(claims.get("scope", "")).split()
                or not claims.get("iat", 0) - 300 <= now <= claims.get("exp", 0)):
            return None
        return claims

    def _send(self, recorded: Recorded, project: str) -> Response:
        if recorded.bearer() not in self.issued:
            return Response(401, self.fcm_error(401, "UNAUTHENTICATED",
                                                "Request had invalid authentication credentials."))
        if project != self.project_id:
            return Response(403, self.fcm_error(403, "PERMISSION_DENIED",
                                                "Permission 'cloudmessaging.messages.create' denied"))
        programmed = self._next(self._send_responses)
        if programmed is not None:
            return programmed
        return Response(200, {"name": f"projects/{project}/messages/0:{secrets.randbelow(10**16)}"})
