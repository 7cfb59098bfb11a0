"""Checks on a page's HTML that hold for every page: well nested, no inline script or style
(the CSP would block them), landmarks, unique ids, and a label for every form control."""

from __future__ import annotations

from html.parser import HTMLParser

VOID = frozenset(
    "area base br col embed hr img input link meta source track wbr".split()  # noqa: SIM905
)
# Elements the HTML parser may close implicitly; everything else must be closed explicitly.
OPTIONAL_END = frozenset("li p tr td th thead tbody option dt dd".split())  # noqa: SIM905
UNLABELLED_INPUTS = frozenset({"hidden", "submit", "button", "reset", "image"})


class PageChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.stack: list[str] = []
        self.ids: set[str] = set()
        self.label_for: set[str] = set()
        self.controls: list[tuple[str, dict[str, str | None]]] = []
        self.landmarks: dict[str, int] = {}
        self.label_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if "style" in attributes:
            self.problems.append(f"inline style on <{tag}>")
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "script" and not attributes.get("src"):
            self.problems.append("inline <script>")
        if any(name.startswith("on") for name in attributes):
            self.problems.append(f"inline event handler on <{tag}>")
        element_id = attributes.get("id")
        if element_id:
            if element_id in self.ids:
                self.problems.append(f"duplicate id {element_id!r}")
            self.ids.add(element_id)
        if tag in {"main", "header", "footer", "nav"}:
            self.landmarks[tag] = self.landmarks.get(tag, 0) + 1
        if tag == "label":
            self.label_depth += 1
            if attributes.get("for"):
                self.label_for.add(str(attributes["for"]))
        if tag in {"input", "select", "textarea"}:
            kind = (attributes.get("type") or "text").lower()
            if kind not in UNLABELLED_INPUTS and not self.label_depth:
                self.controls.append((tag, attributes))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self.stack and self.stack[-1] == tag:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.label_depth = max(0, self.label_depth - 1)
        if tag in VOID:
            return
        while self.stack and self.stack[-1] != tag and self.stack[-1] in OPTIONAL_END:
            self.stack.pop()
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(
                f"</{tag}> does not close <{self.stack[-1] if self.stack else ''}>"
            )
            return
        self.stack.pop()

    def finish(self) -> list[str]:
        self.close()
        open_tags = [t for t in self.stack if t not in OPTIONAL_END]
        if open_tags:
            self.problems.append(f"never closed: {open_tags}")
        if self.landmarks.get("main") != 1:
            self.problems.append(f"{self.landmarks.get('main', 0)} <main> elements")
        if not self.landmarks.get("nav"):
            self.problems.append("no <nav>")
        for tag, attributes in self.controls:
            labelled = (
                attributes.get("aria-label")
                or attributes.get("aria-labelledby")
                or attributes.get("id") in self.label_for
            )
            if not labelled:
                self.problems.append(f"<{tag} name={attributes.get('name')!r}> has no label")
        return self.problems


def markup_problems(html: str) -> list[str]:
    checker = PageChecker()
    checker.feed(html)
    return checker.finish()
