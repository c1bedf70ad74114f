"""Sandbox ticks on a schedule: a thread of the process that starts it (``gateway demo``'s, not
a gunicorn worker's), stopped cleanly when that process stops."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from gateway.errors import GatewayError

log = logging.getLogger("gateway.sandbox")


class Ticker:
    """Calls ``tick`` every ``every`` seconds (the first call one interval after the start) and
    passes the line it returns to ``report``. A failed tick is logged by its kind — never its
    message, which could quote a value — and the next one runs as planned."""

    def __init__(self, tick: Callable[[], str], every: float,
                 report: Callable[[str], None] = log.info) -> None:  # fmt: skip
        self.tick, self.every, self.report = tick, every, report
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def start(self) -> None:
        if self._thread is not None or self.every <= 0:
            return
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="sandbox-ticker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the tick under way, if any. Only in the process that started it: a
        forked child (a gunicorn worker) leaving the same code path does nothing."""
        if self._thread is None or os.getpid() != self._pid:
            return
        self._stop.set()
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.report(self.tick())
            except GatewayError as error:
                log.warning("sandbox tick refused: %s", error.detail)
            except Exception as error:  # noqa: BLE001 - a failed tick must not stop the next
                log.warning("sandbox tick failed (%s)", type(error).__name__)
                log.debug("sandbox tick failed", exc_info=True)
