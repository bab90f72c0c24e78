"""Bounded decoding: at most ``workers`` uploads are read into memory and decoded at once.

Admitted requests wait here holding only their spooled upload (Starlette keeps multipart files
over 1 MB on disk); a request's bytes are read into memory only when a decode slot is free,
decoded on the pool's own threads (the event loop's default executor is left alone), and
dropped right after, so a burst of large photos costs ``workers`` x (upload + decode buffers)
of memory, not one upload per waiting request. The pixel side is bounded per image by
``EXTRACTOR_MAX_IMAGE_PIXELS`` (checked on the header, before decoding).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from extractor_energy.documents.decode import Document, DocumentLimits, load_document


class LazyPayload(Protocol):
    """An upload whose bytes are read only when asked (inside a decode slot)."""

    async def read_all(self) -> bytes: ...


class DecodePool:
    def __init__(self, workers: int = 2) -> None:
        self.workers = max(1, workers)
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="decode")
        self._slots: asyncio.Semaphore | None = None
        self.waiting = 0

    def _semaphore(self) -> asyncio.Semaphore:
        if self._slots is None:  # created on the serving loop
            self._slots = asyncio.Semaphore(self.workers)
        return self._slots

    async def decode(
        self, payload: bytes | LazyPayload, limits: DocumentLimits, filename: str | None, content_type: str | None
    ) -> Document:
        self.waiting += 1
        acquired = False
        try:
            async with self._semaphore():
                self.waiting, acquired = self.waiting - 1, True
                data = payload if isinstance(payload, (bytes, bytearray)) else await payload.read_all()
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self._executor, load_document, data, limits, filename, content_type)
        finally:
            if not acquired:  # cancelled while waiting for a slot
                self.waiting -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
