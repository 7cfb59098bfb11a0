"""Use cases: accounts, sessions, tokens. No Quart here; the web layer calls in."""
