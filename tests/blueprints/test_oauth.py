"""Sign-in with OAuth providers, against a real OpenID provider on loopback.

Nothing here mocks HTTP: the app talks to `LoopbackProvider` over real sockets, and the test
plays the browser, carrying each redirect from the app to the provider and back.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey
from quart import Quart
from quart.typing import TestClientProtocol as QuartClient
from sqlalchemy import func, select, update
from werkzeug.wrappers import Response

from service import create_app
from service.config import ConfigError, Settings
from service.db.models import AuditEvent, LoginSession, OAuthIdentity, User
from service.db.types import utcnow
from service.extensions import db
from service.oauth import EXTENSION
from service.oauth.client import OAuthClient
from service.oauth.profiles import MICROSOFT_CONSUMER_TENANT
from service.oauth.providers import AppleSigningKey, Provider
from tests.accounts import PASSWORD, create_user, post, signed_in, token
from tests.conftest import make_settings
from tests.oidc_provider import Client, LoopbackProvider

SECRET = "loopback-client-secret"


@pytest.fixture
def loopback() -> Iterator[LoopbackProvider]:
    provider = LoopbackProvider()
    provider.start()
    yield provider
    provider.stop()


@pytest.fixture
async def client(app: Quart) -> AsyncIterator[QuartClient]:
    async with app.test_app() as test_app:
        yield test_app.test_client()


def install(app: Quart, loopback: LoopbackProvider, name: str, **changes: object) -> Provider:
    """Point the app's `name` provider at the loopback provider, as if configured."""
    openid = name in {"google", "microsoft", "apple"}
    provider = Provider(
        name=name,
        title=name.capitalize(),
        client_id=f"beacon-{name}",
        client_secret=SECRET,
        scope="openid email profile" if openid else "user",
        metadata_url=loopback.metadata_url if openid else None,
        authorize_url=None if openid else loopback.authorize_url,
        token_url=None if openid else loopback.token_url,
        api_base_url=None if openid else loopback.api_base_url,
    )
    provider = replace(provider, **changes)  # type: ignore[arg-type]
    loopback.clients.setdefault(provider.client_id, Client(secret=SECRET))
    app.extensions[EXTENSION][name] = OAuthClient(provider)
    return provider


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def through_provider(client: QuartClient, start: Response) -> Response:
    """Play the browser: follow the app's redirect to the provider and the answer back."""
    assert start.status_code == 302, start.status_code
    async with httpx2.AsyncClient() as browser:
        answer = await browser.get(start.headers["Location"])
    if answer.status_code in {302, 303}:
        return await client.get(local_path(answer.headers["location"]))
    # form_post: the provider's page posts a form to the callback (cross-site, like Apple's).
    action = re.search(r'action="([^"]+)"', answer.text)
    assert action, answer.text
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', answer.text))
    fields = {k: v.replace("&quot;", '"') for k, v in fields.items()}
    hop = await client.post(
        local_path(action.group(1)),
        form=fields,
        headers={"Origin": "https://appleid.apple.com", "Sec-Fetch-Site": "cross-site"},
    )
    assert hop.status_code == 303, await hop.get_data(as_text=True)
    return await client.get(local_path(hop.headers["Location"]))


async def sign_in_with(client: QuartClient, name: str, next_url: str = "/settings") -> Response:
    start = await client.get(f"/auth/oauth/{name}/login?{urlencode({'next': next_url})}")
    return await through_provider(client, start)


async def count(app: Quart, model: type[object]) -> int:
    async with app.app_context(), db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def user_by_email(app: Quart, email: str) -> User | None:
    async with app.app_context(), db.session() as session:
        return await session.scalar(select(User).where(User.email == email))


