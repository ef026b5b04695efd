"""The ``flextype export``, ``import`` and ``migrate`` commands: arguments and output."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flextype_core import BadRequest
from flextype_core.archive import Counts
from flextype_entrypoints.project import open_project
from flextype_entrypoints.transfer.export import export_project, export_to_path
from flextype_entrypoints.transfer.importer import import_archive
from flextype_entrypoints.transfer.migrate import DRIVERS, migrate_project
from flextype_entrypoints.transfer.progress import progress_on

__all__ = ["add_transfer_commands"]

Handler = Callable[[argparse.Namespace], int]


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _listed(*parts: str) -> str:
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _counted(counts: Counts) -> str:
    webhooks = [_plural(counts.webhooks, "webhook", "webhooks")] if counts.webhooks else []
    return _listed(
        _plural(counts.entries, "entry", "entries"),
        _plural(counts.tokens, "token", "tokens"),
        *webhooks,
        _plural(counts.media_files, "media file", "media files"),
    )


def _export(args: argparse.Namespace) -> int:
    out = args.out or time.strftime("flextype-export-%Y%m%d-%H%M%S.tar.gz")
    if out == "-" and sys.stdout.isatty():
        raise BadRequest("Refusing to write an archive to a terminal: pipe it, or give --out FILE.")
    with open_project(args.project) as project, progress_on(sys.stderr) as bars:
        if out == "-":
            counts = export_project(project, sys.stdout.buffer, bars)
            sys.stdout.buffer.flush()
        else:
            counts = export_to_path(project, Path(out), bars)
    print(
        f"Exported {_counted(counts)} to {'standard output' if out == '-' else out}.",
        file=sys.stderr if out == "-" else sys.stdout,
    )
    return 0


def _import(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        if args.file == "-":
            source = sys.stdin.buffer
        else:
            source = stack.enter_context(Path(args.file).open("rb"))
        bars = stack.enter_context(progress_on(sys.stderr))
        counts = import_archive(Path(args.project), source, replace=args.replace, bars=bars)
    print(f"Imported {_counted(counts)} into {args.project}.")
    return 0


def _migrate(args: argparse.Namespace) -> int:
    if args.database_url is not None and args.to != "postgres":
        raise BadRequest("--database-url goes with --to postgres only.")
    with progress_on(sys.stderr) as bars:
        done = migrate_project(
            Path(args.project),
            args.to,
            replace=args.replace,
            delete_source=args.delete_source,
            bars=bars,
            database_url=args.database_url,
        )
    kept = "removed" if done.deleted_source else "kept (remove it, or use --delete-source)"
    webhooks = [_plural(done.webhooks, "webhook", "webhooks")] if done.webhooks else []
    media = [_plural(done.media_files, "media file", "media files")]
    moved = _listed(
        _plural(done.entries, "entry", "entries"),
        _plural(done.tokens, "token", "tokens"),
        *webhooks,
        *(media if "postgres" in (done.source, done.target) else []),  # files share media/
    )
    print(
        f"Moved {moved} from {done.source} to {done.target}; "
        f"storage.driver is now {done.target}. The {done.source} content is {kept}."
    )
    overridden = os.environ.get("FLEXTYPE_STORAGE__DRIVER")
    if overridden is not None and overridden != done.target:
        print(
            f"flextype: note: FLEXTYPE_STORAGE__DRIVER={overridden} overrides flextype.yaml; "
            "change or unset it.",
            file=sys.stderr,
        )
    return 0


def add_transfer_commands(
    commands: Any,
    common: argparse.ArgumentParser,
    guard: Callable[[Handler], Handler],
    quiet_guard: Callable[[Handler], Handler],
) -> None:
    """Add ``export``, ``import`` and ``migrate`` to the ``flextype`` command's parser.

    ``guard`` wraps each handler (the command line's check that a project is there);
    ``migrate`` gets ``quiet_guard``, the same check without the warning that content
    sits in the other driver's files: moving it is what ``migrate`` is for.
    """
    export = commands.add_parser(
        "export", parents=[common], help="write the whole project to one .tar.gz archive"
    )
    export.add_argument(
        "--out", help="the archive; - for standard output (default: flextype-export-DATE.tar.gz)"
    )
    export.set_defaults(handler=guard(_export))
    load = commands.add_parser(
        "import", parents=[common], help="load an archive into the project, all or nothing"
    )
    load.add_argument("file", metavar="FILE", help="the archive; - for standard input")
    load.add_argument(
        "--replace", action="store_true", help="replace the content of a non-empty project"
    )
    load.set_defaults(handler=guard(_import))
    migrate = commands.add_parser(
        "migrate", parents=[common], help="move entries and tokens to another storage driver"
    )
    migrate.add_argument("--to", required=True, choices=DRIVERS, help="the new driver")
    migrate.add_argument(
        "--database-url", help="with --to postgres: postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
    )
    migrate.add_argument(
        "--delete-source", action="store_true", help="remove the old driver's content afterwards"
    )
    migrate.add_argument(
        "--replace", action="store_true", help="overwrite content the new driver already has"
    )
    migrate.set_defaults(handler=quiet_guard(_migrate))
