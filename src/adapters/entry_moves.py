"""The checks a file store makes before it moves or copies an entry, shared by the drivers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from flextype_core.errors import Conflict, EntryNotFound
from flextype_core.model import Entry
from flextype_core.ports import EntryStore

__all__ = ["Watched", "check_free"]

_Current = TypeVar("_Current")


def check_free(
    store: EntryStore, entry_id: str, new_id: str, expect: Callable[[Entry], None] | None
) -> None:
    """Refuse a move or copy of a missing entry or onto a taken id; then run ``expect``.

    Call it under the store's writers' lock, in the same step as the write: 404 and 409
    come before ``expect``'s 412, as RFC 9110 section 13.2.1 lets them.
    """
    if not store.exists(entry_id):
        raise EntryNotFound(entry_id)
    if store.exists(new_id) or store.has_descendants(new_id):
        raise Conflict(f"Entry '{new_id}' already exists.")
    if expect is not None:
        expect(store.get(entry_id))


class Watched(Generic[_Current]):
    """An ``expect`` that remembers whether it refused its write (then nothing was written)."""

    def __init__(self, expect: Callable[[_Current], None]) -> None:
        self._expect = expect
        self.refused = False

    @classmethod
    def of(cls, expect: Callable[[_Current], None] | None) -> Watched[_Current] | None:
        return None if expect is None else cls(expect)

    def __call__(self, current: _Current) -> None:
        try:
            self._expect(current)
        except BaseException:
            self.refused = True
            raise
