"""What an error body may say: the problem in the user's terms, never the server's internals.

Messages are written for users, but some carry text from libraries (Pillow's
``<_io.BytesIO object at 0x…>``, file-system paths, internal adapter version names) or echo
user input. :func:`public_detail` strips those and bounds the length; :func:`clip` cuts an
echoed value to about 100 characters.
"""

from __future__ import annotations

import re

ECHO_CHARS = 100
DETAIL_CHARS = 600

_REPR = re.compile(r"<[^<>\n]{0,200}? at 0x[0-9a-fA-F]+>")
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")
_PATH = re.compile(r"(?<![\w.:/])/(?:[\w.@+-]+/)+[\w.@+-]*")
_CLASS = re.compile(r"<class '(?:[\w]+\.)*([\w]+)'>")
_INTERNAL_ADAPTER = re.compile(r"\b([a-z0-9_]+?)__[0-9a-f]{12}__\d+\b")


def clip(value: object, limit: int = ECHO_CHARS) -> str:
    """``repr`` of an echoed value, cut to ``limit`` characters."""
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def public_detail(message: str) -> str:
    """Remove reprs (objects, classes), memory addresses, absolute paths and internal adapter names; bound the length."""
    text = _REPR.sub("the uploaded data", str(message))
    text = _CLASS.sub(r"\1", text)  # "<class 'str'>" -> "str"
    text = _ADDRESS.sub("…", text)
    text = _PATH.sub("<path>", text)
    text = _INTERNAL_ADAPTER.sub(r"\1", text)
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"
