"""If-Match and If-None-Match in the services: checked in the same step as the write.

Entry writes and token moves and deletes hand their check to the store (``expect``),
which runs it inside its own lock on the record as it is: ``Interloper`` makes another
writer change the record just before the store call, and the check must see that
change. Media writes and token copies check in an ``exclusive`` block of the store:
``Recorded`` logs every store call and the bounds of the blocks, and a check (the read)
and its write must fall in one block, or another writer could slip in between them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

from flextype_core.entries import EntriesService
from flextype_core.errors import (
    Conflict,
    EntryNotFound,
    MediaFileNotFound,
    MediaFolderNotFound,
    PreconditionFailed,
    TokenNotFound,
)
from flextype_core.etags import entity_tag
from flextype_core.media import MediaService
from flextype_core.ports import EntryStore, MediaStore, TokenStore
from flextype_core.tokens import TokensService
from tests.unit.fakes import (
    FakeEntryStore,
    FakeHasher,
    FakeTokenStore,
    FixedClock,
    SequenceIdFactory,
)
from tests.unit.media_fakes import FakeImageProcessor, FakeMediaStore, FakeUpload

STALE = '"0000000000000000000000000000000000000000"'


class Recorded:
    """A store wrapper: logs each call's name, and ``{`` / ``}`` around exclusive blocks."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.log: list[str] = []

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._store.exclusive():
            self.log.append("{")
            try:
                yield
            finally:
                self.log.append("}")

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self.log.append(name)
            return attribute(*args, **kwargs)

        return call


class Interloper:
    """A store wrapper: another writer's change lands just before the service's write call.

    ``before(name, change)``: the first call of ``name`` runs ``change`` on the wrapped
    store first, as a concurrent writer would between the service's own reads and its
    write. Calls are passed on unchanged.
    """

    def __init__(self, store: Any) -> None:
        self.store = store
        self._pending: dict[str, Callable[[], object]] = {}

    def before(self, name: str, change: Callable[[], object]) -> None:
        self._pending[name] = change

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.store, name)
        if name not in self._pending:
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            change = self._pending.pop(name, None)
            if change is not None:
                change()
            return attribute(*args, **kwargs)

        return call


def in_one_block(log: list[str], *names: str) -> bool:
    """Tell whether ``names`` were called in this order inside a single exclusive block."""
    depth, block = 0, list[str]()
    for item in log:
        if item == "{":
            depth += 1
            if depth == 1:
                block = []
        elif item == "}":
            depth -= 1
            if depth == 0 and _in_order(block, names):
                return True
        elif depth > 0:
            block.append(item)
    return False


def _in_order(calls: list[str], names: tuple[str, ...]) -> bool:
    remaining = iter(calls)
    return all(name in remaining for name in names)


# -- entries ---------------------------------------------------------------------


@pytest.fixture
def entries() -> tuple[EntriesService, Interloper]:
    store = Interloper(FakeEntryStore())
    service = EntriesService(cast("EntryStore", store), FixedClock(), SequenceIdFactory())
    service.create("movies", {"title": "Movies"})
    service.create("movies/dune", {"title": "Dune"})
    return service, store


def entry_tag(service: EntriesService, entry_id: str) -> str:
    return entity_tag(service.fetch(entry_id))


EntryWrite = Callable[[EntriesService, str | None], object]
ENTRY_WRITES: dict[str, tuple[EntryWrite, str]] = {
    "move": (lambda s, tag: s.move("movies/dune", "archive/dune", if_match=tag), "move"),
    "copy": (lambda s, tag: s.copy("movies/dune", "archive/dune", if_match=tag), "copy"),
    "delete": (lambda s, tag: s.delete("movies/dune", if_match=tag), "delete"),
}


@pytest.mark.parametrize("verb", ENTRY_WRITES)
def test_an_entry_write_checks_if_match_against_the_entry_as_the_store_writes_it(
    entries: tuple[EntriesService, Interloper], verb: str
) -> None:
    service, store = entries
    write, store_call = ENTRY_WRITES[verb]
    tag = entry_tag(service, "movies/dune")
    store.before(store_call, lambda: service.update("movies/dune", {"title": "Changed"}))
    before = service.collection("", None)
    with pytest.raises(PreconditionFailed):
        write(service, tag)
    after = service.collection("", None)
    assert [e["id"] for e in after] == [e["id"] for e in before]
    assert service.fetch("movies/dune")["title"] == "Changed"


