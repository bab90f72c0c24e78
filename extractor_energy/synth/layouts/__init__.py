"""One drawing module per utility family; ``draw_pages`` picks it from the bill's profile."""

from __future__ import annotations

from importlib import import_module
from typing import Callable

from ..canvas import Page
from ..content import BillContent

LAYOUTS = ("equatorial", "enel", "cemig", "light", "cpfl", "energisa", "copel", "generic")


def layout_for(family: str) -> Callable[[BillContent], list[Page]]:
    """The ``draw`` function of a family's module (unknown families get the generic layout)."""
    name = family if family in LAYOUTS else "generic"
    return import_module(f"{__name__}.{name}").draw


def draw_pages(content: BillContent) -> list[Page]:
    """Page 1 (the bill with its payment slip) and page 2 (history and notices)."""
    return layout_for(content.profile.family)(content)
