"""Rate limits for the routes attackers hammer, keyed by the real client address.

The key is `request.remote_addr` after trusted-proxy handling, never a header a client can
forge (quart-rate-limiter's default reads the left-most X-Forwarded-For). Limits live in
memory (one worker) or in Redis when RATE_LIMIT_STORAGE_URL is set (several workers share it).
"""

from __future__ import annotations

from datetime import timedelta

from quart import Quart, request
from quart_rate_limiter import RateLimit, RateLimiter
from quart_rate_limiter.redis_store import RedisStore
from quart_rate_limiter.store import MemoryStore, RateLimiterStoreABC

from service.config import Settings


async def client_address() -> str:
    return request.remote_addr or "unknown"


async def is_page_view() -> bool:
    """Showing a form costs nothing to guard; submitting it is what gets limited."""
    return request.method in {"GET", "HEAD"}


# What one address may submit to each auth form: a burst, then a steady rate.
AUTH_LIMITS = [
    RateLimit(10, timedelta(minutes=1), skip_function=is_page_view),
    RateLimit(100, timedelta(hours=1), skip_function=is_page_view),
]
# Links from emails are opened with GET, so every request to them counts.
LINK_LIMITS = [RateLimit(10, timedelta(minutes=1)), RateLimit(100, timedelta(hours=1))]


def register_rate_limits(app: Quart, settings: Settings) -> None:
    store: RateLimiterStoreABC = (
        RedisStore(settings.rate_limit_storage_url)
        if settings.rate_limit_storage_url
        else MemoryStore()
    )
    # One limiter per app: its store and settings must not leak between apps (tests).
    RateLimiter(app, key_function=client_address, store=store, enabled=settings.rate_limits)
