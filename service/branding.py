"""BRAND_PRIMARY_COLOR as Bootstrap's primary colour, in a stylesheet built from the setting.

Bootstrap 5.3 compiles its primary colour into many places: the `--bs-primary*` and link
custom properties, and each component's own variables (buttons, pills, pagination, form
focus). The stylesheet here overrides exactly those, in both colour modes, with the shades
Bootstrap's Sass would derive (`tint-color`, `shade-color`). The CSP forbids inline styles, so
it is served as a file (`/brand.css?v=<hash>`) rather than put in the page.

Accessibility: text drawn in the brand colour (links, emphasis, the focus ring) is darkened in
light mode or lightened in dark mode until it reaches 4.5:1 against the page (WCAG AA), and text
on a primary background is white when that reaches 4.5:1 (as Bootstrap chooses), else black or
white, whichever contrasts more (one of the two always reaches 4.58:1).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

RGB = tuple[int, int, int]
WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)
LIGHT_BODY: RGB = (255, 255, 255)  # Bootstrap's --bs-body-bg in each mode
DARK_BODY: RGB = (33, 37, 41)
AA_TEXT = 4.5


def parse_hex(color: str) -> RGB:
    value = color.removeprefix("#")
    if len(value) != 6:
        raise ValueError(f"{color!r} is not #rrggbb")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def to_hex(rgb: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def mix(first: RGB, second: RGB, weight: float) -> RGB:
    """Sass `mix()`: `weight` of `first`, the rest of `second`."""
    r, g, b = (round(a * weight + c * (1 - weight)) for a, c in zip(first, second, strict=True))
    return r, g, b


def tint(color: RGB, weight: float) -> RGB:
    return mix(WHITE, color, weight)


def shade(color: RGB, weight: float) -> RGB:
    return mix(BLACK, color, weight)


def luminance(rgb: RGB) -> float:
    """WCAG 2 relative luminance."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: RGB, second: RGB) -> float:
    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def readable_on(background: RGB, color: RGB, minimum: float = AA_TEXT) -> RGB:
    """`color`, darkened or lightened (away from `background`) until it is readable on it."""
    toward = BLACK if luminance(background) > 0.18 else WHITE
    step = 0.0
    adjusted = color
    while contrast(adjusted, background) < minimum and step < 1:
        step = min(1.0, step + 0.05)
        adjusted = mix(toward, color, step)
    return adjusted


def text_on(background: RGB) -> RGB:
    """White when it is readable on `background` (as Bootstrap's `color-contrast()` picks),
    else whichever of black and white is more readable."""
    if contrast(WHITE, background) >= AA_TEXT:
        return WHITE
    return WHITE if contrast(WHITE, background) >= contrast(BLACK, background) else BLACK


def rgb_list(rgb: RGB) -> str:
    return "{}, {}, {}".format(*rgb)


@dataclass(frozen=True)
class BrandStylesheet:
    text: str
    version: str  # a content hash, for the cache-busting URL


def build_stylesheet(primary_hex: str) -> BrandStylesheet:
    primary = parse_hex(primary_hex)
    on_primary = text_on(primary)
    hover, active = shade(primary, 0.15), shade(primary, 0.2)
    link_light = readable_on(LIGHT_BODY, primary)
    link_dark = readable_on(DARK_BODY, tint(primary, 0.4))
    focus_rgb = rgb_list(primary)
    modes = {
        ":root,\n[data-bs-theme=light]": {
            "--bs-primary-text-emphasis": readable_on(LIGHT_BODY, shade(primary, 0.6)),
            "--bs-primary-bg-subtle": tint(primary, 0.8),
            "--bs-primary-border-subtle": tint(primary, 0.6),
            "--bs-link-color": link_light,
            "--bs-link-hover-color": readable_on(LIGHT_BODY, shade(link_light, 0.2)),
        },
        "[data-bs-theme=dark]": {
            "--bs-primary-text-emphasis": readable_on(DARK_BODY, tint(primary, 0.4)),
            "--bs-primary-bg-subtle": shade(primary, 0.8),
            "--bs-primary-border-subtle": shade(primary, 0.4),
            "--bs-link-color": link_dark,
            "--bs-link-hover-color": readable_on(DARK_BODY, tint(link_dark, 0.2)),
        },
    }
    blocks = []
    for selector, colours in modes.items():
        lines = [f"  {name}: {to_hex(rgb)};" for name, rgb in colours.items()]
        for name in ("--bs-link-color", "--bs-link-hover-color"):
            lines.append(f"  {name}-rgb: {rgb_list(colours[name])};")
        lines.append(f"  --beacon-focus: {to_hex(colours['--bs-link-color'])};")
        blocks.append(selector + " {\n" + "\n".join(lines) + "\n}")
    text = TEMPLATE.format(
        primary=to_hex(primary),
        primary_rgb=rgb_list(primary),
        on_primary=to_hex(on_primary),
        hover=to_hex(hover),
        hover_border=to_hex(shade(primary, 0.2)),
        active=to_hex(active),
        active_border=to_hex(shade(primary, 0.25)),
        focus_border=to_hex(tint(primary, 0.5)),
        focus_rgb=focus_rgb,
        range_active=to_hex(tint(primary, 0.7)),
        modes="\n\n".join(blocks),
    )
    return BrandStylesheet(text, hashlib.sha256(text.encode()).hexdigest()[:12])


