"""Whole numbers typed by people (query parameters, form fields, path segments).

``str.isdigit`` accepts "²" and other digits ``int`` refuses, and ``int`` refuses a string
of more than 4,300 digits (CPython's limit) with a ValueError: both used to surface as a
500 with a traceback in the log. Every caller parses through here instead.
"""

from __future__ import annotations

LARGEST = 2**63 - 1  # what both stores hold in a BIGINT


def whole(text: str | None, largest: int = LARGEST) -> int | None:
    """``text`` as a whole number from 0 to ``largest``, or None when it is not one."""
    if text is None or not 0 < len(text) <= 19 or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= largest else None
