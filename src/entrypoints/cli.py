"""The ``flextype`` command: create projects, manage tokens and entries from the shell."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

import flextype_core
from flextype_core import BadRequest, FlextypeError, ids, images
from flextype_entrypoints.changes_command import add_changes_command
from flextype_entrypoints.database import (
    DatabaseError,
    database_kinds,
    migrate_database,
    require_current_schema,
)
from flextype_entrypoints.driver_check import driver_mismatch
from flextype_entrypoints.logs import LOG_FORMATS, json_line
from flextype_entrypoints.project import Project, open_project, require_project
from flextype_entrypoints.scaffold import ProjectExistsError, create_project
from flextype_entrypoints.search_command import add_search_command
from flextype_entrypoints.serve import ServeError, serve
from flextype_entrypoints.settings import SettingsError, load_settings
from flextype_entrypoints.transfer.commands import add_transfer_commands
from flextype_entrypoints.webhook_commands import add_webhook_commands

__all__ = ["build_parser", "main", "needs_project", "needs_project_quietly"]

Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 ok, 1 error, 2 usage)."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    # The database pool's own warnings (reconnection attempts) are not for a terminal:
    # a command's error says why in one line. ``serve`` logs them where it logs.
    logging.getLogger("psycopg").addHandler(logging.NullHandler())
    try:
        return handler(args)
    except (
        FlextypeError,
        SettingsError,
        ProjectExistsError,
        ServeError,
        DatabaseError,
        OSError,
    ) as exc:
        if args.debug:
            traceback.print_exc()
        print(f"flextype: error: {_one_line(exc)}", file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, OSError):
        text = f"{exc.strerror or exc.__class__.__name__}: {exc.filename or ''}".rstrip(": ")
    return " ".join(text.split())


def _print_json(value: Any, *, compact: bool = False) -> None:
    encoded = msgspec.json.encode(value)
    text = encoded.decode() if compact else msgspec.json.format(encoded, indent=2).decode()
    print(text)


def _open(args: argparse.Namespace) -> Project:
    return open_project(args.project)


def _project_check(*, warn: bool) -> Callable[[Handler], Handler]:
    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def checked(args: argparse.Namespace) -> int:
            path = require_project(args.project)
            if warn:
                warning = _storage_warning(path)
                if warning is not None:
                    print(f"flextype: warning: {warning}", file=sys.stderr)
            return handler(args)

        return checked

    return decorate


def _storage_warning(path: Path) -> str | None:
    """Check a database's schema (postgres), then look for another driver's content."""
    driver = load_settings(path, os.environ).storage.driver
    if driver != "postgres":
        return driver_mismatch(path, driver)
    with open_project(path) as project:
        require_current_schema(project.container, path)
        return driver_mismatch(path, driver, database_kinds(project.container))


needs_project = _project_check(warn=True)
"""Run a handler only on a project (``flextype.yaml`` at ``--project``), else exit 1.

