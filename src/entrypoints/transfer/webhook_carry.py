"""Webhooks carried into a staging project by ``import`` and ``migrate``.

Each keeps its fields, state and signing secret (and, when it stays in the same project,
its delivery log); its progress does not travel: a position names a change of the log
it was read from, and the target's log is another one (a new file, or the database's
with the import's own changes). So every webhook starts at the head the target's log
has once the staged content is committed (``Staging.new_head``): it is sent the changes
made after the move, none made by it, none skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec

from flextype_adapters.sqlite_webhooks import DATABASE_FILE, SqliteWebhookStore
from flextype_core.archive import WebhookRecord
from flextype_core.errors import WebhookNotFound
from flextype_core.webhook_port import Delivery, Progress, WebhookStore
from flextype_entrypoints.transfer.staging import Staging

__all__ = [
    "Carried",
    "carried_from",
    "carried_from_file",
    "clear_webhooks",
    "install_webhooks",
    "live_webhooks",
]


class Carried(msgspec.Struct, frozen=True, kw_only=True):
    """A webhook to install: its record, and its delivery log, oldest attempt first."""

    record: WebhookRecord
    deliveries: list[Delivery] = []


def carried_from(store: WebhookStore) -> list[Carried]:
    """Every webhook of ``store`` with its secret and delivery log, oldest first.

    One deleted meanwhile is left out.
    """
    found = []
    for hook in store.all():
        try:
            record = WebhookRecord(webhook=hook, secret=store.secret(hook.id))
            deliveries = store.deliveries(hook.id)[::-1]
        except WebhookNotFound:
            continue
        found.append(Carried(record=record, deliveries=deliveries))
    return found


def _generations(store: WebhookStore) -> dict[str, int]:
    """Each webhook's progress generation (one deleted meanwhile is left out)."""
    found = {}
    for hook in store.all():
        try:
            found[hook.id] = store.progress(hook.id).generation
        except WebhookNotFound:
            continue
    return found


def _file_generations(project: Path) -> dict[str, int]:
    store = SqliteWebhookStore(project / DATABASE_FILE)
    try:
        return _generations(store)
    finally:
        store.close()


def carried_from_file(project: Path) -> list[Carried]:
    """``carried_from`` the file drivers' store of ``project`` (none if it has no file).

    Its connections are closed before this returns: the file may be swapped away next,
    and a connection left open would later checkpoint into, or unlink, what then bears
    its name.
    """
    store = SqliteWebhookStore(project / DATABASE_FILE)
    try:
        return carried_from(store)
    finally:
        store.close()


def live_webhooks(staging: Staging) -> list[Carried]:
    """The webhooks the live project has now (on postgres: in the staging's transaction)."""
    if staging.driver == "postgres":
        return carried_from(staging.project.container.webhook_store())
    return carried_from_file(staging.live)


def clear_webhooks(store: WebhookStore) -> None:
    """Delete every webhook of ``store`` (with its secret, progress and delivery log)."""
    for hook in store.all():
        try:
            store.delete(hook.id)
        except WebhookNotFound:
            continue


def install_webhooks(staging: Staging, carried: Sequence[Carried]) -> None:
    """Make ``carried`` the staged project's webhooks, at the head its log will have.

    Call it last, once every other write of the staged content is done. On postgres the
    database's webhooks are replaced in the staging's transaction; a staged file
    project's store starts empty (no webhook: no file, and the commit removes the live
    project's).
    """
    store = staging.project.container.webhook_store()
    head = staging.new_head()
    # A server still delivering a replaced webhook of the same id (on postgres servers
    # may run meanwhile) must not write its progress back: the generation passes its own.
    if staging.driver == "postgres":
        generations = _generations(store)
    else:
        generations = _file_generations(staging.live)
    clear_webhooks(store)
    for item in carried:
        hook = item.record.webhook
        generation = generations.get(hook.id, -1) + 1
        store.create(hook, item.record.secret, Progress(position=head, generation=generation))
        for delivery in item.deliveries:
            store.record(hook.id, delivery)
