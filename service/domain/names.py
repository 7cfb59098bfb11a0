"""Display names: what is kept of the name a person or a provider gives.

A name is shown to its owner, in the navigation bar and to administrators, next to other
people's names. So it keeps letters, marks, digits, symbols, spaces and the joiners emoji
need, in NFC form, and loses what could hide or disguise text: control characters (NUL,
line breaks), lone surrogates, private-use and unassigned code points, and the bidirectional
overrides, embeddings and isolates that reorder text around them ("Trojan Source").
"""

from __future__ import annotations

import unicodedata

MAX_DISPLAY_NAME = 100
_DROPPED_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn"})
_BIDI_CONTROLS = frozenset("\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_display_name(raw: str) -> str:
    """`raw` without hidden or reordering characters, whitespace collapsed, in NFC form."""
    kept = "".join(
        " " if char.isspace() else char
        for char in unicodedata.normalize("NFC", raw)
        if char.isspace()
        or (unicodedata.category(char) not in _DROPPED_CATEGORIES and char not in _BIDI_CONTROLS)
    )
    return " ".join(kept.split())
