"""Who a provider says the person is, and whether it vouches for their email address.

An email counts as verified only when the provider asserts it; Beacon matches existing
accounts on verified addresses alone, so each provider's rule here is a security decision.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

# Microsoft's tenant for personal accounts: their email is the Microsoft account itself.
MICROSOFT_CONSUMER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"


@dataclass(frozen=True)
class ProviderProfile:
    provider: str
    subject: str  # the provider's stable id for the person; never the email
    email: str | None
    email_verified: bool
    display_name: str


class UserApi(Protocol):
    """The part of Authlib's app the user APIs need: an authorised GET."""

    async def get(self, url: str, **kwargs: Any) -> Any: ...


def _truthy(value: Any) -> bool:
    # Apple sends booleans as the strings "true"/"false"; Microsoft's xms_edov may be "1".
    return value is True or (isinstance(value, str) and value.lower() in {"true", "1"})


def _from_claims(
    provider: str, claims: Mapping[str, Any], *, verified: bool, name: str = ""
) -> ProviderProfile:
    email = claims.get("email")
    email = email if isinstance(email, str) and email else None
    return ProviderProfile(
        provider=provider,
        subject=str(claims["sub"]),
        email=email,
        email_verified=verified and email is not None,
        display_name=name or str(claims.get("name") or ""),
    )


async def _google(
    _api: UserApi, _token: Mapping[str, Any], claims: Mapping[str, Any], _extra: Mapping[str, Any]
) -> ProviderProfile:
    return _from_claims("google", claims, verified=_truthy(claims.get("email_verified")))


async def _microsoft(
    _api: UserApi, _token: Mapping[str, Any], claims: Mapping[str, Any], _extra: Mapping[str, Any]
) -> ProviderProfile:
    # Entra ID lets tenant admins set any address on a work account without proof, so its
    # `email` is trusted only with `xms_edov` (domain owner verified) or for personal accounts.
    verified = (
        _truthy(claims.get("email_verified"))
        or _truthy(claims.get("xms_edov"))
        or claims.get("tid") == MICROSOFT_CONSUMER_TENANT
    )
    return _from_claims("microsoft", claims, verified=verified)


async def _apple(
    _api: UserApi, _token: Mapping[str, Any], claims: Mapping[str, Any], extra: Mapping[str, Any]
) -> ProviderProfile:
    name = extra.get("name")
    if not isinstance(name, dict):
        name = {}
    full = " ".join(str(name.get(part) or "") for part in ("firstName", "lastName")).strip()
    return _from_claims("apple", claims, verified=_truthy(claims.get("email_verified")), name=full)


async def _github(
    api: UserApi, token: Mapping[str, Any], _claims: Mapping[str, Any], _extra: Mapping[str, Any]
) -> ProviderProfile:
    user = await _get_json(api, "user", token)
    emails = await _get_json(api, "user/emails", token)
    # The primary address, and only if GitHub has verified it; never just any listed one.
    primary = next(
        (e for e in emails if isinstance(e, dict) and e.get("primary") and e.get("verified")),
        None,
    )
    return ProviderProfile(
        provider="github",
        subject=str(user["id"]),
        email=str(primary["email"]) if primary else None,
        email_verified=primary is not None,
        display_name=str(user.get("name") or user.get("login") or ""),
    )


async def _facebook(
    api: UserApi, token: Mapping[str, Any], _claims: Mapping[str, Any], _extra: Mapping[str, Any]
) -> ProviderProfile:
    me = await _get_json(api, "me?fields=id,name,email", token)
    email = me.get("email") or None
    # The Graph API returns an address only once Facebook has confirmed it.
    return ProviderProfile(
        provider="facebook",
        subject=str(me["id"]),
        email=str(email) if email else None,
        email_verified=email is not None,
        display_name=str(me.get("name") or ""),
    )


async def _get_json(api: UserApi, path: str, token: Mapping[str, Any]) -> Any:
    response = await api.get(path, token=dict(token))
    response.raise_for_status()
    return response.json()


Reader = Callable[
    [UserApi, Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]], Awaitable[ProviderProfile]
]
READERS: dict[str, Reader] = {
    "google": _google,
    "microsoft": _microsoft,
    "apple": _apple,
    "github": _github,
    "facebook": _facebook,
}


async def read_profile(
    provider: str,
    api: UserApi,
    token: Mapping[str, Any],
    claims: Mapping[str, Any],
    extra: Mapping[str, Any],
) -> ProviderProfile:
    return await READERS[provider](api, token, claims, extra)