Every subcommand but ``init`` needs one: ``open_project`` opens any folder, and a
mistyped ``--project`` must not become a new, empty project. Before the handler runs, a
warning names ``flextype migrate`` when the content is in another storage driver's
files; on postgres the database must answer and have this version's schema (``serve``
checks and warns itself, in its log format).
"""

needs_project_quietly = _project_check(warn=False)
"""``needs_project`` without the storage checks: for ``migrate`` and ``db migrate``,
which act on what they would refuse."""


# -- init ----------------------------------------------------------------------------


def _database_options(args: argparse.Namespace, driver: str) -> dict[str, str]:
    given = {"url": args.database_url, "schema": args.schema}
    options = {key: value for key, value in given.items() if value is not None}
    if options and driver != "postgres":
        raise BadRequest("--database-url and --schema go with --storage postgres only.")
    from_environment = os.environ.get("FLEXTYPE_STORAGE__POSTGRES__URL")
    if driver == "postgres" and "url" not in options and not from_environment:
        raise BadRequest(
            "--storage postgres needs --database-url "
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE "
            "(or FLEXTYPE_STORAGE__POSTGRES__URL)."
        )
    return options


def _init(args: argparse.Namespace) -> int:
    path = Path(args.path) if args.path is not None else Path(args.project)
    driver = args.storage or os.environ.get("FLEXTYPE_STORAGE__DRIVER", "yaml")
    database = _database_options(args, driver)
    issued = create_project(path, driver=driver, demo=args.demo, postgres=database)
    if args.json:
        _print_json(
            {
                "project": str(path),
                "token": issued.token.token,
                "access_token": issued.access_token,
            },
            compact=True,
        )
        return 0
    content = "with demo content" if args.demo else "empty"
    if driver == "postgres":
        schema = database.get("schema") or load_settings(path, os.environ).storage.postgres.schema
        driver = f"postgres, schema {schema}"
    print(f"Created project {path} (storage: {driver}, {content}).")
    print(f"token:        {issued.token.token}")
    print(f"access_token: {issued.access_token}")
    print("Keep the access token: it is shown only this once. For the README's examples:")
    print(f"export T={issued.token.token} A={issued.access_token}")
    return 0


# -- tokens --------------------------------------------------------------------------


@needs_project
def _tokens_create(args: argparse.Namespace) -> int:
    data: dict[str, Any] = {"title": args.title}
    if args.apis is not None:
        data["apis"] = [a.strip() for a in args.apis.split(",") if a.strip()]
    if args.limit_calls is not None:
        data["limit_calls"] = args.limit_calls
    if args.expires_at is not None:
        data["expires_at"] = args.expires_at
    with _open(args) as project:
        issued = project.tokens.create(data)
    if args.json:
        _print_json(
            {"token": issued.token.token, "access_token": issued.access_token}, compact=True
        )
    else:
        _print_json(issued.to_public())
    return 0


@needs_project
def _tokens_list(args: argparse.Namespace) -> int:
    with _open(args) as project:
        _print_json([t.to_public() for t in project.tokens.list()])
    return 0


@needs_project
def _tokens_show(args: argparse.Namespace) -> int:
    with _open(args) as project:
        _print_json(project.tokens.fetch(args.token).to_public())
    return 0


def _tokens_state(state: str) -> Handler:
    @needs_project
    def change(args: argparse.Namespace) -> int:
        with _open(args) as project:
            _print_json(project.tokens.update(args.token, {"state": state}).to_public())
        return 0

    return change


@needs_project
def _tokens_delete(args: argparse.Namespace) -> int:
    with _open(args) as project:
        project.tokens.delete(args.token)
    print(f"Deleted token {args.token}.")
    return 0


# -- entries -------------------------------------------------------------------------


def _json_data(text: str) -> Any:
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise BadRequest(f"--data is not valid JSON: {exc}") from exc


@needs_project
def _entries(args: argparse.Namespace) -> int:
    with _open(args) as project:
        entries = project.entries
        match args.action:
            case "get":
                _print_json(entries.fetch(args.id))
            case "list":
                depth = None if args.depth == "all" else int(args.depth)
                _print_json(entries.collection(args.id, depth=depth))
            case "create":
                _print_json(entries.create(args.id, _json_data(args.data)))
            case "update":
                _print_json(entries.update(args.id, _json_data(args.data)))
            case "move":
                _print_json(entries.move(args.id, args.new_id))
            case "copy":
                _print_json(entries.copy(args.id, args.new_id))
            case _:
                entries.delete(args.id)
                print(f"Deleted entry {args.id}.")
    return 0


# -- db ------------------------------------------------------------------------------


@needs_project_quietly
def _db_migrate(args: argparse.Namespace) -> int:
    with _open(args) as project:
        storage = project.settings.storage
        if storage.driver != "postgres":
            print(
                f"storage.driver is {storage.driver}: there is no database schema to migrate "
                "(flextype db migrate is for storage.driver: postgres)."
            )
            return 0
        before, after = migrate_database(project.container)
    state = "already up to date" if before == after else "migrated"
    print(f"Database schema {storage.postgres.schema}: version {before} -> {after} ({state}).")
    return 0


def _add_db(commands: Any, common: argparse.ArgumentParser) -> None:
    group = commands.add_parser("db", parents=[common], help="the PostgreSQL database")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    migrate = actions.add_parser(
        "migrate", parents=[common], help="bring the database schema to this version's"
    )
    migrate.set_defaults(handler=_db_migrate)


# -- serve ---------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    # Not ``needs_project``: serve() checks, and warns in the log format asked for.
    try:
        serve(
            Path(args.project),
            host=args.host,
            port=args.port,
            workers=args.workers,
            access_log=args.access_log,
            log_format=args.log_format,
        )
    except (ServeError, DatabaseError, FlextypeError, SettingsError, OSError) as exc:
        if args.log_format != "json":
            raise  # main() prints it
        if args.debug:
            traceback.print_exc()
        print(json_line("error", "flextype.serve", _one_line(exc)), file=sys.stderr)
        return 1
    return 0


# -- parser --------------------------------------------------------------------------


def _options(*, defaults: bool) -> argparse.ArgumentParser:
    # Subcommands accept the options too, but must not reset a value given before them.
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--project",
        default=os.environ.get("FLEXTYPE_PROJECT", "project") if defaults else argparse.SUPPRESS,
        help="the project folder (default: $FLEXTYPE_PROJECT or ./project)",
    )
    options.add_argument(
        "--debug",
        action="store_true",
        default=False if defaults else argparse.SUPPRESS,
        help="show tracebacks of errors",
    )
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flextype",
        description="A headless, flat-file CMS.",
        parents=[_options(defaults=True)],
    )
    parser.add_argument(
        "--version", action="version", version=f"flextype-py {flextype_core.__version__}"
    )
    common = _options(defaults=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = commands.add_parser("init", parents=[common], help="create a project")
    init.add_argument("path", nargs="?", help="where to create it (default: --project)")
    init.add_argument("--storage", choices=["yaml", "tinydb", "postgres"], help="storage driver")
    init.add_argument(
        "--database-url",
        help="with --storage postgres: postgresql://USER:PASSWORD@HOST:PORT/DATABASE",
    )
    init.add_argument(
        "--schema", help="with --storage postgres: the schema of the tables (default flextype)"
    )
    init.add_argument(
        "--demo", action=argparse.BooleanOptionalAction, default=True, help="add demo content"
    )
    init.add_argument("--json", action="store_true", help="print one JSON object")
    init.set_defaults(handler=_init)

    _add_tokens(commands, common)
    _add_entries(commands, common)
    _add_images(commands, common)
    _add_serve(commands, common)
    _add_db(commands, common)
    add_transfer_commands(commands, common, needs_project, needs_project_quietly)
    add_webhook_commands(commands, common, needs_project)
    add_changes_command(commands, common, needs_project)
    add_search_command(commands, common, needs_project)
    return parser


def _add_tokens(commands: Any, common: argparse.ArgumentParser) -> None:
    tokens = commands.add_parser("tokens", parents=[common], help="manage API tokens")
    actions = tokens.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", parents=[common], help="create a token")
    create.add_argument("--title", default="")
    create.add_argument(
        "--apis", help="comma-separated: entries,registry,tokens,media,images,changes,webhooks or *"
    )
    create.add_argument("--limit-calls", type=int)
    create.add_argument("--expires-at", type=int, help="Unix time")
    create.add_argument("--json", action="store_true", help="print {token, access_token}")
    create.set_defaults(handler=_tokens_create)
    actions.add_parser("list", parents=[common], help="list tokens").set_defaults(
        handler=_tokens_list
    )
    for name, handler, text in (
        ("show", _tokens_show, "show a token"),
        ("disable", _tokens_state("disabled"), "disable a token"),
        ("enable", _tokens_state("enabled"), "enable a token"),
        ("delete", _tokens_delete, "delete a token"),
    ):
        action = actions.add_parser(name, parents=[common], help=text)
        action.add_argument("token")
        action.set_defaults(handler=handler)


def _add_entries(commands: Any, common: argparse.ArgumentParser) -> None:
    entries = commands.add_parser("entries", parents=[common], help="read and write entries")
    actions = entries.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, extra in (
        ("get", ()),
        ("list", ("--depth",)),
        ("create", ("--data",)),
        ("update", ("--data",)),
        ("move", ("new_id",)),
        ("copy", ("new_id",)),
        ("delete", ()),
    ):
        action = actions.add_parser(name, parents=[common], help=f"{name} an entry")
        action.add_argument("id")
        for option in extra:
            if option == "--depth":
                action.add_argument("--depth", default="1", choices=[*"123456789", "all"])
            elif option == "--data":
                action.add_argument("--data", required=True, help="a JSON object")
            else:
                action.add_argument(option)
        action.set_defaults(handler=_entries)


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}: {value}")
        return value

    return parse


def _add_serve(commands: Any, common: argparse.ArgumentParser) -> None:
    serve = commands.add_parser("serve", parents=[common], help="serve the REST API")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument(
        "--port", type=_bounded_int(0, 65535), default=8000, help="0 picks a free port"
    )
    serve.add_argument(
        "--workers",
        type=_bounded_int(1, 1024),
        default=1,
        help="worker processes sharing the project",
    )
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="print a line per request on stdout (credentials masked)",
    )
    serve.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="json: every log line is one JSON object",
    )
    serve.set_defaults(handler=_serve)


_GLIDE: tuple[str, ...] = ("w", "h", "fit", "crop", "dpr", "or", "flip", "bri", "con", "gam")
_GLIDE += ("sharp", "blur", "pixel", "filt", "bg", "border", "q", "fm", "expires")


@needs_project
def _images_sign(args: argparse.Namespace) -> int:
    query = {name: str(getattr(args, f"p_{name}")) for name in _GLIDE}
    query = {name: value for name, value in query.items() if value != "None"}
    project = _open(args)
    try:
        key = project.settings.images.sign_key
    finally:
        project.close()
    path = ids.parse_file_id(args.path.lstrip("/"))
    images.parse_params(query)  # a bad parameter is an error here, not a 400 later
    if not key:
        raise BadRequest("images.sign_key is not set in flextype.yaml; flextype init sets one.")
    print(args.base.rstrip("/") + images.signed_url(key, path, query))
    return 0


def _add_images(commands: Any, common: argparse.ArgumentParser) -> None:
    group = commands.add_parser("images", parents=[common], help="signed image URLs")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    sign = actions.add_parser(
        "sign", parents=[common], help="print a signed URL of a media image, e.g. --w 300"
    )
    sign.add_argument("path", help="the media file id, e.g. posters/dune.jpg")
    sign.add_argument("--base", default="", help="prefix, e.g. http://127.0.0.1:8000")
    for name in _GLIDE:
        sign.add_argument(f"--{name}", dest=f"p_{name}", metavar=name.upper())
    sign.set_defaults(handler=_images_sign)


if __name__ == "__main__":
    sys.exit(main())
