"""schemathesis hooks for test_schemathesis.py: a generated long poll waits a moment, not a minute.

``wait`` on ``/api/changes`` may be up to 60 s, and a request whose filters match
nothing is held that long: a few such cases would make the run last minutes. A ``wait``
the server accepts (``parse_wait``) above ``WAIT_CAP`` is lowered to it, so the case is
still a long poll that times out; every other value (those the server must refuse),
parameter and operation goes out as generated.
"""

from __future__ import annotations

from typing import Any

import schemathesis

from flextype_core.errors import BadRequest
from flextype_core.feed import parse_wait

Case = schemathesis.Case[Any]

WAIT_CAP = 0.05
"""Seconds: the longest a generated long poll is held."""


def _held_seconds(value: object) -> float | None:
    """How long the server would hold a long poll for ``value`` as sent; None if refused."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)  # what the query string carries
    try:
        return parse_wait(value)
    except BadRequest:
        return None


def bounded_wait(context: schemathesis.HookContext, case: Case) -> Case:
    """``case`` with a valid ``wait`` above ``WAIT_CAP`` lowered to it."""
    query = case.query
    if query:
        seconds = _held_seconds(query.get("wait"))
        if seconds is not None and seconds > WAIT_CAP:
            query["wait"] = WAIT_CAP if isinstance(query["wait"], int | float) else str(WAIT_CAP)
    return case


# map_case, not map_query: only case hooks run in every phase (examples, coverage and
# fuzzing; the coverage phase sends wait=60 and 59). apply_to is attached at run time.
schemathesis.hook("map_case").apply_to(path="/api/changes")(bounded_wait)  # type: ignore[attr-defined]