async def identities(app: Quart) -> list[tuple[int, str, str]]:
    async with app.app_context(), db.session() as session:
        rows = await session.execute(
            select(OAuthIdentity.user_id, OAuthIdentity.provider, OAuthIdentity.subject)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def body(response: Response) -> str:
    return await response.get_data(as_text=True)  # type: ignore[no-any-return]


async def is_signed_in(client: QuartClient) -> bool:
    return (await client.get("/settings")).status_code == 200


# The whole flow, on both database engines.


@pytest.fixture
def any_engine_app(database_url: str) -> Quart:
    return create_app(make_settings(database_url=database_url))


async def test_sign_up_then_sign_in_with_openid_connect(
    any_engine_app: Quart, loopback: LoopbackProvider
) -> None:
    app = any_engine_app
    install(app, loopback, "google")
    async with app.test_app() as test_app:
        client = test_app.test_client()
        done = await sign_in_with(client, "google", next_url="/settings")
        assert done.status_code == 302
        assert done.headers["Location"] == "/settings"
        assert await is_signed_in(client)

        # The request carried state, nonce and a PKCE S256 challenge; the code exchange
        # carried the verifier (the provider checked it matches).
        asked = loopback.authorize_requests[-1]
        assert asked["state"]
        assert asked["nonce"]
        assert asked["code_challenge_method"] == "S256"
        assert asked["code_challenge"]
        assert loopback.token_requests[-1]["code_verifier"]

        user = await user_by_email(app, "grace@example.com")
        assert user is not None
        assert user.email_verified_at is not None
        assert user.display_name == "Grace Hopper"
        assert user.password_hash is None
        assert await identities(app) == [(user.id, "google", "person-1")]

        # Next time the same identity signs in to the same account.
        again = test_app.test_client()
        assert (await sign_in_with(again, "google")).status_code == 302
        assert await count(app, User) == 1
        assert await is_signed_in(again)


# What must be refused: forged, replayed or expired answers, and provider errors.


async def test_callback_with_another_state_is_refused(
    app: Quart, client: QuartClient, loopback: LoopbackProvider
) -> None:
    install(app, loopback, "google")
    start = await client.get("/auth/oauth/google/login")
    async with httpx2.AsyncClient() as browser:
        answer = await browser.get(start.headers["Location"])
    callback = urlsplit(answer.headers["location"])
    params = parse_qs(callback.query)
    forged = urlencode({"code": params["code"][0], "state": "attacker-state"})
    refused = await client.get(f"{callback.path}?{forged}")
    assert refused.status_code == 400
    assert "Start again" in await body(refused)
    # The genuine callback in another browser (login CSRF) is refused too.
    elsewhere = app.test_client()
    assert (await elsewhere.get(local_path(answer.headers["location"]))).status_code == 400
    assert await count(app, User) == 0


async def test_a_callback_works_once(
    app: Quart, client: QuartClient, loopback: LoopbackProvider
) -> None:
    install(app, loopback, "google")
    start = await client.get("/auth/oauth/google/login")
    async with httpx2.AsyncClient() as browser:
        answer = await browser.get(start.headers["Location"])
    callback = local_path(answer.headers["location"])
    assert (await client.get(callback)).status_code == 302
    assert (await client.get(callback)).status_code == 400


async def test_replayed_nonce_is_refused(
    app: Quart, client: QuartClient, loopback: LoopbackProvider
) -> None:
    install(app, loopback, "google")
    assert (await sign_in_with(app.test_client(), "google")).status_code == 302
    # An id token minted for an earlier sign-in is played back in a new one.
    loopback.misbehave.nonce = loopback.authorize_requests[-1]["nonce"]
    refused = await sign_in_with(client, "google")
    assert refused.status_code == 400
    assert "could not be verified" in await body(refused)
    assert not await is_signed_in(client)


async def test_expired_code_is_refused(
    app: Quart, client: QuartClient, loopback: LoopbackProvider
) -> None:
    install(app, loopback, "google")
    loopback.misbehave.code_lifetime = -1
    refused = await sign_in_with(client, "google")
    assert refused.status_code == 400
    assert "did not accept" in await body(refused)
    assert await count(app, User) == 0


@pytest.mark.parametrize(
    ("error", "message"),
    [("access_denied", "was cancelled"), ("server_error", "(server_error)")],
)
async def test_provider_error_is_explained(
    app: Quart, client: QuartClient, loopback: LoopbackProvider, error: str, message: str
) -> None:
    install(app, loopback, "google")
    loopback.misbehave.deny = error
    refused = await sign_in_with(client, "google")
    assert refused.status_code == 400
    assert message in await body(refused)


async def test_provider_outage_is_a_503_not_a_500(
    app: Quart, client: QuartClient, loopback: LoopbackProvider
) -> None:
    install(app, loopback, "google")
    loopback.misbehave.token_status = 500
    failed = await sign_in_with(client, "google")
    assert failed.status_code == 503
    assert "not answering" in await body(failed)
    loopback.stop()  # and a provider that is down altogether (nothing cached yet)
    install(app, loopback, "google")
    down = await client.get("/auth/oauth/google/login")
    assert down.status_code == 503


@pytest.mark.parametrize(
    "misbehaviour",
    [
        {"rogue_signature": True},
        {"audience": "someone-else"},
        {"issuer": "http://evil.example"},
        {"id_token_age": 3600},
    ],
    ids=["signature", "audience", "issuer", "expired"],
)
async def test_id_token_that_fails_validation_is_refused(
    app: Quart, client: QuartClient, loopback: LoopbackProvider, misbehaviour: dict[str, object]
) -> None:
    install(app, loopback, "google")
    for name, value in misbehaviour.items():
        setattr(loopback.misbehave, name, value)
    refused = await sign_in_with(client, "google")
    assert refused.status_code == 400
    assert "could not be verified" in await body(refused)
    assert await count(app, User) == 0


async def test_hostile_next_falls_back_home(
    app: Quart, client: QuartClient, loopback: LoopbackProvider
) -> None:
    install(app, loopback, "google")
    done = await sign_in_with(client, "google", next_url="//evil.example/x")
    # The default landing, never the hostile target: the welcome page (on by default).
    assert done.headers["Location"] == "/welcome"


# Matching accounts by email.


async def test_unverified_email_is_not_kept_and_matches_nothing(
    app: Quart, client: QuartClient, loopback: LoopbackProvider
) -> None:
    await create_user(app, "grace@example.com")
    install(app, loopback, "google")
    loopback.person.email_verified = False
    assert (await sign_in_with(client, "google")).status_code == 302
    assert await count(app, User) == 2
    rows = await identities(app)
    owner = await user_by_email(app, "grace@example.com")
    assert owner is not None
    assert rows[0][0] != owner.id
    async with app.app_context(), db.session() as session:
        newcomer = await session.get(User, rows[0][0])
        assert newcomer is not None
        assert newcomer.email is None


async def test_verified_email_signs_in_to_the_existing_account(
    app: Quart, client: QuartClient, loopback: LoopbackProvider
) -> None:
    await create_user(app, "grace@example.com")
    install(app, loopback, "google")
    assert (await sign_in_with(client, "google")).status_code == 302
    owner = await user_by_email(app, "grace@example.com")
    assert owner is not None
    assert owner.password_hash is not None
    assert await identities(app) == [(owner.id, "google", "person-1")]
    assert await count(app, User) == 1


async def test_matching_an_unproven_sign_up_drops_its_password(
    app: Quart, client: QuartClient, loopback: LoopbackProvider
) -> None:
    # Someone registered the address with a password but never proved they own it.
    await client.post(
        "/auth/register",
        form={
            "csrf_token": await token(client, "/auth/register"),
            "email": "grace@example.com",
            "password": PASSWORD,
        },
    )
    squatter = await user_by_email(app, "grace@example.com")
    assert squatter is not None
    assert squatter.email_verified_at is None
    install(app, loopback, "google")
    owner = app.test_client()
    assert (await sign_in_with(owner, "google")).status_code == 302
    user = await user_by_email(app, "grace@example.com")
    assert user is not None
    assert user.id == squatter.id
    assert user.password_hash is None
    assert user.email_verified_at is not None
    attempt = await app.test_client().post(
        "/auth/login",
        form={
            "csrf_token": await token(client, "/auth/login"),
            "email": "grace@example.com",
            "password": PASSWORD,
        },
    )
    assert attempt.status_code != 302


# Provider specifics.


async def test_microsoft_multi_tenant_issuer(app: Quart) -> None:
    loopback = LoopbackProvider(multi_tenant=True)
    loopback.start()
    try:
        install(app, loopback, "microsoft")
        loopback.person = replace(loopback.person, email_verified=None, claims={"tid": "tenant-a"})
        async with app.test_app() as test_app:
            client = test_app.test_client()
            assert (await sign_in_with(client, "microsoft")).status_code == 302
            # A work account's email is not proof of ownership: kept off the account.
            async with app.app_context(), db.session() as session:
                user = await session.scalar(select(User))
                assert user is not None
                assert user.email is None

            # A personal account's address is Microsoft's own, so it counts as verified.
            loopback.person = replace(
                loopback.person, subject="person-2", claims={"tid": MICROSOFT_CONSUMER_TENANT}
            )
            assert (await sign_in_with(test_app.test_client(), "microsoft")).status_code == 302
            assert await user_by_email(app, "grace@example.com") is not None

            # The issuer must be the template filled in with the token's own tenant.
            loopback.person = replace(loopback.person, claims={"tid": "tenant-a"})
            loopback.misbehave.issuer = loopback.base_url + "/tenant-b/v2.0"
            refused = await sign_in_with(test_app.test_client(), "microsoft")
            assert refused.status_code == 400
    finally:
        loopback.stop()


def apple_key() -> tuple[str, ECKey]:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, ECKey.import_key(public)


async def test_apple_form_post_and_client_secret_jwt(
    app: Quart, client: QuartClient, loopback: LoopbackProvider
) -> None:
    pem, public = apple_key()
    loopback.clients["beacon-apple"] = Client(apple_key=public, apple_team="TEAM123456")
    install(
        app,
        loopback,
        "apple",
        client_secret="",
        scope="openid email name",
        pkce=False,
        form_post=True,
        apple_key=AppleSigningKey("TEAM123456", "KEY1234567", pem),
    )
    loopback.person.email_verified = "true"  # Apple's booleans are strings
    done = await sign_in_with(client, "apple")
    assert done.status_code == 302
    assert loopback.authorize_requests[-1]["response_mode"] == "form_post"
    assert loopback.token_requests[-1]["client_secret"].count(".") == 2  # a JWT
    user = await user_by_email(app, "grace@example.com")
    assert user is not None
    assert user.display_name == "Grace Hopper"

    # A secret signed for another team is refused by the provider.
    loopback.clients["beacon-apple"] = Client(apple_key=public, apple_team="OTHERTEAM1")
    refused = await sign_in_with(app.test_client(), "apple")
    assert refused.status_code == 400


async def test_callback_post_is_only_for_form_post_providers(
    app: Quart, client: QuartClient, loopback: LoopbackProvider
) -> None:
    install(app, loopback, "google")
    assert (await client.post("/auth/oauth/google/callback", form={})).status_code == 404


async def test_github_uses_the_primary_verified_email(
    app: Quart, client: QuartClient, loopback: LoopbackProvider
) -> None:
    install(app, loopback, "github")
    loopback.person = replace(
        loopback.person,
        subject="person-7",
        github_emails=[
            {"email": "other@example.com", "primary": False, "verified": True},
            {"email": "grace@example.com", "primary": True, "verified": True},
        ],
    )
    assert (await sign_in_with(client, "github")).status_code == 302
    assert await user_by_email(app, "grace@example.com") is not None
    assert await identities(app) == [(1, "github", "7")]

    # An unverified primary address is not used, even if another one is verified.
    loopback.person = replace(
        loopback.person,
        subject="person-8",
        github_emails=[
            {"email": "x@example.com", "primary": True, "verified": False},
            {"email": "y@example.com", "primary": False, "verified": True},
        ],
    )
    assert (await sign_in_with(app.test_client(), "github")).status_code == 302
    async with app.app_context(), db.session() as session:
        second = await session.get(User, 2)
        assert second is not None
        assert second.email is None


async def test_facebook_profile(
    app: Quart, client: QuartClient, loopback: LoopbackProvider
) -> None:
    install(app, loopback, "facebook")
    assert (await sign_in_with(client, "facebook")).status_code == 302
    user = await user_by_email(app, "grace@example.com")
    assert user is not None
    assert user.display_name == "Grace Hopper"


async def test_disabled_account_cannot_sign_in(
    app: Quart, client: QuartClient, loopback: LoopbackProvider
) -> None:
    install(app, loopback, "google")
    assert (await sign_in_with(app.test_client(), "google")).status_code == 302
    async with app.app_context(), db.session() as session:
        await session.execute(update(User).values(is_active=False))
        await session.commit()
    refused = await sign_in_with(client, "google")
    assert refused.status_code == 403
    assert not await is_signed_in(client)


# Linking and unlinking from settings.


async def age_sessions(app: Quart, minutes: int) -> None:
    async with app.app_context(), db.session() as session:
        await session.execute(
            update(LoginSession).values(created_at=utcnow() - timedelta(minutes=minutes))
        )
        await session.commit()


async def test_linking_needs_a_recent_sign_in(
    app: Quart, client: QuartClient, loopback: LoopbackProvider
) -> None:
    await create_user(app)
    install(app, loopback, "github")
    me = await signed_in(app)
    await age_sessions(app, 11)
    stale = await post(me, "/auth/oauth/github/link")
    assert stale.status_code == 302
    assert stale.headers["Location"].startswith("/auth/login?next=")

    fresh = await signed_in(app)  # signing in again is the re-authentication
    done = await through_provider(fresh, await post(fresh, "/auth/oauth/github/link"))
    assert done.status_code == 302
    assert done.headers["Location"] == "/settings"
    assert "linked" in await body(await fresh.get("/settings"))
    owner = await user_by_email(app, "ada@example.com")
    assert owner is not None
    assert await identities(app) == [(owner.id, "github", "1")]
    async with app.app_context(), db.session() as session:
        actions = set(await session.scalars(select(AuditEvent.action)))
    assert "oauth.linked" in actions


async def test_link_finishes_only_in_the_session_that_started_it(
    app: Quart, loopback: LoopbackProvider
) -> None:
    await create_user(app)
    install(app, loopback, "github")
    me = await signed_in(app)
    start = await post(me, "/auth/oauth/github/link")
    await post(me, "/auth/logout")  # the session that asked is gone
    refused = await through_provider(me, start)
    assert refused.status_code == 400
    assert await identities(app) == []


async def test_an_identity_linked_elsewhere_cannot_be_linked_again(
    app: Quart, loopback: LoopbackProvider
) -> None:
    install(app, loopback, "github")
    assert (await sign_in_with(app.test_client(), "github")).status_code == 302
    await create_user(app)
    me = await signed_in(app)
    refused = await through_provider(me, await post(me, "/auth/oauth/github/link"))
    assert refused.status_code == 409
    assert len(await identities(app)) == 1


async def test_the_last_way_to_sign_in_cannot_be_unlinked(
    app: Quart, client: QuartClient, loopback: LoopbackProvider
) -> None:
    install(app, loopback, "google")
    await sign_in_with(client, "google")
    refused = await post(client, "/auth/oauth/google/unlink")
    assert refused.status_code == 409
    assert "only way to sign in" in await body(refused)
    assert len(await identities(app)) == 1


async def test_unlinking_with_a_password_left(app: Quart, loopback: LoopbackProvider) -> None:
    await create_user(app)
    install(app, loopback, "github")
    me = await signed_in(app)
    page = await body(await me.get("/settings"))
    assert 'action="/auth/oauth/github/link"' in page
    await through_provider(me, await post(me, "/auth/oauth/github/link"))
    assert len(await identities(app)) == 1
    page = await body(await me.get("/settings"))
    assert 'action="/auth/oauth/github/unlink"' in page
    assert "Linked as grace@example.com" in page
    done = await post(me, "/auth/oauth/github/unlink")
    assert done.status_code == 302
    assert await identities(app) == []


async def test_a_password_does_not_count_when_password_sign_in_is_off(
    sqlite_url: str, loopback: LoopbackProvider
) -> None:
    app = create_app(make_settings(database_url=sqlite_url))
    await create_user(app)
    install(app, loopback, "github")
    async with app.test_app():
        me = await signed_in(app)
        await through_provider(me, await post(me, "/auth/oauth/github/link"))
    off = create_app(make_settings(database_url=sqlite_url, password_login=False))
    install(off, loopback, "github")
    async with off.test_app() as test_app:
        client = test_app.test_client()
        assert (await sign_in_with(client, "github")).status_code == 302
        assert (await post(client, "/auth/oauth/github/unlink")).status_code == 409


# Which providers exist.


def test_a_provider_is_on_only_with_id_and_secret(sqlite_url: str) -> None:
    settings = make_settings(
        database_url=sqlite_url,
        oauth_google_client_id="id",
        oauth_google_client_secret="secret",
        oauth_github_client_id="id-without-secret",
    )
    assert settings.oauth_providers == ("google",)


async def test_only_configured_providers_are_offered(sqlite_url: str) -> None:
    settings = make_settings(
        database_url=sqlite_url, oauth_google_client_id="id", oauth_google_client_secret="s"
    )
    app = create_app(settings)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        page = await body(await client.get("/auth/login"))
        assert "/auth/oauth/google/login" in page
        assert "/auth/oauth/github/login" not in page
        assert (await client.get("/auth/oauth/github/login")).status_code == 404
        assert (await client.get("/auth/oauth/nonsense/callback")).status_code == 404


def test_apple_needs_its_team_key_id_and_a_real_key(sqlite_url: str) -> None:
    pem, _public = apple_key()
    apple = {"oauth_apple_client_id": "com.example.web", "oauth_apple_client_secret": pem}
    with pytest.raises(ConfigError, match="OAUTH_APPLE_TEAM_ID"):
        make_settings(database_url=sqlite_url, **apple)
    ids = {"oauth_apple_team_id": "TEAM123456", "oauth_apple_key_id": "KEY1234567"}
    with pytest.raises(ConfigError, match="PEM"):
        make_settings(
            database_url=sqlite_url, **ids, **{**apple, "oauth_apple_client_secret": "nope"}
        )
    one_line = pem.replace("\n", "\\n")  # how the key fits on one line of .env
    settings: Settings = make_settings(
        database_url=sqlite_url, **ids, **{**apple, "oauth_apple_client_secret": one_line}
    )
    assert settings.oauth_providers == ("apple",)


async def test_a_squatters_linked_provider_is_removed_with_its_password(
    sqlite_url: str, loopback: LoopbackProvider
) -> None:
    """Pre-registration takeover: without verification, someone registers the victim's
    address and links their own GitHub. When the owner proves the address through Google,
    the squatter's way back in must go too."""
    app = create_app(make_settings(database_url=sqlite_url, require_email_verification=False))
    install(app, loopback, "github")
    install(app, loopback, "google")
    async with app.test_app():
        squatter = app.test_client()
        registered = await squatter.post(
            "/auth/register",
            form={
                "csrf_token": await token(squatter, "/auth/register"),
                "email": "grace@example.com",
                "password": PASSWORD,
            },
        )
        assert registered.status_code == 302  # signed in at once: verification is off
        owner_person = loopback.person
        loopback.person = replace(owner_person, subject="person-66", email="mallory@example.com")
        linked = await through_provider(squatter, await post(squatter, "/auth/oauth/github/link"))
        assert linked.status_code == 302
        victim_account = await user_by_email(app, "grace@example.com")
        assert victim_account is not None
        assert await identities(app) == [(victim_account.id, "github", "66")]

        loopback.person = owner_person  # the real owner of grace@example.com, via Google
        assert (await sign_in_with(app.test_client(), "google")).status_code == 302
        assert await identities(app) == [(victim_account.id, "google", "person-1")]
        assert not await is_signed_in(squatter)

        loopback.person = replace(owner_person, subject="person-66", email="mallory@example.com")
        attacker = app.test_client()
        assert (await sign_in_with(attacker, "github")).status_code == 302
        mallory = await user_by_email(app, "mallory@example.com")
        assert mallory is not None
        assert mallory.id != victim_account.id  # GitHub now leads to a new, separate account
