"""Helpers of the Live tests: a ``LiveLoop`` run on its own thread until a condition holds."""

from __future__ import annotations

import threading
import time
from typing import Callable

from app.tasks import CancelToken


def run_loop_until(loop, wake: threading.Event, step: Callable[[], bool], timeout: float = 30.0,
                   poll: float = 0.1) -> None:
    """``loop.run`` on a thread; after each wake-up of ``wake`` (the mailbox's notify) or ``poll`` s, ``step()``
    until it returns True or ``timeout`` s pass; then the loop is cancelled and its thread joined (asserted gone)."""
    token = CancelToken()
    th = threading.Thread(target=loop.run, args=(token,), daemon=True)
    th.start()
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < timeout:
            wake.wait(poll)
            wake.clear()
            if step():
                break
    finally:
        token.cancel()
        loop.wake()
        th.join(10)
    assert not th.is_alive()
