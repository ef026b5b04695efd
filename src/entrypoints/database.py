"""The postgres driver's database as commands see it: reachable, and at this version's schema."""

from __future__ import annotations

import shlex
from pathlib import Path

from flextype_core.errors import ServiceUnavailable
from flextype_entrypoints.container import Container
from flextype_entrypoints.driver_check import Kinds, store_kinds

__all__ = [
    "DatabaseError",
    "database_kinds",
    "migrate_database",
    "require_current_schema",
    "uses_database",
]


class DatabaseError(Exception):
    """The database cannot serve this project as it is; the message says what to do."""


def uses_database(container: Container) -> bool:
    """Whether the project's entries and tokens are in PostgreSQL (``storage.driver``)."""
    return bool(container.config.storage.driver() == "postgres")


_UNREACHABLE = "cannot reach the database (storage.postgres.url): "


def _unreachable(exc: ServiceUnavailable) -> DatabaseError:
    # The adapter's messages name neither the URL nor its user or password.
    return DatabaseError(_UNREACHABLE + exc.message)


def _reach(container: Container) -> None:
    """Raise naming the cause (refused, unknown host, password...) if it cannot connect."""
    from flextype_adapters.postgres.probe import connection_problem

    settings = container.config.storage.postgres()
    problem = connection_problem(settings["url"], timeout=settings["pool_timeout"])
    if problem is not None:
        raise DatabaseError(_UNREACHABLE + problem)


def require_current_schema(container: Container, project: Path) -> None:
    """Raise unless the database answers and its schema is the one this version uses.

    Nothing is checked on a file driver. ``project`` is the folder as the user named it,
    for the command the message suggests.

    Raises:
        DatabaseError: the database does not answer, or its schema is empty, older or
            newer than this version's; the message names ``flextype db migrate`` where
            it helps.
    """
    if not uses_database(container):
        return
    # Imported here: a project on files never loads psycopg.
    from flextype_adapters.postgres.database import SCHEMA_VERSION

    schema = container.config.storage.postgres.schema()
    command = f"flextype db migrate --project {shlex.quote(str(project))}"
    _reach(container)
    try:
        version = container.postgres_database().schema_version()
    except ServiceUnavailable as exc:
        raise _unreachable(exc) from exc
    if version == 0:
        raise DatabaseError(
            f"the database schema {schema} has no flextype tables yet: run {command}"
        )
    if version < SCHEMA_VERSION:
        raise DatabaseError(
            f"the database schema {schema} is at version {version}, this flextype-py "
            f"needs version {SCHEMA_VERSION}: run {command}"
        )
    if version > SCHEMA_VERSION:
        raise DatabaseError(
            f"the database schema {schema} is at version {version}, newer than this "
            f"flextype-py knows ({SCHEMA_VERSION}): upgrade flextype-py"
        )


def migrate_database(container: Container) -> tuple[int, int]:
    """Bring the database schema to this version's; return (version before, after).

    Raises:
        DatabaseError: the database does not answer.
    """
    _reach(container)
    try:
        before, after = container.postgres_database().migrate()
    except ServiceUnavailable as exc:
        raise _unreachable(exc) from exc
    return before, after


def database_kinds(container: Container) -> Kinds:
    """What the project's database holds, for ``driver_check`` (asked only when needed).

    A schema without tables holds nothing.
    """

    def kinds() -> frozenset[str]:
        try:
            if container.postgres_database().schema_version() == 0:
                return frozenset()
        except ServiceUnavailable as exc:
            raise _unreachable(exc) from exc
        return store_kinds(container.entry_store(), container.token_store())

    return kinds
