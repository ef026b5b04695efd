"""Refuse to move content that cannot be read, rather than leave it behind unnoticed."""

from __future__ import annotations

from collections.abc import Sequence

from flextype_core import ids
from flextype_core.errors import StorageError
from flextype_core.ports import EntryStore, MediaStore, TokenStore

__all__ = ["refuse_unreadable"]

_SHOWN = 5
"""How many ids a refusal names before it says how many more there are."""


def refuse_unreadable(
    entries: EntryStore, tokens: TokenStore, media: MediaStore | None, media_folders: Sequence[str]
) -> None:
    """Raise if any entry, token or media file (in ``media_folders``) cannot be read.

    Listings skip damaged items (``meta.unreadable``), so an export or a migration that
    took the listings as they are would drop them without a word, and a migration with
    ``--delete-source`` would destroy them.

    Raises:
        StorageError: naming the unreadable items; nothing was written.
    """
    found = [f"entry {i}" for i in entries.unreadable(ids.ROOT, None)]
    found += [f"token {t}" for t in tokens.unreadable()]
    if media is not None:
        for folder in media_folders:
            found += [f"media file {f}" for f in media.listing(folder)[1]]
    if found:
        more = f" and {len(found) - _SHOWN} more" if len(found) > _SHOWN else ""
        raise StorageError(
            f"{len(found)} stored item(s) cannot be read: {', '.join(found[:_SHOWN])}{more}. "
            "Repair or remove their files, then try again; nothing was written."
        )
