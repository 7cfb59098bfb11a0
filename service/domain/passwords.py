"""Password hashing (Argon2id) and the password policy.

Hashing costs ~0.1 s of CPU by design, so it runs in a thread: the event loop keeps serving
streams while a login is checked.
"""

from __future__ import annotations

import asyncio
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from service.errors import InvalidInput

MIN_LENGTH = 10
MAX_LENGTH = 1024  # Argon2 takes any length; this bounds the work an attacker can ask for

_hasher = PasswordHasher()  # argon2-cffi's defaults: Argon2id, RFC 9106 low-memory profile


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; a missing hash is checked against a dummy one.

    Checking something in every case keeps the time of a failed login the same whether or
    not the account exists (no user enumeration by timing).
    """
    target = password_hash or await dummy_hash()
    try:
        await asyncio.to_thread(_hasher.verify, target, password)
    except (VerificationError, InvalidHashError):
        return False
    return password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with other parameters than today's (rehash on login)."""
    return _hasher.check_needs_rehash(password_hash)


_dummy_hash: str | None = None


async def dummy_hash() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = await hash_password("not-a-real-password")
    return _dummy_hash


@cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords from zxcvbn's frequency lists."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # large: load only when needed

    return frozenset(FREQUENCY_LISTS["passwords"])


def check_password_policy(password: str, *, email: str | None) -> None:
    """Raise InvalidInput with a helpful message when `password` breaks the policy."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"Use at least {MIN_LENGTH} characters for your password.")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"Use at most {MAX_LENGTH} characters for your password.")
    lowered = password.lower()
    if email and lowered in {email.lower(), email.lower().split("@", 1)[0]}:
        raise InvalidInput("Your password must not be your email address.")
    if lowered in common_passwords() or len(set(password)) < 3:
        raise InvalidInput("That password is too common; choose one that is harder to guess.")