@pytest.mark.parametrize("verb", ENTRY_WRITES)
def test_a_current_if_match_lets_an_entry_write_through(
    entries: tuple[EntriesService, Interloper], verb: str
) -> None:
    service, _ = entries
    dune = service.fetch("movies/dune")
    ENTRY_WRITES[verb][0](service, entry_tag(service, "movies/dune"))
    if verb == "move":
        assert service.fetch("archive/dune") == {
            **dune,
            "id": "archive/dune",
            "slug": "archive/dune",
        }
    if verb == "copy":
        assert service.fetch("archive/dune")["title"] == "Dune"
    if verb in ("move", "delete"):
        with pytest.raises(EntryNotFound):
            service.fetch("movies/dune")


@pytest.mark.parametrize("verb", ENTRY_WRITES)
def test_a_stale_if_match_on_an_entry_write_changes_nothing(
    entries: tuple[EntriesService, Interloper], verb: str
) -> None:
    service, _ = entries
    before = service.collection("", None)
    with pytest.raises(PreconditionFailed):
        ENTRY_WRITES[verb][0](service, STALE)
    assert service.collection("", None) == before


def test_if_match_on_a_missing_entry_is_not_found_as_without_it(
    entries: tuple[EntriesService, Interloper],
) -> None:
    # RFC 9110 section 13.2.1: an error the request gets anyway wins over preconditions.
    service, _ = entries
    with pytest.raises(EntryNotFound):
        service.delete("movies/none", if_match=STALE)
    with pytest.raises(EntryNotFound):
        service.move("movies/none", "elsewhere", if_match=STALE)


def test_if_match_on_a_move_onto_a_taken_id_is_a_conflict_as_without_it(
    entries: tuple[EntriesService, Interloper],
) -> None:
    service, _ = entries
    with pytest.raises(Conflict):
        service.move("movies/dune", "movies", if_match=STALE)
    with pytest.raises(Conflict):
        service.copy("movies/dune", "movies", if_match=STALE)


def test_create_if_absent_refuses_an_entry_created_just_before_its_write(
    entries: tuple[EntriesService, Interloper],
) -> None:
    service, store = entries
    store.before("create", lambda: service.create("movies/new", {"title": "First"}))
    with pytest.raises(PreconditionFailed):
        service.create("movies/new", {"title": "Second"}, if_none_match="*")
    assert service.fetch("movies/new")["title"] == "First"
    created = service.create("movies/other", {"title": "Other"}, if_none_match="*")
    assert service.fetch("movies/other") == created


def test_create_if_absent_leaves_other_conflicts_as_they_are(
    entries: tuple[EntriesService, Interloper],
) -> None:
    # A Conflict that is no taken id (a path the store cannot write) is no precondition.
    service, store = entries

    def refuse() -> None:
        raise Conflict("cannot be written here")

    store.before("create", refuse)
    with pytest.raises(Conflict, match="cannot be written here"):
        service.create("movies/linked", {"title": "x"}, if_none_match="*")


# -- tokens ----------------------------------------------------------------------


@pytest.fixture
def tokens() -> tuple[TokensService, Recorded, str]:
    store = Recorded(FakeTokenStore())
    service = TokensService(
        cast("TokenStore", store), FakeHasher(), FixedClock(), SequenceIdFactory()
    )
    token_id = service.create({"title": "Site"}).token.token
    store.log.clear()
    return service, store, token_id


TokenWrite = Callable[[TokensService, str, str | None], object]
TOKEN_WRITES: dict[str, TokenWrite] = {
    "update": lambda s, t, tag: s.update(t, {"title": "New"}, if_match=tag),
    "move": lambda s, t, tag: s.move(t, "moved-token-id-0001", if_match=tag),
    "copy": lambda s, t, tag: s.copy(t, "copied-token-id-0001", if_match=tag),
    "delete": lambda s, t, tag: s.delete(t, if_match=tag),
}


