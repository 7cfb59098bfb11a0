"""The domain error tree, and the one place that turns any error into an HTTP answer.

    BeaconError                 an expected failure a user can act on (4xx)
     ├── InvalidInput           422: the input broke a rule
     ├── NotAllowed             403: the actor may not do this
     ├── NotFound               404: no such thing (or not visible to the actor)
     ├── Conflict               409: the state does not allow it (e.g. email taken)
     ├── TooManyAttempts        429: slow down; carries Retry-After seconds
     └── Unavailable            503: a dependency is down; try again later

The database being down, locked or out of pooled connections (a reconnect storm) is also a
503 with Retry-After, never a 500: the client's request was fine and will work again.

Pages get a styled HTML page and API clients (`/api/...` or `Accept: application/json`) get
`{"error": ..., "message": ...}`. Nothing else reaches a client: an unexpected exception is
logged with the request id and answered as a plain 500.
"""

from __future__ import annotations

import errno
import logging

from quart import Quart, Response, jsonify, render_template, request
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class BeaconError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(BeaconError):
    status = 422
    code = "invalid_input"


class Unauthenticated(BeaconError):
    """No session (or no valid token) where one is needed: 401, never a redirect."""

    status = 401
    code = "unauthorized"


class NotAllowed(BeaconError):
    status = 403
    code = "forbidden"


class NotFound(BeaconError):
    status = 404
    code = "not_found"


class Conflict(BeaconError):
    status = 409
    code = "conflict"


class TooManyAttempts(BeaconError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(BeaconError):
    status = 503
    code = "unavailable"


RETRY_AFTER_UNAVAILABLE = 5  # seconds; a busy or restarting database is back within that


def wants_json() -> bool:
    """API and stream paths, and clients that prefer JSON over HTML, get JSON errors."""
    if request.path.startswith(("/api/", "/stream/")):  # scripts, not people, call these
        return True
    accept = request.accept_mimetypes
    return accept.best_match(["text/html", "application/json"]) == "application/json"


async def render_error(status: int, code: str, title: str, message: str) -> Response:
    """The error as JSON or as a styled page, whichever the client asked for."""
    if wants_json():
        response = jsonify(error=code, message=message)
    else:
        html = await render_template(
            "errors/error.html", status=status, title=title, message=message
        )
        response = Response(html, mimetype="text/html")
    response.status_code = status
    return response


async def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    name = error.name or "Error"
    code = name.lower().replace(" ", "_")
    response = await render_error(status, code, name, error.description or name)
    for header, value in error.get_headers():  # Allow on 405, Retry-After on 429, ...
        if header.lower() != "content-type":
            response.headers[header] = value
    return response


async def handle_beacon_error(error: BeaconError) -> Response:
    title = error.code.replace("_", " ").capitalize()
    response = await render_error(error.status, error.code, title, error.message)
    if isinstance(error, TooManyAttempts):
        response.headers["Retry-After"] = str(error.retry_after)
    elif isinstance(error, Unavailable):
        response.headers["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE)
    return response


async def handle_database_unavailable(error: Exception) -> Response:
    # The cause goes to the log (its class only: driver messages may name hosts); the client
    # learns only that it may try again.
    log.warning(
        "database unavailable on %s %s: %s", request.method, request.path, type(error).__name__
    )
    return await handle_beacon_error(
        Unavailable("The service is busy or its database is unreachable. Please try again.")
    )


async def handle_unexpected(error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return await render_error(
        500,
        "internal_server_error",
        "Internal Server Error",
        "Something went wrong on our side. It has been logged; please try again.",
    )


async def handle_undecodable_body(_error: UnicodeDecodeError) -> Response:
    # Quart decodes a JSON body strictly before parsing it; bytes that are not UTF-8 are
    # the client's mistake.
    return await render_error(400, "bad_request", "Bad request", "The body is not valid UTF-8.")


async def handle_os_error(error: OSError) -> Response:
    # A file name longer than the file system takes (GET /static/AAAA...) is no file here;
    # any other operating-system error is unexpected.
    if error.errno == errno.ENAMETOOLONG:
        return await handle_beacon_error(NotFound("There is no such file."))
    return await handle_unexpected(error)


def register_error_handlers(app: Quart) -> None:
    app.register_error_handler(UnicodeDecodeError, handle_undecodable_body)
    app.register_error_handler(OSError, handle_os_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(BeaconError, handle_beacon_error)
    for error in (PoolTimeout, OperationalError, InterfaceError):
        app.register_error_handler(error, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
