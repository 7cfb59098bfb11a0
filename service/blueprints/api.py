"""The JSON API under /api/v1, described by the OpenAPI document at /api/openapi.json.

POST /api/v1/events   publish an event: admins (session cookie + CSRF token) or producers
                      (`Authorization: Bearer <PRODUCER_TOKEN>`)
GET  /api/v1/events   the polling transport (service/blueprints/stream.py)
GET  /api/v1/stats    this worker's stream statistics (administrators)
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from quart import Blueprint, Quart, request
from quart_schema import (
    DataSource,
    OpenAPIProvider,
    QuartSchema,
    RequestSchemaValidationError,
    document_response,
    security_scheme,
    validate_request,
    validate_response,
)
from werkzeug.routing import Rule

from service.auth import auth_cookie_name, current_session
from service.config import Settings
from service.errors import InvalidInput, NotAllowed, Unauthenticated, render_error
from service.events.envelope import BadEvent, EventType, Key, Topic, describe, draft
from service.events.runtime import events
from service.extensions import current_settings

bp = Blueprint("api", __name__, url_prefix="/api/v1")

P = ParamSpec("P")
T = TypeVar("T")
V = TypeVar("V", bound=Callable[..., Any])


class PublishRequest(BaseModel):
    """An event to publish; the bus gives it its id (and its timestamp, if none is given)."""

    model_config = ConfigDict(extra="forbid")

    topic: Topic
    type: EventType
    payload: dict[str, Any]
    key: Key | None = None
    timestamp: datetime | None = None


class Accepted(BaseModel):
    accepted: bool
    topic: str
    type: str


class Problem(BaseModel):
    """Every error the API answers: a code to branch on and a sentence to show."""

    error: str
    message: str


def document_problems(*statuses: int) -> Callable[[V], V]:
    """Declare the error answers a route gives, so clients (and the fuzzer) know them."""

    def decorator(view: V) -> V:
        for status in statuses:
            view = document_response(Problem, status)(view)
        return view

    return decorator


# Who may call: a producer's bearer token, or a signed-in session (its cookie).
PRODUCER_OR_SESSION: list[dict[str, list[str]]] = [{"producerToken": []}, {"session": []}]
SESSION: list[dict[str, list[str]]] = [{"session": []}]


def producer_required(view: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Producers with the token, or signed-in admins; checked before the body is read."""

    @wraps(view)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        header = request.headers.get("Authorization", "")
        token = current_settings().producer_token.get_secret_value()
        if header.startswith("Bearer "):
            if not token or not hmac.compare_digest(header[7:].encode(), token.encode()):
                raise Unauthenticated("That producer token is not valid.")
            return await view(*args, **kwargs)
        login_session = await current_session()
        if login_session is None:
            raise Unauthenticated("Send a producer token or sign in as an administrator.")
        if not login_session.user.is_admin:
            raise NotAllowed("Only administrators and producers may publish events.")
        return await view(*args, **kwargs)

    return wrapper


@bp.post("/events")
@security_scheme(PRODUCER_OR_SESSION)
@document_problems(400, 401, 403, 413, 422, 503)
@producer_required
@validate_request(PublishRequest)
@validate_response(Accepted, 202)
async def publish_event(data: PublishRequest) -> tuple[Accepted, int]:
    """Publish an event.

    Fans out to every signed-in viewer allowed to see its topic. Returns once the broker has
    confirmed it (202), 422 for an invalid or too large event, 503 if the broker is down.
    """
    try:
        event = draft(
            data.topic,
            data.type,
            data.payload,
            key=data.key,
            timestamp=data.timestamp,
            max_bytes=current_settings().event_max_bytes,
        )
    except BadEvent as error:
        raise InvalidInput(str(error)) from None
    await events().bus.publish(event)
    return Accepted(accepted=True, topic=data.topic, type=data.type), 202


class StreamStats(BaseModel):
    instance: str  # host:pid of the worker that answered (every figure is per worker)
    connections: dict[str, int]
    subscribers: int
    subscribers_per_topic: dict[str, int]
    consumed: int
    delivered: int
    dropped: int
    slow_disconnects: int
    consumer_lag_ms: int | None
    latest_id: int | None
    broker: str
    tasks: int
    open_files: int | None


@bp.get("/stats")
@security_scheme(SESSION)
@document_problems(401, 403, 503)
@validate_response(StreamStats)
async def stream_stats() -> StreamStats:
    """This worker's stream statistics.

    Connections by transport, subscribers per topic pattern, events consumed from the bus,
    frames delivered and dropped, slow clients cut off, consumer lag (now minus the newest
    event's timestamp), the broker's state, and the process's asyncio tasks and open files
    (both return to their baseline when streams end). Administrators only.
    """
    login_session = await current_session()
    if login_session is None:
        raise Unauthenticated("Sign in as an administrator.")
    if not login_session.user.is_admin:
        raise NotAllowed("Only administrators see stream statistics.")
    return StreamStats.model_validate(events().stats())


class ApiOnly(OpenAPIProvider):
    """The OpenAPI document covers the JSON API, not the HTML pages."""

    def generate_rules(self) -> Iterable[Rule]:
        return (rule for rule in super().generate_rules() if rule.rule.startswith("/api/v1/"))

    def build_request_body(
        self, model: type[Any], source: DataSource
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        # A route that validates a body refuses a request without one: say so.
        body, definitions = super().build_request_body(model, source)
        return {**body, "required": True}, definitions


def init_api(app: Quart, settings: Settings) -> None:
    QuartSchema(
        app,
        openapi_path="/api/openapi.json",
        # The interactive viewers load scripts from CDNs, which the CSP forbids.
        swagger_ui_path=None,
        redoc_ui_path=None,
        scalar_ui_path=None,
        info={"title": f"{settings.app_name} API", "version": "1"},
        security_schemes={
            "producerToken": {"type": "http", "scheme": "bearer"},
            "session": {"type": "apiKey", "in_": "cookie", "name": auth_cookie_name(settings)},
        },
        openapi_provider_class=ApiOnly,
    )

    @app.errorhandler(RequestSchemaValidationError)
    async def invalid_body(error: RequestSchemaValidationError) -> Any:
        cause = error.validation_error
        message = (
            describe(cause) if isinstance(cause, ValidationError) else "The body must be JSON."
        )
        return await render_error(422, "invalid_input", "Invalid input", message)
