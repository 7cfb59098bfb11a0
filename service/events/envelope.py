"""The event envelope, validated once where an event enters the system.

On the wire (RabbitMQ exchange `beacon.events`, routing key = topic) a message body is
`{"type", "payload", "key"?, "timestamp"?}`; any program in any language can publish one.
The bus adds what it owns: `id` (the stream offset, the same in every worker) and, when the
producer gave none, `timestamp`. Browsers receive the whole envelope.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# Dotted lower-case names: `ticker`, `metrics.cpu`, `user.42`. No wildcards: those belong
# to subscriptions, not to events.
TOPIC_PATTERN = r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$"
Topic = Annotated[str, Field(min_length=1, max_length=200, pattern=TOPIC_PATTERN)]
EventType = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Key = Annotated[str, Field(min_length=1, max_length=200)]


class BadEvent(ValueError):
    """A message that is not a valid event: not JSON, wrong shape, or too large."""


class Published(BaseModel):
    """What a producer sends: the message body, with the topic as its routing key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: EventType
    payload: dict[str, Any]
    key: Key | None = None
    timestamp: datetime | None = None

    @field_validator("timestamp")
    @classmethod
    def _aware_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("must carry a time zone (ISO 8601 with Z or +00:00)")
        try:
            return value.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00+01:00 is before the first UTC instant
            raise ValueError("is out of range") from None


class Event(BaseModel):
    """An event as every consumer and browser sees it."""

    model_config = ConfigDict(frozen=True)

    id: int
    topic: Topic
    type: EventType
    timestamp: datetime
    payload: dict[str, Any]
    key: Key | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "topic": self.topic,
                "type": self.type,
                "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
                "payload": self.payload,
                "key": self.key,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        )


class Draft(BaseModel):
    """An event on its way to the bus: everything but the id."""

    model_config = ConfigDict(frozen=True)

    topic: Topic
    message: Published

    def body(self) -> bytes:
        return self.message.model_dump_json(exclude_none=True).encode()


def draft(
    topic: str,
    type: str,  # the envelope calls it type; shadowing the builtin here is harmless
    payload: dict[str, Any],
    *,
    key: str | None = None,
    timestamp: datetime | None = None,
    max_bytes: int,
) -> Draft:
    """A checked event from a producer's arguments; BadEvent says what is wrong."""
    try:
        result = Draft(
            topic=topic,
            # Stamped here, to the microsecond: AMQP's own timestamp has whole seconds only.
            message=Published(
                type=type, payload=payload, key=key, timestamp=timestamp or datetime.now(UTC)
            ),
        )
    except ValidationError as error:
        raise BadEvent(describe(error)) from None
    check_strict_json(result.message.payload)
    size = len(result.body())
    if size > max_bytes:
        raise BadEvent(f"event is {size} bytes; the limit is {max_bytes} (EVENT_MAX_BYTES)")
    return result


def check_strict_json(payload: dict[str, Any]) -> None:
    """BadEvent unless the payload is JSON as browsers parse it.

    Python's json writes NaN and Infinity (JSON.parse refuses them), and text with a lone
    surrogate ("\ud800", in a key or a value) has no UTF-8 form: pydantic would turn a key's
    into U+FFFD while the in-process bus hands the payload on as it is, and the hub, encoding
    it for every client, would fail on it.
    """
    try:
        json.dumps(payload, allow_nan=False, ensure_ascii=False).encode()
    except UnicodeError:
        raise BadEvent("payload: contains text that is not valid Unicode") from None
    except ValueError:
        raise BadEvent("payload: numbers must be finite (no NaN or Infinity)") from None


def received(
    body: bytes, *, topic: str, offset: int, published_at: datetime | None, max_bytes: int
) -> Event:
    """The event a message from the bus carries; BadEvent (poison) if it carries none."""
    if len(body) > max_bytes:
        raise BadEvent(f"{len(body)} bytes; the limit is {max_bytes}")
    try:
        message = Published.model_validate_json(body)
        check_strict_json(message.payload)  # raw AMQP producers may send NaN or 1e999
        return Event(
            id=offset,
            topic=topic,
            type=message.type,
            timestamp=message.timestamp or published_at or datetime.now(UTC),
            payload=message.payload,
            key=message.key,
        )
    except ValidationError as error:
        raise BadEvent(describe(error)) from None


def describe(error: ValidationError) -> str:
    """One line naming each bad field, without echoing the (maybe huge) input."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "body"
        problems.append(f"{where}: {item['msg']}")
    return "; ".join(problems)