def test_a_token_copy_checks_if_match_in_its_own_exclusive_block(
    tokens: tuple[TokensService, Recorded, str],
) -> None:
    service, store, token_id = tokens
    TOKEN_WRITES["copy"](service, token_id, entity_tag(service.fetch(token_id).to_public()))
    assert in_one_block(store.log, "get", "create"), store.log


@pytest.mark.parametrize("verb", ["move", "delete"])
def test_a_token_move_or_delete_checks_if_match_against_the_token_as_the_store_writes_it(
    verb: str,
) -> None:
    store = Interloper(FakeTokenStore())
    service = TokensService(
        cast("TokenStore", store), FakeHasher(), FixedClock(), SequenceIdFactory()
    )
    token_id = service.create({"title": "Site"}).token.token
    tag = entity_tag(service.fetch(token_id).to_public())
    store.before(verb, lambda: service.update(token_id, {"title": "Changed"}))
    with pytest.raises(PreconditionFailed):
        TOKEN_WRITES[verb](service, token_id, tag)
    assert [t.token for t in service.list()] == [token_id]
    assert service.fetch(token_id).title == "Changed"


@pytest.mark.parametrize("verb", TOKEN_WRITES)
def test_a_stale_if_match_on_a_token_write_changes_nothing(
    tokens: tuple[TokensService, Recorded, str], verb: str
) -> None:
    service, _, token_id = tokens
    before = [t.to_public() for t in service.list()]
    with pytest.raises(PreconditionFailed):
        TOKEN_WRITES[verb](service, token_id, STALE)
    assert [t.to_public() for t in service.list()] == before


@pytest.mark.parametrize("verb", TOKEN_WRITES)
def test_a_current_if_match_lets_a_token_write_through(
    tokens: tuple[TokensService, Recorded, str], verb: str
) -> None:
    service, _, token_id = tokens
    TOKEN_WRITES[verb](service, token_id, entity_tag(service.fetch(token_id).to_public()))
    if verb in ("move", "delete"):
        with pytest.raises(TokenNotFound):
            service.fetch(token_id)


def test_a_token_move_onto_a_taken_id_is_a_conflict_whatever_its_if_match(
    tokens: tuple[TokensService, Recorded, str],
) -> None:
    # RFC 9110 section 13.2.1: the 409 the move gets without the header wins over a 412.
    service, _, token_id = tokens
    taken = service.create({"title": "Other"}).token.token
    with pytest.raises(Conflict):
        service.move(token_id, taken, if_match=STALE)
    assert service.fetch(token_id).title == "Site"


def test_pending_calls_count_in_the_token_if_match_is_checked_against(
    tokens: tuple[TokensService, Recorded, str],
) -> None:
    service, _, token_id = tokens
    before_call = entity_tag(service.fetch(token_id).to_public())
    service.verify(token_id, None, "entries", write=False)  # counted, not yet flushed
    with pytest.raises(PreconditionFailed):
        service.update(token_id, {"title": "x"}, if_match=before_call)
    current = entity_tag(service.fetch(token_id).to_public())
    assert service.update(token_id, {"title": "x"}, if_match=current).title == "x"


# -- media -----------------------------------------------------------------------


@pytest.fixture
def media() -> tuple[MediaService, Recorded]:
    store = Recorded(FakeMediaStore())
    service = MediaService(
        cast("MediaStore", store),
        FixedClock(),
        FakeImageProcessor(),
        accept_file_types=["txt"],
        max_file_size=1000,
    )
    service.upload("docs", "a.txt", FakeUpload(b"hello"))
    store.log.clear()
    return service, store


MediaWrite = Callable[[MediaService, str | None], object]
FILE_WRITES: dict[str, tuple[MediaWrite, str]] = {
    "move": (lambda s, tag: s.move("docs/a.txt", "docs/b.txt", if_match=tag), "move_file"),
    "copy": (lambda s, tag: s.copy("docs/a.txt", "docs/b.txt", if_match=tag), "copy_file"),
    "delete": (lambda s, tag: s.delete("docs/a.txt", if_match=tag), "delete_file"),
}
FOLDER_WRITES: dict[str, tuple[MediaWrite, str]] = {
    "move": (lambda s, tag: s.move_folder("docs", "papers", if_match=tag), "move_folder"),
    "copy": (lambda s, tag: s.copy_folder("docs", "papers", if_match=tag), "copy_folder"),
    "delete": (lambda s, tag: s.delete_folder("docs", if_match=tag), "delete_folder"),
}
META_WRITES: dict[str, MediaWrite] = {
    "add": lambda s, tag: s.add_meta("docs/a.txt", "alt", "A", if_match=tag),
    "update": lambda s, tag: s.update_meta("docs/a.txt", "title", "T", if_match=tag),
    "delete": lambda s, tag: s.delete_meta("docs/a.txt", "description", if_match=tag),
}


