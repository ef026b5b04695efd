"""The ``flextype search reindex`` command: rebuild the file drivers' full-text index."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from flextype_entrypoints.project import open_project

__all__ = ["add_search_command"]

Handler = Callable[[argparse.Namespace], int]


def _reindex(args: argparse.Namespace) -> int:
    with open_project(args.project) as project:
        driver = project.settings.storage.driver
        project.container.entry_store()  # made with its index, if its driver has one
        index = project.container.search_index() if driver != "postgres" else None
        if index is None:
            sys.stdout.write(
                f"storage.driver is {driver}: there is no search index to rebuild "
                "(the database keeps its own).\n"
            )
            return 0
        started = time.perf_counter()
        count = index.rebuild()
        seconds = time.perf_counter() - started
    sys.stdout.write(f"Search index rebuilt: {count} entries in {seconds:.2f} s.\n")
    return 0


def add_search_command(
    commands: Any, common: argparse.ArgumentParser, guard: Callable[[Handler], Handler]
) -> None:
    """Add ``search reindex`` to the ``flextype`` parser (``guard``: the project check)."""
    group = commands.add_parser("search", parents=[common], help="the full-text search index")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    reindex = actions.add_parser(
        "reindex", parents=[common], help="rebuild the search index of the file drivers"
    )
    reindex.set_defaults(handler=guard(_reindex))
