"""Signed, expiring, single-use links (email verification, email change, password reset).

A token signs the user id, its purpose and a fingerprint of the state the link may change
(the email and its verification time, or the password hash). Using the link changes that
state, so the same token never works twice, and no table of issued tokens is needed.
An email-change token also signs the new address: it is what the link confirms.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from service.db.models import User
from service.errors import InvalidInput

Purpose = Literal["verify-email", "reset-password", "change-email"]


class BadLink(InvalidInput):
    """A link that is not valid (any more): expired, altered, or already used."""

    code = "bad_link"


LIFETIMES = {"verify-email": 48 * 3600, "reset-password": 3600, "change-email": 48 * 3600}
NOT_VALID = "This link is not valid. Ask for a new one."


@dataclass(frozen=True)
class TokenSigner:
    secret_keys: tuple[str, ...]  # the current key first, then the ones being retired

    def _serializer(self, purpose: Purpose) -> URLSafeTimedSerializer:
        # The salt separates purposes: a verification link is never a reset link.
        return URLSafeTimedSerializer(list(reversed(self.secret_keys)), salt=f"beacon.{purpose}")

    def issue(self, purpose: Purpose, user: User, *, new_email: str | None = None) -> str:
        """A token for `user`; a change-email token must name the address it confirms."""
        if (purpose == "change-email") != (new_email is not None):
            raise ValueError("new_email goes with the change-email purpose, and only with it")
        claim: list[object] = [user.id, fingerprint(purpose, user)]
        if new_email is not None:
            claim.append(new_email)
        return self._serializer(purpose).dumps(claim)

    def open(self, purpose: Purpose, token: str) -> SignedClaim:
        """What a token claims, once its signature and age are checked."""
        try:
            claim = self._serializer(purpose).loads(token, max_age=LIFETIMES[purpose])
        except SignatureExpired:
            raise BadLink("This link has expired. Ask for a new one.") from None
        except (BadSignature, ValueError, TypeError):
            raise BadLink(NOT_VALID) from None
        size = 3 if purpose == "change-email" else 2
        if not isinstance(claim, list) or len(claim) != size:
            raise BadLink(NOT_VALID)
        user_id, stamp, *rest = claim
        new_email = rest[0] if rest else None
        if (
            not isinstance(user_id, int)
            or not isinstance(stamp, str)
            or not isinstance(new_email, str | None)
        ):
            raise BadLink(NOT_VALID)
        return SignedClaim(purpose, user_id, stamp, new_email)


@dataclass(frozen=True)
class SignedClaim:
    purpose: Purpose
    user_id: int
    stamp: str
    new_email: str | None = None  # the address a change-email link confirms

    def check_still_valid(self, user: User | None) -> User:
        """The user, if the link was not used since it was issued; else InvalidInput."""
        if user is None or user.id != self.user_id:
            raise BadLink(NOT_VALID)
        if self.stamp != fingerprint(self.purpose, user):
            raise BadLink("This link has already been used. Ask for a new one.")
        return user


def fingerprint(purpose: Purpose, user: User) -> str:
    if purpose == "verify-email":
        state = f"{user.email}|{user.email_verified_at}"
    elif purpose == "change-email":
        # Any change of address kills the link, and so does a new password: the owner who
        # gets the "change requested" notice can cancel a change they did not ask for.
        state = f"{user.email}|{user.email_verified_at}|{user.password_hash}"
    else:
        state = f"{user.password_hash}|{user.email}"
    return hashlib.sha256(state.encode()).hexdigest()[:32]