@pytest.mark.parametrize(
    ("writes", "verb"),
    [*(("file", v) for v in FILE_WRITES), *(("folder", v) for v in FOLDER_WRITES)],
)
def test_a_file_or_folder_write_checks_if_match_in_its_own_exclusive_block(
    media: tuple[MediaService, Recorded], writes: str, verb: str
) -> None:
    service, store = media
    if writes == "file":
        write, store_call = FILE_WRITES[verb]
        tag, check_call = entity_tag(service.fetch("docs/a.txt")), "file"
    else:
        write, store_call = FOLDER_WRITES[verb]
        tag, check_call = entity_tag(service.folder("docs")), "folder_exists"
    write(service, tag)
    assert in_one_block(store.log, check_call, store_call), store.log


@pytest.mark.parametrize("verb", META_WRITES)
def test_a_metadata_write_checks_if_match_against_what_it_changes(
    media: tuple[MediaService, Recorded], verb: str
) -> None:
    service, _ = media
    tag = entity_tag(service.fetch("docs/a.txt"))
    changed = META_WRITES[verb](service, tag)
    assert entity_tag(changed) != tag
    with pytest.raises(PreconditionFailed):
        META_WRITES[verb](service, tag)  # the first write made the tag stale


@pytest.mark.parametrize(
    "write",
    [
        *(w for w, _ in FILE_WRITES.values()),
        *(w for w, _ in FOLDER_WRITES.values()),
        *META_WRITES.values(),
    ],
)
def test_a_stale_if_match_on_a_media_write_changes_nothing(
    media: tuple[MediaService, Recorded], write: MediaWrite
) -> None:
    service, store = media
    before = (dict(store.metas), dict(store.contents), set(store.folder_ids))
    with pytest.raises(PreconditionFailed):
        write(service, STALE)
    assert (dict(store.metas), dict(store.contents), set(store.folder_ids)) == before


def test_if_match_on_missing_media_is_not_found_as_without_it(
    media: tuple[MediaService, Recorded],
) -> None:
    service, _ = media
    with pytest.raises(MediaFileNotFound):
        service.delete("docs/none.txt", if_match=STALE)
    with pytest.raises(MediaFolderNotFound):
        service.delete_folder("none", if_match=STALE)


def test_deleting_children_only_with_if_match_fails_the_precondition(
    entries: tuple[EntriesService, Interloper],
) -> None:
    # Without the header the delete would remove the children; with it, there is no
    # representation of "movies/2020" to match.
    service, _ = entries
    service.create("movies/2020/one", {"title": "One"})
    with pytest.raises(PreconditionFailed):
        service.delete("movies/2020", if_match="*")
    assert service.fetch("movies/2020/one")["title"] == "One"


def test_an_upload_with_if_match_replaces_only_the_file_it_names(
    media: tuple[MediaService, Recorded],
) -> None:
    service, store = media
    tag = entity_tag(service.fetch("docs/a.txt"))
    with pytest.raises(PreconditionFailed):
        service.upload("docs", "a.txt", FakeUpload(b"stale"), if_match=STALE)
    with pytest.raises(PreconditionFailed):
        service.upload("docs", "new.txt", FakeUpload(b"none"), if_match=tag)
    assert store.contents == {"docs/a.txt": b"hello"}
    store.log.clear()
    replaced = service.upload("docs", "a.txt", FakeUpload(b"fresh"), if_match=tag)
    assert replaced["filesize"] == 5 and store.contents["docs/a.txt"] == b"fresh"
    assert in_one_block(store.log, "file", "add_file"), store.log
