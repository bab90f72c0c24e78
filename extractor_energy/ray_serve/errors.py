"""Errors raised in a model replica, carried to the ingress as values and raised there again.

The ingress maps them to HTTP exactly as the single-process server does (the shared error
handlers look at the exception's class). They travel as (class, args, attributes) instead of
being pickled: an exception whose ``__init__`` takes other arguments than its ``args`` cannot
be unpickled, and Ray would turn it into a generic error (a 500 instead of, say, a 422).
"""

from __future__ import annotations

import importlib
import logging
import pickle
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PortableError:
    module: str
    qualname: str
    args: tuple[Any, ...]
    attributes: dict[str, Any]
    text: str

    @classmethod
    def of(cls, exc: BaseException) -> "PortableError":
        kind = type(exc)
        attributes = {k: v for k, v in vars(exc).items() if not k.startswith("__") and _picklable(v)}
        args = tuple(a if _picklable(a) else str(a) for a in exc.args)
        return cls(kind.__module__, kind.__qualname__, args, attributes, f"{kind.__name__}: {exc}")

    def restore(self) -> Exception:
        """The same exception class with the same attributes (``RuntimeError`` with the text when the class is unknown here)."""
        try:
            kind: Any = importlib.import_module(self.module)
            for part in self.qualname.split("."):
                kind = getattr(kind, part)
            if not (isinstance(kind, type) and issubclass(kind, Exception)):
                raise TypeError(self.qualname)
            exc = kind.__new__(kind)
            exc.args = self.args
            exc.__dict__.update(self.attributes)
            return exc
        except Exception:  # a class the ingress cannot import: keep its text, answered as an internal error
            log.warning("could not restore %s.%s from a model replica", self.module, self.qualname)
            return RuntimeError(self.text)


def _picklable(value: Any) -> bool:
    try:
        pickle.dumps(value)
        return True
    except Exception:
        return False
