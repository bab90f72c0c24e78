"""uvicorn server with a drained shutdown on SIGTERM that exits with status 0 within the grace.

On the first SIGTERM/SIGINT the server keeps listening: new extractions get a JSON 503 +
``Retry-After`` (and ``/readyz`` 503, so load balancers stop sending), admitted ones go on. It
exits as soon as no request is left, or when ``grace_s`` is over: then every request still
waiting or generating is answered a JSON 503 + ``Retry-After`` at once (its generation stops at
the next step) and the process exits about a second later — never a plain-text 500 from
cancelled tasks. A second signal exits at once. uvicorn alone re-raises SIGTERM after its
shutdown, so the process would die by the signal (status -15); here it exits 0.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from types import FrameType
from typing import Callable, Iterator, Protocol

import uvicorn

log = logging.getLogger(__name__)
_AFTER_ABORT_S = 1.0  # time for the "shutting down" answers to be written


class Drainable(Protocol):
    def begin_drain(self) -> None: ...

    def abort(self) -> None: ...


class GracefulServer(uvicorn.Server):
    def __init__(
        self, config: uvicorn.Config, *, grace_s: float = 30.0, drain: Callable[[], Drainable | None] | None = None
    ) -> None:
        super().__init__(config)
        self.grace_s = grace_s
        self._drain = drain or (lambda: None)
        self._drain_started: float | None = None
        self._aborted_at: float | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._drain_started is None and not self.should_exit:
            self._drain_started = time.monotonic()
            target = self._drain()
            if target is not None:
                target.begin_drain()
            log.info("shutting down: draining for up to %.0f s (new requests get 503)", self.grace_s)
            return
        self.force_exit = self.should_exit  # a third signal: do not even wait for open connections
        self.should_exit = True  # a second signal: stop now

    async def on_tick(self, counter: int) -> bool:
        if await super().on_tick(counter):
            return True
        if self._drain_started is None:
            return False
        now = time.monotonic()
        if not self.server_state.tasks:
            log.info("drained after %.2f s", now - self._drain_started)
            return True
        if self._aborted_at is None and now >= self._drain_started + self.grace_s:
            self._aborted_at = now
            target = self._drain()
            if target is not None:
                target.abort()
            log.warning("grace of %.0f s over: answering %d request(s) 503", self.grace_s, len(self.server_state.tasks))
        return self._aborted_at is not None and now >= self._aborted_at + _AFTER_ABORT_S
