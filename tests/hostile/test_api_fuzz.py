"""The JSON API fuzzed from its own OpenAPI document (/api/openapi.json) with schemathesis,
in process over ASGI (the app's lifespan runs in schemathesis's event-loop thread): for
generated valid and invalid requests, as a producer (bearer token), as an admin (session
cookie) and as nobody, no 5xx and every answer as the document says (status code, content
type, body schema, headers). Bounded and derandomized: the same cases on every run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.generation.modes import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from service import create_app
from tests.conftest import make_settings, migrate
from tests.hostile.conftest import PRODUCER_TOKEN
from tests.live_server import create_user

ADMIN = "fuzz-admin@example.com"
EXAMPLES = 60  # per test, spread over the operations: six tests, about 4 s each


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The app's schema, loaded from the app itself, and an admin's session cookies and CSRF
    token."""
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    database_url = f"sqlite+aiosqlite:///{tmp / 'beacon.db'}"
    migrate(database_url)
    create_user(database_url, tmp, ADMIN, "--admin")
    app = create_app(
        make_settings(
            database_url=database_url,
            producer_token=PRODUCER_TOKEN,
            rate_limits=False,
            mail_outbox_dir=tmp / "outbox",
        )
    )
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    with asgi.get_client(app) as browser:
        page = browser.get("/auth/login").text
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed = browser.post(
            "/auth/login",
            data={"csrf_token": token, "email": ADMIN, "password": "correct horse battery"},
            allow_redirects=False,
        )
        assert signed.status_code == 302
        home = browser.get("/").text
        csrf = home.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        cookies = dict(browser.cookies)
    yield {"schema": schema, "cookies": cookies, "csrf": csrf}
    asgi.shutdown_lifespans()


CALLERS = ("producer", "admin", "nobody")


def credentials(caller: str, api: dict[str, Any]) -> dict[str, Any]:
    if caller == "producer":
        return {"headers": {"Authorization": f"Bearer {PRODUCER_TOKEN}"}}
    if caller == "admin":  # a session, and the CSRF token its pages carry
        return {"cookies": api["cookies"], "headers": {"X-CSRF-Token": api["csrf"]}}
    return {}


def excluded(caller: str) -> list[Any]:
    """Checks that cannot hold here, and why.

    positive_data_acceptance: the document gives each field's shape; rules beyond shapes (a
    topic pattern's grammar, an event's size, strict JSON) answer 422, which it declares.
    ignored_auth, for an admin: publishing takes a producer token *or* a session, so an
    invented bearer header beside the admin's valid session is rightly not refused.
    """
    checks = [positive_data_acceptance]
    if caller == "admin":
        checks.append(ignored_auth)
    return checks


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("caller", CALLERS)
def test_the_api_answers_as_its_document_says(
    api: dict[str, Any], mode: GenerationMode, caller: str
) -> None:
    """Cases for every operation, valid ones (POSITIVE) and ones that break the document
    (NEGATIVE, which must be refused with a 4xx), sent by each kind of caller."""
    calls: list[str] = []

    strategy = api["schema"].as_strategy(generation_mode=mode, **credentials(caller, api))

    @given(case=strategy)
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Any) -> None:
        response = case.call_and_validate(excluded_checks=excluded(caller))
        calls.append(f"{case.method} {case.path} {response.status_code}")

    fuzz()
    assert len(calls) >= EXAMPLES // 2  # generation ran, not just the schema loaded
