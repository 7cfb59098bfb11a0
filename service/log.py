"""Logging for journald: JSON lines in production, readable lines in development.

Every line logged while a request is handled carries that request's id.
"""

from __future__ import annotations

import json
import logging
import random
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from quart import Quart, Response, has_request_context, request, websocket

from service.config import Settings

REQUEST_ID_HEADER = "X-Request-ID"
# An id from a trusted proxy is kept only when it is short and harmless in a log line.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request being handled, or '-'."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, the shape journald and log shippers index well."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s"


def configure_logging(settings: Settings) -> None:
    """Send every log line to stderr in the format the settings ask for (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if settings.json_logs else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "beacon", False)]:
        root.removeHandler(old)
    handler.beacon = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # The HTTP client logs every URL it fetches at INFO, OAuth codes and states included.
    for chatty in ("httpx2", "httpcore2"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))


def assign_request_id(app: Quart, incoming: str | bytes | None) -> str:
    """This request's id: a well-formed one from a trusted proxy, else a new one. Log lines
    of the running task carry it from now on (each request runs in a task of its own)."""
    if isinstance(incoming, bytes):
        incoming = incoming.decode("latin-1")
    trusted = app.config["TRUSTED_PROXY_HOPS"] > 0 and _SAFE_REQUEST_ID.fullmatch(incoming or "")
    # An id names a request in the logs; it guards nothing, so a fast PRNG will do.
    request_id = incoming if trusted and incoming else f"{random.getrandbits(64):016x}"
    request_id_var.set(request_id)
    return request_id


def register_request_ids(app: Quart) -> None:
    """Give every request and websocket an id: in its log lines and in a response header."""

    async def assign() -> None:
        connection = request if has_request_context() else websocket
        assign_request_id(app, connection.headers.get(REQUEST_ID_HEADER))

    async def echo_request_id(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = request_id_var.get()
        return response

    app.before_request(assign)
    app.before_websocket(assign)
    app.after_request(echo_request_id)
