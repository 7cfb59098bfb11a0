"""A real OpenID Connect / OAuth 2 provider on loopback, for the sign-in tests.

It speaks the protocol over real HTTP the way Google, Microsoft, Apple, GitHub and Facebook
do: discovery, an authorize endpoint (query or form_post response), a token endpoint that
checks client authentication (a secret, or Apple's ES256 client-secret JWT), single-use codes
with a lifetime, redirect URIs and PKCE, RS256 id tokens with a JWKS, and GitHub's and
Facebook's user APIs. Knobs let a test make it misbehave: refuse, replay a nonce, sign with a
key it does not publish, address another audience, expire codes, or fail.

It runs in its own thread and event loop, so the app under test reaches it over real sockets.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hypercorn.asyncio import serve
from hypercorn.config import Config
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from quart import Quart, Response, jsonify, redirect, request
from werkzeug.datastructures import MultiDict


@dataclass
class Person:
    """Who signs in at the provider's page."""

    subject: str = "person-1"
    email: str | None = "grace@example.com"
    email_verified: Any = True  # Apple sends "true"; Microsoft sends nothing (None)
    name: str = "Grace Hopper"
    claims: dict[str, Any] = field(default_factory=dict)  # extra id-token claims (tid, ...)
    github_emails: list[dict[str, Any]] | None = None  # GitHub's /user/emails answer


@dataclass
class Client:
    secret: str | None = None  # a shared secret, or None with apple_key set
    apple_key: ECKey | None = None  # the public half of the client's .p8 key
    apple_team: str = ""


@dataclass
class Misbehaviour:
    deny: str | None = None  # authorize answers with this OAuth error code
    code_lifetime: float = 60.0
    nonce: str | None = None  # put this nonce in id tokens instead of the requested one
    rogue_signature: bool = False  # sign id tokens with a key that is not in the JWKS
    audience: str | None = None
    issuer: str | None = None
    id_token_age: float = 0.0  # issue id tokens this many seconds in the past
    token_status: int | None = None  # the token endpoint fails with this HTTP status


