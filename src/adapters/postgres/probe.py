"""Why a database URL cannot be connected to, in words fit for a terminal: one try, no pool."""

from __future__ import annotations

import psycopg
from psycopg.conninfo import conninfo_to_dict

__all__ = ["connection_problem"]


def connection_problem(url: str, *, timeout: float) -> str | None:
    """Connect once to ``url``; return None if it worked, else libpq's reason.

    The pool retries in the background and, when it gives up, can only say that no
    connection came in time; a command that starts wants the cause (refused, unknown
    host, password rejected, no such database). The reason is libpq's first line, with
    the password masked wherever it appears; the URL itself is never part of it.
    """
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "storage.postgres.url is not a PostgreSQL URL (postgresql://USER:PASSWORD@HOST/DB)"
    try:
        with psycopg.connect(url, connect_timeout=max(1, round(timeout))):
            return None
    except psycopg.Error as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    password = str(params.get("password") or "")
    if password:
        reason = reason.replace(password, "***")
    return reason.removeprefix("connection failed: ")
