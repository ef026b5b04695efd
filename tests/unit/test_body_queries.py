"""Queries in a body, below HTTP: the error of a failing query names it, on a copy."""

from __future__ import annotations

import pytest

from flextype_core.entries import EntriesService
from flextype_core.errors import CallLimitExceeded, EntryNotFound, FlextypeError, StorageError
from flextype_core.model import Entry
from flextype_entrypoints.http.bodies import NamedQuery
from flextype_entrypoints.http.queries import run_queries
from tests.unit.fakes import FakeEntryStore, FixedClock, SequenceIdFactory


class KeptErrorStore(FakeEntryStore):
    """A store that keeps one error object and raises it at every read (as a store that
    remembers a damaged file may)."""

    def __init__(self, error: FlextypeError) -> None:
        super().__init__()
        self.error = error

    def get(self, entry_id: str) -> Entry:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        EntryNotFound("movies/nope"),
        CallLimitExceeded("Spent.", retry_after=30),
        StorageError("Entry 'movies/nope' cannot be read: damaged.", details=["movies/nope"]),
    ],
)
def test_a_failing_query_raises_a_named_copy_of_its_error(error: FlextypeError) -> None:
    service = EntriesService(KeptErrorStore(error), FixedClock(), SequenceIdFactory())
    original = error.message
    for _ in range(2):
        with pytest.raises(type(error)) as raised:
            run_queries(service, {"one": NamedQuery(id="movies/nope")})
        named = raised.value
        assert named is not error
        assert named.message == f"Query 'one': {original}"
        assert named.details == error.details
        assert getattr(named, "retry_after", None) == getattr(error, "retry_after", None)
    assert error.message == original
