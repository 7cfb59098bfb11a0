"""The sign-in providers Beacon knows, and which of them this site has switched on.

A provider is plain data: where its endpoints are and how it behaves. Tests point the same
data at an OpenID provider on loopback; nothing else about the flow changes.
"""
# ruff: noqa: S106 (token_url names an endpoint, not a password)

from __future__ import annotations

from dataclasses import dataclass

from service.config import Settings

TITLES = {
    "google": "Google",
    "microsoft": "Microsoft",
    "apple": "Apple",
    "github": "GitHub",
    "facebook": "Facebook",
}


@dataclass(frozen=True)
class AppleSigningKey:
    """Apple has no fixed client secret: the client signs one with this key (ES256)."""

    team_id: str
    key_id: str
    private_key_pem: str


@dataclass(frozen=True)
class Provider:
    name: str
    title: str
    client_id: str
    client_secret: str
    scope: str
    # OpenID Connect providers are described by their discovery document; the others by
    # fixed endpoints and a user API.
    metadata_url: str | None = None
    authorize_url: str | None = None
    token_url: str | None = None
    api_base_url: str | None = None
    pkce: bool = True
    form_post: bool = False  # the provider POSTs the callback (Apple, when it shares a name)
    apple_key: AppleSigningKey | None = None

    @property
    def is_openid(self) -> bool:
        return self.metadata_url is not None


def configured_providers(settings: Settings) -> dict[str, Provider]:
    """The providers whose client id and secret are set, by name, in the order of the settings."""
    catalog = {
        "google": lambda: Provider(
            name="google",
            title=TITLES["google"],
            client_id=settings.oauth_google_client_id,
            client_secret=settings.oauth_google_client_secret.get_secret_value(),
            scope="openid email profile",
            metadata_url="https://accounts.google.com/.well-known/openid-configuration",
        ),
        "microsoft": lambda: Provider(
            name="microsoft",
            title=TITLES["microsoft"],
            client_id=settings.oauth_microsoft_client_id,
            client_secret=settings.oauth_microsoft_client_secret.get_secret_value(),
            scope="openid email profile",
            metadata_url=(
                f"https://login.microsoftonline.com/{settings.oauth_microsoft_tenant}"
                "/v2.0/.well-known/openid-configuration"
            ),
        ),
        "apple": lambda: Provider(
            name="apple",
            title=TITLES["apple"],
            client_id=settings.oauth_apple_client_id,
            client_secret="",  # signed per sign-in from apple_key
            scope="openid email name",
            metadata_url="https://appleid.apple.com/.well-known/openid-configuration",
            pkce=False,  # Apple's REST API does not take PKCE; state and nonce still apply
            form_post=True,  # Apple requires form_post when name or email is asked for
            apple_key=AppleSigningKey(
                team_id=settings.oauth_apple_team_id,
                key_id=settings.oauth_apple_key_id,
                private_key_pem=settings.apple_private_key,
            ),
        ),
        "github": lambda: Provider(
            name="github",
            title=TITLES["github"],
            client_id=settings.oauth_github_client_id,
            client_secret=settings.oauth_github_client_secret.get_secret_value(),
            scope="read:user user:email",
            authorize_url="https://github.com/login/oauth/authorize",
            token_url="https://github.com/login/oauth/access_token",
            api_base_url="https://api.github.com/",
        ),
        "facebook": lambda: Provider(
            name="facebook",
            title=TITLES["facebook"],
            client_id=settings.oauth_facebook_client_id,
            client_secret=settings.oauth_facebook_client_secret.get_secret_value(),
            scope="email public_profile",
            authorize_url="https://www.facebook.com/v21.0/dialog/oauth",
            token_url="https://graph.facebook.com/v21.0/oauth/access_token",
            api_base_url="https://graph.facebook.com/v21.0/",
            pkce=False,  # Facebook's web login documents no PKCE; state protects the flow
        ),
    }
    return {name: catalog[name]() for name in settings.oauth_providers}
