"""Warnings about one thing on disk (a broken file, a refused link), at most one a minute."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

__all__ = ["WARN_INTERVAL", "log", "warn_limited"]

log = logging.getLogger("flextype.storage")
"""Where the storage adapters report what they skip or refuse."""

WARN_INTERVAL = 60.0
"""Seconds before the same warning about the same thing is logged again."""
_KEYS_KEPT = 10_000

_last: OrderedDict[str, float] = OrderedDict()
_lock = threading.Lock()


def warn_limited(key: str, message: str, *args: object) -> None:
    """Log ``message % args`` as a warning, unless one with ``key`` went out recently.

    A listing under load reads the same broken file thousands of times a second; its
    warning is worth one line a minute, not one per request.
    """
    now = time.monotonic()
    with _lock:
        last = _last.get(key)
        if last is not None and now - last < WARN_INTERVAL:
            return
        _last[key] = now
        _last.move_to_end(key)
        while len(_last) > _KEYS_KEPT:
            _last.popitem(last=False)
    log.warning(message, *args)
