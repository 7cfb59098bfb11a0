"""The pages fed by the event stream: the dashboard's widgets and the live event list.

The views only render the page; static/js/stream.js connects it to /stream/events, /stream/ws
or the polling API, as STREAM_TRANSPORTS allows.
"""

from __future__ import annotations

from quart import Blueprint, ResponseReturnValue, render_template, request

from service.auth import login_required
from service.events.demo import SYMBOLS
from service.events.topics import BadSubscription, parse_patterns, parse_types
from service.pages import page_required

bp = Blueprint("live", __name__)

MAX_EVENTS_SHOWN = 200  # the live page keeps at most this many rows


@bp.get("/dashboard")
@page_required("dashboard")
@login_required
async def dashboard() -> str:
    return await render_template("pages/dashboard.html", symbols=SYMBOLS)


@bp.get("/live")
@page_required("live-stream")
@login_required
async def events() -> ResponseReturnValue:
    """The live list; `topics` and `types` pre-fill its filter (checked here, as the stream
    endpoints would: a bad filter gets the page back with the reason, 422)."""
    topics, types = request.args.get("topics", ""), request.args.get("types", "")
    try:
        parse_patterns(topics)
        parse_types(types)
    except BadSubscription as error:
        html = await render_template(
            "pages/live.html",
            max_events=MAX_EVENTS_SHOWN,
            topics=topics,
            types=types,
            error=f"That filter does not work: {error}.",
        )
        return html, 422
    return await render_template(
        "pages/live.html", max_events=MAX_EVENTS_SHOWN, topics=topics, types=types
    )
