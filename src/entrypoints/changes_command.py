"""The ``flextype changes`` command: the change feed as JSON lines, once or followed."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TextIO

import msgspec

from flextype_core.feed import MAX_LIMIT, ChangesService
from flextype_entrypoints.project import open_project

__all__ = ["FOLLOW_SECONDS", "add_changes_command", "print_changes"]

Handler = Callable[[argparse.Namespace], int]

FOLLOW_SECONDS = 0.5
"""How often ``--follow`` reads the log for new changes."""

_ENCODER = msgspec.json.Encoder()


def print_changes(
    feed: ChangesService,
    since: str | None,
    out: TextIO,
    *,
    follow: Callable[[], None] | None = None,
) -> None:
    """Write every change after ``since`` to ``out``, one JSON object a line, as the API.

    Args:
        feed: the project's change feed.
        since: a cursor, ``now``, or None: from the oldest change kept.
        out: where the lines go (flushed after each page, so a pipe sees them at once).
        follow: None: stop at the newest change; else called whenever the feed is read
            up to its head (it waits), and the feed is read again, until it raises.

    Raises:
        BadRequest: ``since`` is not a cursor.
        ResyncRequired: ``since`` is of another log, or older than the log keeps.
    """
    query = feed.query(since=since, limit=MAX_LIMIT)
    while True:
        page = feed.read(query)
        for change in page.changes:
            out.write(_ENCODER.encode(change).decode() + "\n")
        out.flush()
        query = msgspec.structs.replace(query, after=page.last)
        if page.more:
            continue
        if follow is None:
            return
        follow()


def _changes(args: argparse.Namespace) -> int:
    with open_project(args.project) as project:
        feed = project.changes
        wait = partial(time.sleep, FOLLOW_SECONDS) if args.follow else None
        try:
            print_changes(feed, args.since, sys.stdout, follow=wait)
        except KeyboardInterrupt:
            return 0  # Ctrl-C is how --follow ends: not an error
        except BrokenPipeError:
            # The reader went away (`| head`): done. Python would fail again flushing
            # stdout at exit, so it goes to /dev/null.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def add_changes_command(
    commands: Any, common: argparse.ArgumentParser, guard: Callable[[Handler], Handler]
) -> None:
    """Add ``changes`` to the ``flextype`` command's parser (``guard``: the project check)."""
    changes = commands.add_parser(
        "changes", parents=[common], help="print the change feed as JSON lines"
    )
    changes.add_argument(
        "--since",
        metavar="CURSOR",
        help="only changes after this cursor (a change's cursor, X-Changes-Cursor, or now); "
        "default: from the oldest kept",
    )
    changes.add_argument(
        "--follow",
        action="store_true",
        help="keep printing new changes until interrupted (Ctrl-C)",
    )
    changes.set_defaults(handler=guard(_changes))
