"""A PostgresChangeLog on a fresh schema, and the ``append`` the change-log contract tests use.

``append(changes)`` writes them as a store's write does: one transaction, its rows
appended by ``Tx.flush`` under the change-log lock. With a ``clock``, the rows are
dated by it instead of the server's clock (as ``FakeChangeLog(clock=...)``), so purges
can be tested without waiting days.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import NamedTuple

from flextype_adapters.postgres.changes import KINDS, PostgresChangeLog
from flextype_adapters.postgres.database import PostgresDatabase, Tx
from flextype_core.changes import NewChange
from tests.postgres_cluster import drop_schema

__all__ = ["PostgresLog", "append_to", "postgres_change_log"]


class PostgresLog(NamedTuple):
    """A change log under test and what appends to it."""

    log: PostgresChangeLog
    append: Callable[[Sequence[NewChange]], None]
    db: PostgresDatabase


def append_to(
    db: PostgresDatabase, clock: Callable[[], float] | None = None
) -> Callable[[Sequence[NewChange]], None]:
    """An ``append(changes)`` writing to ``db``'s change log in one transaction."""

    def append(changes: Sequence[NewChange]) -> None:
        def work(tx: Tx) -> None:
            for change in changes:
                tx.log(
                    KINDS[change.type],
                    change.op,
                    [change.id],
                    from_ids=[change.from_id],
                    etags=[change.etag],
                )
            if clock is not None:
                tx.flush()  # the rows exist now, in this transaction: date them
                tx.execute(
                    "UPDATE changes SET at = to_timestamp(%s) WHERE xid = pg_current_xact_id()",
                    [clock()],
                )

        db.run(work)

    return append


@contextmanager
def postgres_change_log(
    url: str, *, clock: Callable[[], float] | None = None
) -> Iterator[PostgresLog]:
    """A PostgresChangeLog on a new, migrated schema of ``url``, dropped afterwards.

    For the contract suite: ``with postgres_change_log(postgres_url) as (log, append, _):``
    (``postgres_url`` is the session fixture of ``tests.postgres_cluster``).
    """
    schema = f"log_{uuid.uuid4().hex[:12]}"
    db = PostgresDatabase(url, schema=schema, pool_size=4)
    try:
        db.migrate()
        yield PostgresLog(PostgresChangeLog(db), append_to(db, clock), db)
    finally:
        db.close()
        drop_schema(url, schema)
