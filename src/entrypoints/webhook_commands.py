"""The ``flextype webhooks`` command: list, create and read the deliveries of webhooks."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import msgspec

from flextype_entrypoints.project import open_project

__all__ = ["add_webhook_commands"]

Handler = Callable[[argparse.Namespace], int]


# Written to the streams rather than print()ed: ruff's T20 keeps print() to cli.py.
def _print_json(value: Any) -> None:
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(value), indent=2).decode() + "\n")


def _list(args: argparse.Namespace) -> int:
    with open_project(args.project) as project:
        _print_json(project.webhooks.list())
    return 0


def _create(args: argparse.Namespace) -> int:
    data: dict[str, Any] = {
        "url": args.url,
        "events": [e.strip() for e in args.events.split(",") if e.strip()],
    }
    if args.id_prefix is not None:
        data["id_prefix"] = args.id_prefix
    if args.title is not None:
        data["title"] = args.title
    with open_project(args.project) as project:
        created = project.webhooks.create(data)
    _print_json(created)
    sys.stderr.write(
        "Keep the secret: it is shown only this once (receivers verify signatures with it).\n"
    )
    return 0


def _deliveries(args: argparse.Namespace) -> int:
    with open_project(args.project) as project:
        _print_json(project.webhooks.deliveries(args.id))
    return 0


def add_webhook_commands(
    commands: Any, common: argparse.ArgumentParser, needs_project: Callable[[Handler], Handler]
) -> None:
    """Add ``flextype webhooks list | create URL --events ... | deliveries ID``."""
    group = commands.add_parser(
        "webhooks", parents=[common], help="webhooks: the change feed pushed to other systems"
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[common], help="list webhooks (never a secret)")
    listing.set_defaults(handler=needs_project(_list))
    create = actions.add_parser(
        "create", parents=[common], help="create a webhook; prints its secret, this once"
    )
    create.add_argument("url", help="where deliveries are POSTed (http or https)")
    create.add_argument(
        "--events",
        required=True,
        help="comma-separated, e.g. entry.created,entry.updated, or '*' for every event",
    )
    create.add_argument("--id-prefix", help="only changes at or below this id, e.g. movies")
    create.add_argument("--title")
    create.set_defaults(handler=needs_project(_create))
    deliveries = actions.add_parser(
        "deliveries", parents=[common], help="the last 100 delivery attempts, newest first"
    )
    deliveries.add_argument("id", help="the webhook's id")
    deliveries.set_defaults(handler=needs_project(_deliveries))
