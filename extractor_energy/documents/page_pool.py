"""Reading the pages of documents on a bounded thread pool beside the model worker, within a deadline.

OCR is CPU work outside torch: running it here lets the next bills' OCR overlap with the current
batch's generation, and the pool size bounds how many pages are read at once. A page whose OCR
hangs must not hold its request (nor later ones) forever: :meth:`PageTextPool.read` gives up at the
request's deadline with :class:`PagesTooSlow`, and the pool swaps its executor for a fresh one, so
the stuck thread (which Python cannot kill) no longer occupies a slot new pages wait for.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from extractor_energy.documents.page_text import PageText, PageTextReader, TextBox

log = logging.getLogger(__name__)


class PagesTooSlow(Exception):
    """Reading the pages did not finish by the deadline."""


class PageTextPool:
    """Reads the pages of documents on a bounded thread pool; see the module docstring."""

    def __init__(self, reader: PageTextReader, workers: int):
        self.reader = reader
        self.workers = workers
        self.executor = self._new_executor()
        self.abandoned = 0  # executors given up on because a page read hung (their threads may still run)
        self._lock = threading.Lock()

    def _new_executor(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="page-text")

    async def read(self, pages: list[Image.Image], text_layers: list[list[TextBox]] | None,
                   timeout: float | None = None) -> list[PageText]:
        """Every page's text, pages read concurrently; :class:`PagesTooSlow` after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        layers = list(text_layers or []) + [None] * (len(pages) - len(text_layers or []))
        executor = self.executor
        jobs = [loop.run_in_executor(executor, self.reader.read_page, page, layer) for page, layer in zip(pages, layers)]
        try:
            return list(await asyncio.wait_for(asyncio.gather(*jobs), timeout))
        except asyncio.TimeoutError:
            self._replace(executor)
            raise PagesTooSlow(f"reading {len(pages)} page(s) took longer than {timeout:.1f} s") from None

    def _replace(self, stuck: ThreadPoolExecutor) -> None:
        with self._lock:
            if self.executor is not stuck:  # another request already replaced it
                return
            self.executor = self._new_executor()
            self.abandoned += 1
        # pages of other requests queued behind the stuck one stay queued (cancelling them would turn
        # their requests into errors): each of those requests times out on its own deadline (a 504)
        stuck.shutdown(wait=False, cancel_futures=False)
        log.error("page reading hung past the request deadline; a fresh OCR pool takes over (%d abandoned so far)",
                  self.abandoned)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
