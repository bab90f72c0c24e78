"""uvicorn server whose clean, drained shutdown on SIGTERM exits with status 0."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

import uvicorn


class GracefulServer(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its graceful shutdown, so the process dies by the signal
    (status -15) even after draining every request; orchestrators read that as a crash. Here the
    signals only start the graceful shutdown (stop accepting, finish in-flight and queued work)."""

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