TEMPLATE = """/* Generated from BRAND_PRIMARY_COLOR by service/branding.py. */
:root,
[data-bs-theme] {{
  --bs-primary: {primary};
  --bs-primary-rgb: {primary_rgb};
  --bs-focus-ring-color: rgba({focus_rgb}, 0.25);
}}

{modes}

.btn-primary {{
  --bs-btn-color: {on_primary};
  --bs-btn-bg: {primary};
  --bs-btn-border-color: {primary};
  --bs-btn-hover-color: {on_primary};
  --bs-btn-hover-bg: {hover};
  --bs-btn-hover-border-color: {hover_border};
  --bs-btn-focus-shadow-rgb: {focus_rgb};
  --bs-btn-active-color: {on_primary};
  --bs-btn-active-bg: {active};
  --bs-btn-active-border-color: {active_border};
  --bs-btn-disabled-color: {on_primary};
  --bs-btn-disabled-bg: {primary};
  --bs-btn-disabled-border-color: {primary};
}}

.btn-outline-primary {{
  --bs-btn-color: var(--bs-link-color);
  --bs-btn-border-color: {primary};
  --bs-btn-hover-color: {on_primary};
  --bs-btn-hover-bg: {primary};
  --bs-btn-hover-border-color: {primary};
  --bs-btn-focus-shadow-rgb: {focus_rgb};
  --bs-btn-active-color: {on_primary};
  --bs-btn-active-bg: {primary};
  --bs-btn-active-border-color: {primary};
  --bs-btn-disabled-color: var(--bs-link-color);
  --bs-btn-disabled-border-color: {primary};
}}

.text-bg-primary {{
  color: {on_primary} !important;
}}

.nav-pills {{
  --bs-nav-pills-link-active-color: {on_primary};
  --bs-nav-pills-link-active-bg: {primary};
}}

.dropdown-menu {{
  --bs-dropdown-link-active-color: {on_primary};
  --bs-dropdown-link-active-bg: {primary};
}}

.list-group {{
  --bs-list-group-active-color: {on_primary};
  --bs-list-group-active-bg: {primary};
  --bs-list-group-active-border-color: {primary};
}}

.pagination {{
  --bs-pagination-active-color: {on_primary};
  --bs-pagination-active-bg: {primary};
  --bs-pagination-active-border-color: {primary};
  --bs-pagination-focus-box-shadow: 0 0 0 0.25rem rgba({focus_rgb}, 0.25);
}}

.progress,
.progress-stacked {{
  --bs-progress-bar-bg: {primary};
  --bs-progress-bar-color: {on_primary};
}}

.form-control:focus,
.form-select:focus,
.form-check-input:focus {{
  border-color: {focus_border};
  box-shadow: 0 0 0 0.25rem rgba({focus_rgb}, 0.25);
}}

.form-check-input:checked {{
  background-color: {primary};
  border-color: {primary};
}}

.form-range::-webkit-slider-thumb {{
  background-color: {primary};
}}

.form-range::-webkit-slider-thumb:active {{
  background-color: {range_active};
}}

.form-range::-moz-range-thumb {{
  background-color: {primary};
}}
"""