class LoopbackProvider:
    def __init__(self, *, multi_tenant: bool = False) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        # Microsoft's "common" endpoint publishes its issuer as a template.
        self.issuer = self.base_url + ("/{tenantid}/v2.0" if multi_tenant else "")
        self.key = RSAKey.generate_key(2048, parameters={"kid": "signing-1"})
        self.rogue_key = RSAKey.generate_key(2048, parameters={"kid": "signing-1"})
        self.clients: dict[str, Client] = {}
        self.person = Person()
        self.misbehave = Misbehaviour()
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self._codes: dict[str, dict[str, Any]] = {}
        self._access_tokens: dict[str, Person] = {}
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # The URLs an app's provider entry points at.
    @property
    def metadata_url(self) -> str:
        return f"{self.base_url}/.well-known/openid-configuration"

    @property
    def authorize_url(self) -> str:
        return f"{self.base_url}/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    @property
    def api_base_url(self) -> str:
        return f"{self.base_url}/api/"

    def start(self) -> None:
        started = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._stop = asyncio.Event()
            config = Config()
            config.bind = [f"127.0.0.1:{self.port}"]
            config.accesslog = None
            config.errorlog = None
            self._loop.call_soon(started.set)
            self._loop.run_until_complete(
                serve(self.app(), config, shutdown_trigger=self._stop.wait)  # type: ignore[arg-type]
            )
            self._loop.close()

        self._thread = threading.Thread(target=run, name="loopback-oidc", daemon=True)
        self._thread.start()
        started.wait(5)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)
        self._thread = None

    def app(self) -> Quart:
        app = Quart("loopback_oidc")

        @app.get("/.well-known/openid-configuration")
        async def discovery() -> Response:
            return jsonify(
                issuer=self.issuer,
                authorization_endpoint=self.authorize_url,
                token_endpoint=self.token_url,
                jwks_uri=f"{self.base_url}/jwks",
                response_types_supported=["code"],
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=["RS256"],
                code_challenge_methods_supported=["S256"],
            )

        @app.get("/jwks")
        async def jwks() -> Response:
            return jsonify(keys=[self.key.as_dict(private=False)])

        @app.get("/authorize")
        async def authorize() -> Any:
            args = request.args.to_dict()
            self.authorize_requests.append(args)
            if args.get("client_id") not in self.clients or args.get("response_type") != "code":
                return jsonify(error="invalid_request"), 400
            answer = {"state": args.get("state", "")}
            if self.misbehave.deny:
                answer["error"] = self.misbehave.deny
            else:
                answer["code"] = self._issue_code(args)
                if args.get("response_mode") == "form_post" and self.person.name:
                    first, _, last = self.person.name.partition(" ")
                    answer["user"] = f'{{"name":{{"firstName":"{first}","lastName":"{last}"}}}}'
            if args.get("response_mode") == "form_post":
                return auto_post_form(args["redirect_uri"], answer)
            query = "&".join(f"{k}={quote(v, safe='')}" for k, v in answer.items())
            return redirect(f"{args['redirect_uri']}?{query}")

        @app.post("/token")
        async def token() -> Any:
            form = await request.form
            self.token_requests.append(form.to_dict())
            if self.misbehave.token_status:
                return "provider exploded", self.misbehave.token_status
            client_id = self._authenticate_client(form)
            if client_id is None:
                return jsonify(error="invalid_client"), 401
            grant = self._codes.pop(form.get("code", ""), None)
            if (
                grant is None
                or grant["expires"] < time.time()
                or grant["client_id"] != client_id
                or grant["redirect_uri"] != form.get("redirect_uri")
                or not pkce_matches(grant.get("code_challenge"), form.get("code_verifier"))
            ):
                return jsonify(error="invalid_grant"), 400
            person: Person = grant["person"]
            access_token = secrets.token_urlsafe(16)
            self._access_tokens[access_token] = person
            body = {"access_token": access_token, "token_type": "Bearer", "expires_in": 3600}
            if "openid" in grant["scope"].split():
                body["id_token"] = self._id_token(client_id, grant["nonce"], person)
            return jsonify(body)

        @app.get("/api/user")
        async def github_user() -> Any:
            person = self._bearer()
            if person is None:
                return jsonify(message="Bad credentials"), 401
            return jsonify(
                id=int(person.subject.rsplit("-", 1)[-1]), login="grace", name=person.name
            )

        @app.get("/api/user/emails")
        async def github_emails() -> Any:
            person = self._bearer()
            if person is None:
                return jsonify(message="Bad credentials"), 401
            if person.github_emails is not None:
                return jsonify(person.github_emails)
            return jsonify([{"email": person.email, "primary": True, "verified": True}])

        @app.get("/api/me")
        async def facebook_me() -> Any:
            person = self._bearer()
            if person is None:
                return jsonify(error={"message": "Invalid OAuth access token"}), 400
            me = {"id": person.subject, "name": person.name}
            if person.email:
                me["email"] = person.email
            return jsonify(me)

        return app

    def _issue_code(self, args: dict[str, str]) -> str:
        code = secrets.token_urlsafe(16)
        self._codes[code] = {
            "client_id": args["client_id"],
            "redirect_uri": args.get("redirect_uri"),
            "scope": args.get("scope", ""),
            "nonce": args.get("nonce"),
            "code_challenge": args.get("code_challenge"),
            "expires": time.time() + self.misbehave.code_lifetime,
            "person": self.person,
        }
        return code

    def _authenticate_client(self, form: MultiDict[str, str]) -> str | None:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        client = self.clients.get(client_id or "")
        if client is None or secret is None:
            return None
        if client.apple_key is not None:
            return client_id if self._apple_secret_is_valid(secret, client, client_id) else None
        return client_id if secrets.compare_digest(secret, client.secret or "") else None

    def _apple_secret_is_valid(self, secret: str, client: Client, client_id: str | None) -> bool:
        try:
            token = jwt.decode(secret, client.apple_key, algorithms=["ES256"])
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": client.apple_team},
                sub={"essential": True, "value": client_id},
                aud={"essential": True, "value": self.issuer},
                exp={"essential": True},
            ).validate(token.claims)
        except JoseError:
            return False
        return True

    def _id_token(self, client_id: str, nonce: str | None, person: Person) -> str:
        issued = int(time.time() - self.misbehave.id_token_age)
        tenant = person.claims.get("tid", "")
        claims: dict[str, Any] = {
            "iss": self.misbehave.issuer or self.issuer.replace("{tenantid}", str(tenant)),
            "sub": person.subject,
            "aud": self.misbehave.audience or client_id,
            "iat": issued,
            "exp": issued + 300,
            "nonce": self.misbehave.nonce or nonce,
            "name": person.name,
            **person.claims,
        }
        if person.email is not None:
            claims["email"] = person.email
        if person.email is not None and person.email_verified is not None:
            claims["email_verified"] = person.email_verified
        key = self.rogue_key if self.misbehave.rogue_signature else self.key
        return jwt.encode({"alg": "RS256", "kid": "signing-1"}, claims, key)

    def _bearer(self) -> Person | None:
        header = request.headers.get("Authorization", "")
        return self._access_tokens.get(header.removeprefix("Bearer ").strip())


def pkce_matches(challenge: str | None, verifier: str | None) -> bool:
    if challenge is None:
        return True
    if not verifier:
        return False
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == challenge


def auto_post_form(action: str, fields: dict[str, str]) -> str:
    """What Apple answers with form_post: a page whose form the browser submits at once."""
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in fields.items()
    )
    return f'<form method="post" action="{html.escape(action)}">{inputs}</form>'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"the loopback provider did not start on port {port}")
