"""Signed, expiring, single-use links (email verification, password reset).

A token signs the user id, its purpose and a fingerprint of the state the link may change
(the email and its verification time, or the password hash). Using the link changes that
state, so the same token never works twice, and no table of issued tokens is needed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from service.db.models import User
from service.errors import InvalidInput

Purpose = Literal["verify-email", "reset-password"]


class BadLink(InvalidInput):
    """A link that is not valid (any more): expired, altered, or already used."""

    code = "bad_link"


LIFETIMES = {"verify-email": 48 * 3600, "reset-password": 3600}


@dataclass(frozen=True)
class TokenSigner:
    secret_keys: tuple[str, ...]  # the current key first, then the ones being retired

    def _serializer(self, purpose: Purpose) -> URLSafeTimedSerializer:
        # The salt separates purposes: a verification link is never a reset link.
        return URLSafeTimedSerializer(list(reversed(self.secret_keys)), salt=f"beacon.{purpose}")

    def issue(self, purpose: Purpose, user: User) -> str:
        return self._serializer(purpose).dumps([user.id, fingerprint(purpose, user)])

    def open(self, purpose: Purpose, token: str) -> SignedClaim:
        """What a token claims, once its signature and age are checked."""
        try:
            user_id, stamp = self._serializer(purpose).loads(token, max_age=LIFETIMES[purpose])
        except SignatureExpired:
            raise BadLink("This link has expired. Ask for a new one.") from None
        except (BadSignature, ValueError, TypeError):
            raise BadLink("This link is not valid. Ask for a new one.") from None
        if not isinstance(user_id, int) or not isinstance(stamp, str):
            raise BadLink("This link is not valid. Ask for a new one.")
        return SignedClaim(purpose, user_id, stamp)


@dataclass(frozen=True)
class SignedClaim:
    purpose: Purpose
    user_id: int
    stamp: str

    def check_still_valid(self, user: User | None) -> User:
        """The user, if the link was not used since it was issued; else InvalidInput."""
        if user is None or user.id != self.user_id:
            raise BadLink("This link is not valid. Ask for a new one.")
        if self.stamp != fingerprint(self.purpose, user):
            raise BadLink("This link has already been used. Ask for a new one.")
        return user


def fingerprint(purpose: Purpose, user: User) -> str:
    if purpose == "verify-email":
        state = f"{user.email}|{user.email_verified_at}"
    else:
        state = f"{user.password_hash}|{user.email}"
    return hashlib.sha256(state.encode()).hexdigest()[:32]
