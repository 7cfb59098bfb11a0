"""Every route of `app.url_map` (and the event stream in front of it), as a visitor and as an
admin, with hostile path variables, query strings, headers, cookies and methods: a 4xx or
an ordinary answer, never a 500 or a trace. OAuth routes run with two providers configured
against the loopback provider, so their code runs rather than answering 404."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as QuartClient

from service.redirects import safe_next
from tests.accounts import PASSWORD
from tests.blueprints.test_oauth import install
from tests.hostile.conftest import new_user
from tests.hostile.payloads import (
    FIELD_PAYLOADS,
    NUMBERS,
    OPEN_REDIRECTS,
    assert_handled,
    assert_shown_as_text,
    encode,
    stays_on_site,
)
from tests.hostile.surface import concrete, csrf_of
from tests.oidc_provider import LoopbackProvider

pytestmark = pytest.mark.usefixtures("running_app")

# Names the app reads from query strings (and a few it might, some day).
QUERY_NAMES = (
    "next", "q", "page", "topics", "types", "after", "last_event_id", "state", "code",
    "error", "error_description", "user", "token", "id",
)  # fmt: skip
# One of each kind (the form fields get them all): each is sent to every route as every name.
QUERY_PAYLOADS = {
    name: FIELD_PAYLOADS[name]
    for name in (
        "script-tag", "attribute-break", "jinja-expression", "quote-or", "nul", "rtl-override",
        "lone-surrogate", "crlf", "long", "empty", "invalid-utf8", "overlong-slash",
        *NUMBERS,
    )
}  # fmt: skip
PATH_VALUES: dict[str, str] = {
    "script": "<script>alert(1)</script>",
    "traversal": "..%2F..%2F..%2Fetc%2Fpasswd",
    "dot-dot": "../../../etc/passwd",
    "nul": "%00",
    "invalid-utf8": "%FF%FE",
    "encoded-surrogate": "%ED%A0%80",
    "unicode": "%E2%80%AEgnp",
    "long": "A" * 4000,
    "sql": "1%27%20OR%20%271%27%3D%271",
    "huge-number": "9" * 40,
    "negative": "-1",
    "github": "github",  # a configured provider, so the views go past their 404
}
# Hostile headers, grouped where they cannot mask each other (each group is one request).
HEADERS: dict[str, dict[str, str]] = {
    "accept-json-and-forwarded": {
        "Accept": "application/json",
        "X-Forwarded-For": "<script>, 1.2.3.4, ::1",
        "X-Forwarded-Proto": "gopher",
        "X-Forwarded-Host": "evil.example",
        "Forwarded": 'for="[::1";x',
    },
    "accept-garbage-and-long-values": {
        "Accept": "*/*;q=abc, text/html;q=-1, ;;;",
        "Accept-Language": "x" * 3000 + ";q=1.0",
        "User-Agent": '<script>alert("hostile")</script>' * 100,
        "X-Request-ID": "<script>; X-Injected: 1" + "x" * 500,
        "If-Modified-Since": "not a date",
        "If-None-Match": '"' * 100,
        "Range": "bytes=99999999-1, -0, x",
        "Last-Event-ID": "-99999999999999999999999",
    },
    "host-evil": {"Host": "evil.example"},
    "host-garbage": {"Host": "localhost:99999:x"},
    "content-type-garbage": {"Content-Type": "multipart/form-data; boundary="},
    "content-length-lie": {"Content-Length": "999999999999999999999"},
    "cross-site": {"Sec-Fetch-Site": "cross-site", "Origin": "null"},
    "authorization-basic": {"Authorization": "Basic " + "=" * 50},
    "authorization-bearer": {"Authorization": "Bearer \u00ff" + "x" * 5000},
}
COOKIES: dict[str, str] = {
    "session-garbage": "session=garbage.not.signed",
    "session-token-garbage": "session_token=eyJ..%%%",
    "host-prefixed": "__Host-session=x; __Secure-x=y",
    "quoted": 'session="\\"\\\\\\x00"; session_token=""',
    "many": "; ".join(f"c{n}=v" for n in range(300)),
    "huge": "session=" + "A" * 8000,
    "latin1": "session=\u00ff\u00fe",
    "no-equals": "session; ;;; =; =x",
}


@pytest.fixture(autouse=True)
def loopback(app: Quart) -> Iterator[LoopbackProvider]:
    """Two configured providers; the only place besides this site a redirect may lead."""
    provider = LoopbackProvider()
    provider.start()
    install(app, provider, "github")
    install(app, provider, "google")
    PROVIDERS.append(provider.base_url + "/")
    yield provider
    PROVIDERS.remove(provider.base_url + "/")
    provider.stop()


PROVIDERS: list[str] = []


def route_paths(app: Quart, values: tuple[str, ...] = ("github",)) -> list[tuple[str, str]]:
    """(method, path) for every route and method, each path variable filled in with each of
    `values` (by default the configured provider's name, so OAuth views run). The event
    stream, which is no Quart route, has its own probes in test_raw_http.py."""
    found = []
    for rule in app.url_map.iter_rules():
        methods = sorted((rule.methods or set()) - {"OPTIONS", "HEAD"})
        paths = {concrete(rule.rule, value) for value in values} if rule.arguments else {rule.rule}
        found += [(method, path) for method in methods for path in sorted(paths)]
    # Signing out last, so a signed-in client stays signed in for everything else.
    return sorted(found, key=lambda route: route[1].endswith("/logout"))


async def clients(app: Quart) -> dict[str, QuartClient]:
    admin, _ = await new_user(app, admin=True)
    return {"visitor": app.test_client(), "admin": admin}


async def probe(
    client: QuartClient, method: str, path: str, token: str, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    """Send one request (with the client's CSRF token); check what comes back."""
    response = await client.open(
        path, method=method, headers={"X-CSRF-Token": token, **(headers or {})}
    )
    body = await response.get_data(as_text=True)
    what = (method, path, headers)
    assert_handled(response.status_code, body, what)
    if response.mimetype == "application/json":  # may quote the input; never read as HTML
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    else:
        assert_shown_as_text(body, what)
    if "Location" in response.headers:
        location = response.headers["Location"]
        assert stays_on_site(location) or location.startswith(tuple(PROVIDERS)), (what, location)
    return response.status_code, body


async def tokens(app: Quart, roles: dict[str, QuartClient]) -> dict[str, str]:
    return {
        role: csrf_of(await (await client.get("/auth/login")).get_data(as_text=True))
        for role, client in roles.items()
    }


async def test_hostile_path_variables_and_methods(app: Quart) -> None:
    roles = await clients(app)
    csrf = await tokens(app, roles)
    probes = 0
    for role, client in roles.items():
        for method, path in route_paths(app, tuple(PATH_VALUES.values())):
            for unexpected in ("PUT", "DELETE", method):  # 405s carry their Allow header
                await probe(client, unexpected, path, csrf[role])
                probes += 1
    assert probes > 300


async def test_hostile_query_strings_on_every_route(app: Quart) -> None:
    for payload in QUERY_PAYLOADS.values():
        roles = await clients(app)
        csrf = await tokens(app, roles)
        query = "&".join(f"{name}={encode(payload)}" for name in QUERY_NAMES)
        for role, client in roles.items():
            for method, path in route_paths(app):
                await probe(client, method, f"{path}?{query}", csrf[role])


async def test_hostile_headers_on_every_route(app: Quart) -> None:
    for headers in HEADERS.values():
        roles = await clients(app)
        csrf = await tokens(app, roles)
        for role, client in roles.items():
            for method, path in route_paths(app):
                await probe(client, method, path, csrf[role], headers=headers)


@pytest.mark.parametrize("cookie", COOKIES.values(), ids=COOKIES.keys())
async def test_hostile_cookies_are_no_session(app: Quart, cookie: str) -> None:
    client = app.test_client()
    for path in ("/", "/settings", "/admin", "/api/v1/events", "/api/v1/stats"):
        response = await client.get(path, headers={"Cookie": cookie})
        body = await response.get_data(as_text=True)
        assert_handled(response.status_code, body, (path, cookie))
        assert response.status_code in {200, 302, 401}, (path, response.status_code)
    login = await client.post("/auth/login", headers={"Cookie": cookie})
    assert login.status_code == 403  # no session, so no CSRF secret: refused, not a 500


async def test_next_never_leaves_the_site(app: Quart) -> None:
    """Signing in with a hostile `next` lands where a sign-in without one does (the welcome
    page, or home); every other route, given the same `next`, redirects (if at all) to a path
    on this site."""
    _client, email = await new_user(app)
    for target in OPEN_REDIRECTS:
        visitor = app.test_client()
        html = await (await visitor.get("/auth/login")).get_data(as_text=True)
        query = f"next={encode(target)}"
        signed = await visitor.post(
            f"/auth/login?{query}",
            form={"csrf_token": csrf_of(html), "email": email, "password": PASSWORD},
        )
        assert signed.status_code == 302
        assert signed.headers["Location"] in {"/", "/welcome"}, (target, signed.headers)
        for method, path in route_paths(app):
            if method == "GET":
                await probe(app.test_client(), method, f"{path}?{query}", "")


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_safe_next_refuses_every_open_redirect(target: str) -> None:
    assert safe_next(target, "/home") == "/home"
    assert stays_on_site(safe_next(target, "/home"))


@pytest.mark.parametrize(
    "target", ["/", "/settings", "/admin?q=a%20b&page=2", "/caf%C3%A9", "/a/b.c-d_e~f?x=%2F"]
)
def test_safe_next_keeps_same_site_paths(target: str) -> None:
    assert safe_next(target, "/home") == target


@pytest.mark.parametrize("topics", ["a%0A.b", "a.%23%0A.b", "metrics.%2A%0A.cpu"])
async def test_topic_patterns_match_whole_segments(app: Quart, topics: str) -> None:
    """`$` in a regex also matches before a final newline: `a\\n.b` was a topic pattern
    (whitespace around a whole pattern is trimmed, as before)."""
    client, _ = await new_user(app)
    response = await client.get(f"/api/v1/events?after=0&topics={topics}")
    assert response.status_code == 422
