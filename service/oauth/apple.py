"""Apple's client secret: a short-lived ES256 JWT signed with the developer's .p8 key."""

from __future__ import annotations

import time

from joserfc import jwt
from joserfc.jwk import ECKey

from service.oauth.providers import AppleSigningKey

APPLE_AUDIENCE = "https://appleid.apple.com"
# Apple accepts up to six months; a secret that lives minutes is worthless if it leaks.
LIFETIME_SECONDS = 300


def apple_client_secret(
    key: AppleSigningKey,
    *,
    client_id: str,
    audience: str = APPLE_AUDIENCE,
    now: float | None = None,
) -> str:
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": key.team_id,
        "iat": issued,
        "exp": issued + LIFETIME_SECONDS,
        "aud": audience,
        "sub": client_id,
    }
    header = {"alg": "ES256", "kid": key.key_id}
    return jwt.encode(header, claims, ECKey.import_key(key.private_key_pem))
