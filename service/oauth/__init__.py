"""Sign-in with Google, Microsoft, Apple, GitHub and Facebook, on Authlib's async client."""

from __future__ import annotations

from typing import Any

from quart import Quart, current_app

from service.config import Settings
from service.errors import NotFound
from service.oauth.client import OAuthClient
from service.oauth.providers import configured_providers

EXTENSION = "oauth"


def init_oauth(app: Quart, settings: Settings) -> None:
    """One client per configured provider; a provider without id and secret does not exist."""
    app.extensions[EXTENSION] = {
        name: OAuthClient(provider) for name, provider in configured_providers(settings).items()
    }

    @app.context_processor
    async def inject_sign_in_options() -> dict[str, Any]:
        return {
            "sign_in_providers": sign_in_providers(),
            "password_login": settings.password_login,
        }


def oauth_clients() -> dict[str, OAuthClient]:
    clients: dict[str, OAuthClient] = current_app.extensions[EXTENSION]
    return clients


def oauth_client(name: str) -> OAuthClient:
    client = oauth_clients().get(name)
    if client is None:
        raise NotFound("Signing in with that provider is not available on this site.")
    return client


def sign_in_providers() -> list[tuple[str, str]]:
    """(name, title) of each provider people can use here, for the sign-in buttons."""
    return [(name, client.provider.title) for name, client in oauth_clients().items()]
