"""BRAND_PRIMARY_COLOR as Bootstrap's primary colour, readable in both colour modes."""

from __future__ import annotations

import re

import pytest

from service.branding import (
    AA_TEXT,
    DARK_BODY,
    LIGHT_BODY,
    build_stylesheet,
    contrast,
    parse_hex,
    readable_on,
    text_on,
)

# Bootstrap's own blue, and colours a deployer might pick that are hard to read on white
# (yellow, cyan), on the dark page (navy, black) or on both (mid grey).
COLOURS = ["#0d6efd", "#ffc107", "#0dcaf0", "#001f3f", "#000000", "#ffffff", "#808080", "#6f42c1"]


def declared(css: str, selector: str, name: str) -> str:
    block = re.search(re.escape(selector) + r" \{(.*?)\n\}", css, re.S)
    assert block, selector
    value = re.search(rf"{re.escape(name)}: (#[0-9a-f]{{6}});", block.group(1))
    assert value, (selector, name)
    return value.group(1)


def test_contrast_matches_wcag_reference_values() -> None:
    assert contrast((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast(parse_hex("#0d6efd"), (255, 255, 255)) == pytest.approx(4.50, abs=0.01)
    assert contrast(parse_hex("#777777"), (255, 255, 255)) == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("colour", COLOURS)
def test_brand_text_is_readable_in_both_modes(colour: str) -> None:
    css = build_stylesheet(colour).text
    modes = ((":root,\n[data-bs-theme=light]", LIGHT_BODY), ("[data-bs-theme=dark]", DARK_BODY))
    names = (
        "--bs-link-color",
        "--bs-link-hover-color",
        "--bs-primary-text-emphasis",
        "--beacon-focus",
    )
    for selector, page in modes:
        for name in names:
            value = parse_hex(declared(css, selector, name))
            assert contrast(value, page) >= AA_TEXT, (colour, selector, name)


@pytest.mark.parametrize("colour", COLOURS)
def test_text_on_the_primary_colour_is_readable(colour: str) -> None:
    primary = parse_hex(colour)
    assert contrast(text_on(primary), primary) >= AA_TEXT
    css = build_stylesheet(colour).text
    assert (
        f"--bs-btn-color: {'#ffffff' if text_on(primary) == (255, 255, 255) else '#000000'};" in css
    )


def test_bootstraps_own_blue_keeps_bootstraps_look() -> None:
    css = build_stylesheet("#0d6efd").text
    assert "--bs-primary: #0d6efd;" in css
    assert "--bs-btn-color: #ffffff;" in css  # white on blue, as Bootstrap draws it
    assert declared(css, ":root,\n[data-bs-theme=light]", "--bs-link-color") == "#0d6efd"
    assert declared(css, "[data-bs-theme=dark]", "--bs-link-color") == "#6ea8fe"  # Bootstrap's


def test_an_unreadable_colour_is_moved_only_as_far_as_needed() -> None:
    yellow = parse_hex("#ffc107")
    adjusted = readable_on(LIGHT_BODY, yellow)
    assert contrast(adjusted, LIGHT_BODY) >= AA_TEXT
    assert contrast(readable_on(LIGHT_BODY, adjusted), LIGHT_BODY) == contrast(adjusted, LIGHT_BODY)
    assert readable_on(LIGHT_BODY, (0, 0, 0)) == (0, 0, 0)  # already readable: unchanged


def test_the_stylesheet_version_follows_its_content() -> None:
    assert build_stylesheet("#0d6efd").version == build_stylesheet("#0D6EFD").version
    assert build_stylesheet("#0d6efd").version != build_stylesheet("#6f42c1").version
