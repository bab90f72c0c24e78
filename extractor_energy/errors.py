"""What can go wrong in one extraction, in the service's own terms.

The service layer (``service.py``, ``documents.py``, ``pdf_pages.py``, ``decode_pool.py``) raises
these and knows nothing of HTTP; ``api/errors.py`` alone turns them into a status, a
``Retry-After`` header, the ``{"detail": ...}`` body and the request metrics. Another front end
(a batch job, another serving framework) catches the same exceptions.
"""

from __future__ import annotations

from enum import StrEnum


class ExtractionError(Exception):
    """An extraction that cannot be answered. ``message`` is written for the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        #: the normalised bill key once the service knows it ("-" before): a metrics label
        self.key = "-"


class BadKey(ExtractionError):
    """``concessionaria`` + ``uf`` cannot be folded into a key (unknown UF, path characters...)."""


class DocumentProblem(StrEnum):
    """Why an upload cannot be read; the user can fix each one."""

    TOO_LARGE = "too_large"  # upload bytes, or decoded pixels (the decompression-bomb guard)
    UNSUPPORTED_TYPE = "unsupported_type"  # not a format this server decodes
    UNREADABLE = "unreadable"  # empty, truncated, corrupt, encrypted or broken
    TOO_MANY_PAGES = "too_many_pages"  # a PDF over EXTRACTOR_MAX_PDF_PAGES
    BAD_PAGE_SHAPE = "bad_page_shape"  # a page with no pixels, or longer/thinner than a bill can be


class DocumentError(ExtractionError):
    """Bad input the user can fix; ``kind`` says which problem."""

    def __init__(self, kind: DocumentProblem, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class ServerFull(ExtractionError):
    """Too many extractions are waiting; ``retry_after_s`` is the queue's expected drain time."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ShuttingDown(ExtractionError):
    """The server is draining for shutdown: the request was refused or cut off."""


class InferenceFailed(ExtractionError):
    """The model or the adapter failed on this request; the server keeps serving."""


class TimedOut(ExtractionError):
    """No answer within EXTRACTOR_REQUEST_TIMEOUT_S; the request was cancelled."""


class ClientGone(ExtractionError):
    """The client disconnected while waiting; its job was cancelled.

    ``before_inference``: the job was still queued (a refusal), not stopped mid-generation.
    """

    def __init__(self, message: str, before_inference: bool) -> None:
        super().__init__(message)
        self.before_inference = before_inference
