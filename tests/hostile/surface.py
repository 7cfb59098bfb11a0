"""The app's attack surface, discovered rather than listed: routes from `app.url_map`, pages
by crawling the links a visitor, a user and an admin can follow, and every <form> (with its
fields) parsed from those pages. New pages and forms are covered without touching the tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from quart import Quart
from quart.typing import TestClientProtocol as QuartClient

from service.csrf import EXEMPT_ATTRIBUTE

# Streams never end, so a test client would wait forever for their body; they have their
# own probes (test_requests.py, test_raw_http.py). Static files are not the app's input.
NOT_CRAWLED = ("/stream/", "/static/")
MAX_PAGES = 60
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # the input's type (text, email, password, hidden, checkbox, ...), or the tag
    value: str


@dataclass(frozen=True)
class Form:
    page: str  # where it was found
    method: str
    action: str  # path and query, as the page gives it
    fields: tuple[Field, ...]

    @property
    def path(self) -> str:
        return urlsplit(self.action).path

    @property
    def shape(self) -> tuple[str, str, tuple[str, ...]]:
        """What makes two forms the same form: method, target (ids aside) and field names."""
        return self.method, re.sub(r"\d+", "N", self.path), tuple(f.name for f in self.fields)

    def defaults(self) -> dict[str, str]:
        """What a browser sends untouched: every named field with its value (checkboxes on)."""
        return {f.name: f.value for f in self.fields}


# Fields whose value the page chooses (the user picks among them, or never sees them); the
# value of any other field is the user's to type, and starts empty.
CHOSEN = frozenset({"hidden", "checkbox", "radio", "select"})


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[tuple[str, str, list[Field]]] = []
        self.links: list[str] = []
        self.in_form = False
        self.select: str | None = None  # the open <select>, until its first <option>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "a" and "href" in values:
            self.links.append(values["href"])
        elif tag == "form":
            self.in_form = True
            self.forms.append((values.get("method", "get").upper(), values.get("action", ""), []))
        elif self.in_form and tag == "option" and self.select is not None:
            self.add(Field(self.select, "select", values.get("value", "")))
            self.select = None
        elif self.in_form and tag == "select" and "name" in values:
            self.select = values["name"]
        elif self.in_form and tag in {"input", "textarea"} and "name" in values:
            kind = values.get("type", "text").lower() if tag == "input" else tag
            if kind not in {"submit", "button", "image", "reset"}:
                self.add(Field(values["name"], kind, values.get("value", "on")))

    def add(self, field: Field) -> None:
        """A field, once per name (a group of radio buttons is one field: its first choice)."""
        fields = self.forms[-1][2]
        if all(known.name != field.name for known in fields):
            fields.append(field)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_form = False


def parse_page(page: str, html: str) -> tuple[list[Form], list[str]]:
    """The forms on a page and the same-site paths it links to."""
    parser = _PageParser()
    parser.feed(html)
    forms = []
    for method, action, fields in parser.forms:
        target = urljoin(page, action or page)
        parts = urlsplit(target)
        if parts.netloc:
            continue  # a form that leaves the site is not ours to post to
        values = tuple(Field(f.name, f.kind, f.value if f.kind in CHOSEN else "") for f in fields)
        action_path = parts.path + (f"?{parts.query}" if parts.query else "")
        forms.append(Form(page, method, action_path, values))
    links = []
    for href in parser.links:
        parts = urlsplit(urljoin(page, href))
        if parts.scheme in {"", "http"} and parts.netloc in {"", "localhost"}:
            links.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return forms, links


def page_rules(app: Quart) -> list[str]:
    """GET routes without path variables: pages anyone might open directly."""
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in (rule.methods or set()) and not rule.arguments and crawlable(rule.rule)
    )


def crawlable(path: str) -> bool:
    return not path.startswith(NOT_CRAWLED) and not path.startswith("/auth/oauth/")


async def crawl(
    app: Quart, client: QuartClient, extra: tuple[str, ...] = ()
) -> dict[str, tuple[int, str]]:
    """Every page this client reaches from the routes and the links on their pages:
    {path: (status, html)}, HTML pages only, redirects not followed."""
    queue = [*page_rules(app), *extra]
    seen: dict[str, tuple[int, str]] = {}
    while queue and len(seen) < MAX_PAGES:
        path = queue.pop(0)
        if path in seen or not crawlable(path):
            continue
        response = await client.get(path, headers={"Accept": "text/html"})
        body = await response.get_data(as_text=True)
        seen[path] = (response.status_code, body)
        if response.mimetype == "text/html":
            queue += parse_page(path, body)[1]
    return seen


def forms_on(pages: dict[str, tuple[int, str]]) -> list[Form]:
    """Each distinct form on these pages (same method, target and fields: found once)."""
    found: dict[tuple[str, str, tuple[str, ...]], Form] = {}
    for path, (_status, html) in pages.items():
        for form in parse_page(path, html)[0]:
            found.setdefault(form.shape, form)
    return list(found.values())


def state_changing_routes(app: Quart, *, csrf_exempt: bool = True) -> list[tuple[str, str]]:
    """(method, path) of every POST, PUT, PATCH and DELETE route, path variables filled in;
    `csrf_exempt=False` leaves out views exempt from CSRF checks (they guard themselves)."""
    routes = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if not csrf_exempt and getattr(view, EXEMPT_ATTRIBUTE, False):
            continue
        for method in sorted((rule.methods or set()) & STATE_CHANGING):
            routes.append((method, concrete(rule.rule)))
    return routes


def concrete(rule: str, value: str = "x") -> str:
    """A path for a rule: numbers for int variables, `value` for the rest."""
    return re.sub(r"<[^>]+>", value, re.sub(r"<int:[^>]+>", "1", rule))


def csrf_of(html: str) -> str:
    """The page's CSRF token (every page carries it in a meta tag)."""
    match = CSRF_META.search(html)
    assert match, "no csrf-token meta tag on the page"
    return match.group(1)
