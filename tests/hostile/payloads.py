"""Hostile inputs, one table per kind, and what must never come back.

A payload is text (sent as UTF-8; a lone surrogate goes as its UTF-8-style bytes) or raw
bytes (sent percent-encoded as they are, so the server sees bytes that are not UTF-8).
"""

from __future__ import annotations

import re
from urllib.parse import quote_plus, urlsplit

Payload = str | bytes

XSS: dict[str, Payload] = {
    "script-tag": '<script>alert("hostile")</script>',
    "attribute-break": '"><img src=x onerror=alert(1)>',
    "single-quote-break": "'><svg onload=alert(1)>",
    "javascript-url": "javascript:alert(1)",
}
TEMPLATE: dict[str, Payload] = {
    "jinja-expression": "{{7*7777}}",
    "jinja-statement": "{% print(7*7777) %}",
    "jinja-config": "{{config.SECRET_KEY}}{{config}}",
    "dollar-expression": "${7*7777}#{7*7777}",
}
SQL: dict[str, Payload] = {
    "quote-or": "' OR '1'='1' -- ",
    "drop-table": "x'); DROP TABLE users; --",
    "union": "x' UNION SELECT password_hash FROM users --",
    "like-wildcards": "%_%' OR 1=1 #",
    "backslash-quote": "\\'; SELECT SLEEP(5); --",
}
UNICODE: dict[str, Payload] = {
    "nul": "ada\x00@example.com",
    "rtl-override": "\u202egnp.exe@example.com",
    "combining-marks": "Z" + "\u0301\u0302\u0303\u0304" * 40,
    "zero-width": "\u200bada\u200d@example.com\ufeff",
    "lone-surrogate": "ada\ud800@example.com",
    "astral": "\U0001f600\U0001d54f@example.com",
    "crlf": "ada@example.com\r\nBcc: victim@example.com",
    "long": "A" * 5000,
    "empty": "",
    "blank": " \t ",
}
RAW: dict[str, Payload] = {
    "invalid-utf8": b"\xff\xfeada",
    "overlong-slash": b"\xc0\xaf",
    "encoded-surrogate": b"\xed\xa0\x80",
    "truncated-sequence": b"ada\xe2\x82",
}
NUMBERS: dict[str, Payload] = {
    "superscript-digit": "\u00b2",  # str.isdigit() says yes, int() says no
    "arabic-indic-digits": "\u0661\u0662",
    "negative": "-1",
    "huge-number": "9" * 40,  # past every database integer
    "too-many-digits": "9" * 5000,  # past int()'s 4300-digit limit
    "exponent": "1e999",
}
FIELD_PAYLOADS: dict[str, Payload] = {**XSS, **TEMPLATE, **SQL, **UNICODE, **RAW, **NUMBERS}

# Seen in an answer, these mean a payload was rendered rather than shown as text.
RENDERED = (
    '<script>alert("hostile")',
    "<img src=x onerror=",
    "<svg onload=",
    str(7 * 7777),  # a template evaluated the expression
)
TRACE = re.compile(r"Traceback \(most recent call last\)|File \"/|sqlalchemy\.exc|pymysql\.err")


def encode(value: Payload) -> str:
    """A form or query value, percent-encoded as a browser would (bytes as they are)."""
    raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
    return quote_plus(raw)


def form_body(fields: dict[str, Payload]) -> bytes:
    return "&".join(f"{quote_plus(name)}={encode(v)}" for name, v in fields.items()).encode()


# `next=` targets that must never leave the site.
OPEN_REDIRECTS = (
    "//evil.example",
    "///evil.example",
    "https://evil.example/",
    "http:evil.example",
    "HTTPS://EVIL.EXAMPLE",
    "https://localhost@evil.example",
    "@evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "https:/\\evil.example",
    "/%2F%2Fevil.example",
    "%2F%2Fevil.example",
    "/%5Cevil.example",
    "/%252F%252Fevil.example",
    "/%09/evil.example",
    "/\t/evil.example",
    "/\r\n/evil.example",
    "/\x00/evil.example",
    " //evil.example",
    "/%0d%0aSet-Cookie:%20a=b",
    "/\u2215\u2215evil.example",  # division slashes
    "/\uff0f\uff0fevil.example",  # fullwidth solidus
    "//evil\u3002example",  # ideographic full stop
    "/\u202e//evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "\ud800//evil.example",
)


def stays_on_site(location: str) -> bool:
    """Whether a browser following this Location stays on this site: a path, no host.

    Browsers drop tabs and newlines from URLs and read backslashes as slashes, so the
    check does too.
    """
    seen = re.sub(r"[\t\r\n]", "", location).replace("\\", "/")
    parts = urlsplit(seen)
    return (
        location.startswith("/")
        and not seen.startswith("//")
        and not parts.scheme
        and not parts.netloc
        and location.isascii()
        and location.isprintable()
    )


def assert_handled(status: int, body: str, what: object) -> None:
    """Bad input gets a 4xx (or a deliberate 503), never a 500 or a trace of the code."""
    assert status < 500 or status == 503, (status, brief(what), body[:300])
    assert not TRACE.search(body), (brief(what), body[:2000])


def assert_shown_as_text(html: str, what: object) -> None:
    for marker in RENDERED:
        assert marker not in html, (marker, brief(what))


def brief(what: object) -> str:
    """What was sent, short enough to read in a failure."""
    text = repr(what)
    return text if len(text) < 300 else f"{text[:200]}...({len(text)} characters)"
