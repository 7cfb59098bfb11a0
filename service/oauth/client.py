"""One provider's authorization-code flow, on Authlib's async OAuth 2 / OpenID Connect client.

`authorization()` makes the redirect to the provider and the transaction to remember
(state, nonce, PKCE verifier); `profile()` checks the callback against that transaction,
exchanges the code, validates the id token (signature, issuer, audience, expiry, nonce) or
calls the user API, and returns who the provider says the person is.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx2
from authlib.integrations.base_client import BaseApp, OAuthError
from authlib.integrations.base_client.async_app import AsyncOAuth2Mixin
from authlib.integrations.base_client.async_openid import AsyncOpenIDMixin
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc.errors import JoseError

from service.errors import BeaconError, Unavailable
from service.oauth.apple import apple_client_secret
from service.oauth.profiles import ProviderProfile, read_profile
from service.oauth.providers import Provider

log = logging.getLogger(__name__)

HTTP_TIMEOUT_SECONDS = 10
# Clocks drift; a minute of leeway on exp/iat is what the big providers' libraries allow.
ID_TOKEN_LEEWAY_SECONDS = 60
# What a provider's error code may look like before we show it (RFC 6749 §4.1.2.1).
ERROR_CODE = re.compile(r"[a-z_]{1,64}")


class OAuthFailed(BeaconError):
    """The provider did not vouch for this person: cancelled, refused, replayed or forged."""

    status = 400
    code = "oauth_failed"


class _AuthlibApp(AsyncOAuth2Mixin, AsyncOpenIDMixin, BaseApp):  # type: ignore[misc]
    """Authlib's framework-free async app: discovery, PKCE, token exchange, id-token checks."""

    client_cls = AsyncOAuth2Client


@dataclass(frozen=True)
class Authorization:
    url: str
    transaction: dict[str, str]  # kept in the user's session until the callback


class OAuthClient:
    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        client_kwargs: dict[str, Any] = {"scope": provider.scope, "timeout": HTTP_TIMEOUT_SECONDS}
        if provider.pkce:
            client_kwargs["code_challenge_method"] = "S256"
        if provider.apple_key is not None:
            client_kwargs["token_endpoint_auth_method"] = "client_secret_post"  # noqa: S105
        self._app = _AuthlibApp(
            framework=None,  # Beacon keeps the transaction itself (see the blueprint)
            name=provider.name,
            client_id=provider.client_id,
            client_secret=provider.client_secret,
            server_metadata_url=provider.metadata_url,
            authorize_url=provider.authorize_url,
            access_token_url=provider.token_url,
            api_base_url=provider.api_base_url,
            authorize_params={"response_mode": "form_post"} if provider.form_post else None,
            client_kwargs=client_kwargs,
        )

    async def authorization(self, redirect_uri: str) -> Authorization:
        try:
            created = await self._app.create_authorization_url(redirect_uri)
        except (httpx2.HTTPError, ValueError) as error:
            raise self._unavailable(error) from None
        transaction = {"redirect_uri": redirect_uri, "state": created["state"]}
        for name in ("nonce", "code_verifier"):
            if name in created:
                transaction[name] = created[name]
        return Authorization(url=created["url"], transaction=transaction)

    async def profile(
        self, params: Mapping[str, str], transaction: Mapping[str, str]
    ) -> ProviderProfile:
        """Who the provider vouches for, from the callback's parameters; OAuthFailed if not."""
        self._raise_provider_error(params)
        code = params.get("code", "")
        if not code:
            raise OAuthFailed(f"{self.provider.title} sent no authorization code. Try again.")
        try:
            token = await self._exchange(code, transaction)
            claims = (
                await self._id_token_claims(token, transaction) if self.provider.is_openid else {}
            )
            return await read_profile(
                self.provider.name, self._app, token, claims, _apple_user(params)
            )
        except OAuthError as error:
            # invalid_grant is an expired, used or forged code; the others are set-up faults.
            log.warning(
                "oauth token exchange refused",
                extra={"provider": self.provider.name, "error": error.error},
            )
            raise OAuthFailed(
                f"{self.provider.title} did not accept this sign-in (it may have expired). "
                "Try again."
            ) from None
        except JoseError as error:
            log.warning(
                "oauth id token rejected",
                extra={"provider": self.provider.name, "error": error.error},
            )
            raise OAuthFailed(
                f"The answer from {self.provider.title} could not be verified. Try again."
            ) from None
        except (httpx2.HTTPError, ValueError, KeyError, TypeError) as error:
            raise self._unavailable(error) from None

    async def _exchange(self, code: str, transaction: Mapping[str, str]) -> dict[str, Any]:
        if self.provider.apple_key is not None:
            metadata = await self._app.load_server_metadata()
            self._app.client_secret = apple_client_secret(
                self.provider.apple_key,
                client_id=self.provider.client_id,
                audience=metadata["issuer"],
            )
        extra = {}
        if "code_verifier" in transaction:
            extra["code_verifier"] = transaction["code_verifier"]
        token: dict[str, Any] = await self._app.fetch_access_token(
            redirect_uri=transaction["redirect_uri"], code=code, **extra
        )
        return token

    async def _id_token_claims(
        self, token: Mapping[str, Any], transaction: Mapping[str, str]
    ) -> dict[str, Any]:
        if "id_token" not in token:
            raise OAuthFailed(f"{self.provider.title} sent no identity token. Try again.")
        metadata = await self._app.load_server_metadata()
        claims = await self._app.parse_id_token(
            token,
            nonce=transaction.get("nonce"),
            claims_options={
                "iss": issuer_option(metadata["issuer"]),
                "aud": {"essential": True, "value": self.provider.client_id},
                "nonce": {"essential": True},
            },
            leeway=ID_TOKEN_LEEWAY_SECONDS,
        )
        return dict(claims)

    def _raise_provider_error(self, params: Mapping[str, str]) -> None:
        error = params.get("error")
        if not error:
            return
        if error in {"access_denied", "user_cancelled_authorize"}:
            raise OAuthFailed(f"Signing in with {self.provider.title} was cancelled.")
        shown = error if ERROR_CODE.fullmatch(error) else "unknown"
        raise OAuthFailed(f"{self.provider.title} could not sign you in ({shown}). Try again.")

    def _unavailable(self, error: Exception) -> Unavailable:
        log.warning(
            "oauth provider unreachable or answered badly",
            extra={"provider": self.provider.name, "error": type(error).__name__},
        )
        return Unavailable(f"{self.provider.title} is not answering right now. Try again soon.")


def issuer_option(issuer: str) -> dict[str, Any]:
    """How to check `iss`. Microsoft's multi-tenant endpoints publish the issuer as a template,
    `https://login.microsoftonline.com/{tenantid}/v2.0`: the token's own `tid` fills it in."""
    if "{tenantid}" not in issuer:
        return {"essential": True, "value": issuer}

    def matches_tenant(claims: Mapping[str, Any], value: Any) -> bool:
        tenant = claims.get("tid")
        return isinstance(tenant, str) and value == issuer.replace("{tenantid}", tenant)

    return {"essential": True, "validate": matches_tenant}


def _apple_user(params: Mapping[str, str]) -> dict[str, Any]:
    """Apple sends the person's name once, in a `user` JSON field of the first callback."""
    try:
        user = json.loads(params.get("user") or "{}")
    except ValueError:
        return {}
    return user if isinstance(user, dict) else {}
