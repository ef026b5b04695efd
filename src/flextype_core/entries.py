"""EntriesService: the rules for fetching and writing entries, over an EntryStore."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any

import msgspec

from flextype_core import ids, walk
from flextype_core.changes import ChangeLog
from flextype_core.errors import (
    BadRequest,
    Conflict,
    PayloadTooLarge,
    PreconditionFailed,
    ValidationFailed,
    shown,
)
from flextype_core.etags import check_if_match
from flextype_core.model import Entry, Page, PageMeta
from flextype_core.ports import Clock, EntryStore, IdFactory, SecretStore
from flextype_core.query import cursor, parse_options, shape_page
from flextype_core.query.highlight import annotate
from flextype_core.query.keyset import keyset_of
from flextype_core.query.model import Query

__all__ = ["DEFAULT_VISIBILITY", "MANAGED_FIELDS", "VISIBILITIES", "EntriesService"]

MANAGED_FIELDS = frozenset({"id", "slug", "uuid", "created_at", "modified_at"})
"""Fields only the server sets; writing one through ``data`` is a ValidationFailed."""

VISIBILITIES = ("visible", "hidden", "draft")
DEFAULT_VISIBILITY = "visible"


def _is_int(value: object) -> bool:
    # bool is an int subclass in Python, but ``true`` is no timestamp.
    return isinstance(value, int) and not isinstance(value, bool)


_KNOWN_FIELDS: dict[str, tuple[str, Any]] = {
    "published_at": ("an integer Unix time", _is_int),
    "published_by": ("a string", lambda v: isinstance(v, str)),
    "created_by": ("a string", lambda v: isinstance(v, str)),
    "routable": ("a boolean", lambda v: isinstance(v, bool)),
    "visibility": (
        "one of " + ", ".join(VISIBILITIES),
        lambda v: isinstance(v, str) and v in VISIBILITIES,
    ),
}


def _checked_data(data: object) -> dict[str, Any]:
    """Return ``data`` as a dict if it is writable entry data, else raise ValidationFailed."""
    if not isinstance(data, Mapping):
        raise ValidationFailed(
            f"'data' must be an object, got {type(data).__name__}.", details=["data"]
        )
    bad_keys = [k for k in data if not isinstance(k, str) or k == ""]
    if bad_keys:
        raise ValidationFailed(
            "Field names must be non-empty strings.", details=[f"data.{k}" for k in bad_keys]
        )
    managed = sorted(k for k in data if k in MANAGED_FIELDS)
    if managed:
        raise ValidationFailed(
            "These fields are managed by the server and cannot be written: "
            + ", ".join(managed)
            + ".",
            details=[f"data.{k}" for k in managed],
        )
    wrong = [
        (key, expected)
        for key, (expected, accepts) in _KNOWN_FIELDS.items()
        if key in data and not accepts(data[key])
    ]
    if wrong:
        raise ValidationFailed(
            "; ".join(f"'{key}' must be {expected}" for key, expected in wrong) + ".",
            details=[f"data.{key}" for key, _ in wrong],
        )
    return dict(data)


CollectionMethod = Callable[[str, Mapping[str, Any]], Any]
"""A named collection method: ``(parent id, options) -> data``."""

_COPY_ENCODER = msgspec.json.Encoder()
# Sizes the fields a library caller may give too: anything JSON lacks counts as its text.
_SIZE_ENCODER = msgspec.json.Encoder(enc_hook=str)


def _copied(data: Any) -> Any:
    # A JSON round trip is the fastest deep copy of JSON-shaped data.
    return msgspec.json.decode(_COPY_ENCODER.encode(data))


class EntriesService:
    """Fetch, create, update, move, copy and delete entries.

    Args:
        store: where entries live.
        clock: the time source for ``created_at``/``modified_at``/``published_at``.
        ids: the source of new uuids.
        max_entry_size: the most bytes an entry's stored fields may take, encoded as
            JSON (0: no limit). Creates and updates past it are refused.
        secrets: where the key that signs cursors is kept (shared by every process on
            the same storage); None: one in memory, so cursors last as long as the service.
        changes: the change log the store's writes append to: a cursor walk leaves out
            the entries changed since its first page (``flextype_core.walk``), so none
            comes twice. None: pages follow the keyset alone (decision 217).
    """

    def __init__(
        self,
        store: EntryStore,
        clock: Clock,
        ids: IdFactory,
        *,
        max_entry_size: int = 0,
        secrets: SecretStore | None = None,
        changes: ChangeLog | None = None,
    ) -> None:
        self._store = store
        self._changes = changes
        self._secrets = secrets or cursor.MemorySecrets()
        self._cursor_key: bytes | None = None
        self._clock = clock
        self._ids = ids
        self._max_entry_size = max_entry_size
        self._methods: dict[str, CollectionMethod] = {}

    def fetch(self, entry_id: object) -> dict[str, Any]:
        """Return one entry as the API shows it (stored fields plus ``id`` and ``slug``).

        Raises:
            InvalidId: ``entry_id`` is not a valid id.
            EntryNotFound: there is no such entry.
        """
        return self._store.get(ids.parse_entry_id(entry_id)).to_public()

    def fetch_cached(self, entry_id: object, *, shared: bool = False) -> dict[str, Any] | None:
        """``fetch``, if the store holds the entry in memory; else None (no file is read).

        Cheap enough for an event loop: a server answers these there and sends the rest
        (a first read, a file changed since, a missing entry) to a worker thread, so that
        parsing a big entry never holds up other requests.

        Args:
            entry_id: the entry's id.
            shared: return a value that may share nested data with the store's memory,
                for a caller that only serialises it (saves a copy); changing it would
                change the store, and what it writes next.

        Raises:
            InvalidId: ``entry_id`` is not a valid id.
        """
        entry = self._store.cached(ids.parse_entry_id(entry_id))
        if entry is None:
            return None
        return entry.to_public() if shared else _copied(entry.to_public())

    def version(self) -> Hashable:
        """The store's version (``EntryStore.version``): equal while no entry changes."""
        return self._store.version()

    @staticmethod
    def repeatable(options: Mapping[str, Any]) -> bool:
        """Whether ``query(parent, options)`` answers the same while no entry changes.

        Not for ``return`` ``random`` or ``shuffle``, nor a named method (any code).

        Raises:
            BadRequest: as ``query``.
        """
        query = parse_options(options)
        return query.method is None and query.return_ not in ("random", "shuffle")

    def collection(self, parent_id: object, depth: int | None = 1) -> list[dict[str, Any]]:
        """Return the entries below ``parent_id``, ordered by id.

        Args:
            parent_id: an entry id, or ``""``/``"/"`` for the root.
            depth: how many levels down (1: direct children); None for every level.

        Raises:
            InvalidId: ``parent_id`` is not a valid id.
            BadRequest: ``depth`` is below 1.
            EntryNotFound: ``parent_id`` is neither an entry nor has descendants. The root
                always exists.
        """
        if depth is not None and depth < 1:
            raise BadRequest(f"Depth must be 1 or more, got {depth}.")
        found: list[dict[str, Any]] = self.query(
            parent_id, {"find": {"depth": "all" if depth is None else depth}}
        ).data
        return found

    def query(self, parent_id: object, options: Mapping[str, Any], *, shared: bool = False) -> Page:
        """Run a collection query: ``options`` as the REST API takes them.

        The pipeline is where -> sort_by -> offset/limit, which the store answers
        (``EntryStore.select``), then return -> group_by -> only/except over the page
        (see ``flextype_core.query``). ``options[method]`` calls a method registered
        with ``register_method`` instead. Entries in range that cannot be read are left
        out and named in ``meta.unreadable``.

        Args:
            parent_id: an entry id, or ``""``/``"/"`` for the root.
            options: ``find``, ``filter`` and ``method``, as nested data (bracket query
                strings give strings; JSON gives typed values).
            shared: return values that may share nested data with the store's memory,
                for a caller that only serialises them (saves a copy).

        Raises:
            BadRequest: a malformed option (the message names it) or an unknown method.
            InvalidId: ``parent_id`` is not a valid id.
            EntryNotFound: ``parent_id`` is neither an entry nor has descendants.
            ResyncRequired: a cursor walk the change log can no longer vouch for (too
                many changes since it began, changes purged, another log).
        """
        parent = ids.parse_parent_id(parent_id)
        query = parse_options(options)
        if query.method is not None:
            method = self._methods.get(query.method)
            if method is None:
                raise BadRequest(f"options[method]: unknown method {shown(query.method)}.")
            return Page(data=method(parent, options))
        query, walked = self._select(parent, query)
        selection = walked.selection
        # New dicts for _score/_highlight: the store's items are shared, never changed.
        data = shape_page(query, annotate(selection.items, query.search, selection.scores))
        meta = PageMeta(
            total=selection.total,
            offset=query.offset,
            limit=query.limit,
            unreadable=selection.unreadable,
            next=self._next(parent, query, walked),
        )
        return Page(data=data if shared else _copied(data), meta=meta)

    def _select(self, parent: str, query: Query) -> tuple[Query, walk.Walked]:
        """The store's selection for ``query``, its cursor checked: a page of a walk."""
        began: cursor.Walk | None = None
        if query.after is not None:
            keyset, began = cursor.read(query.after, parent, query, self._cursor_secret())
            query = msgspec.structs.replace(query, keyset=keyset)
        return query, walk.select(self._store, self._changes, parent, query, began)

    def _cursor_secret(self) -> bytes:
        # Made once and never changed: one read per service, not one per query.
        if self._cursor_key is None:
            self._cursor_key = self._secrets.secret(cursor.CURSOR_KEY_NAME)
        return self._cursor_key

    def _next(self, parent: str, query: Query, walked: walk.Walked) -> str | None:
        """The cursor after the page, when ``limit`` cut the list and more items follow.

        Only ``return=all`` (grouped or not) pages: ``first``, ``last``, ``next`` and
        ``random`` answer one item and ``shuffle`` reorders the page, so none has a
        "next page" (they take ``after`` all the same: the items after it). The cursor
        follows the last item walked over (a walk's page may leave out its last ones).
        """
        selection, last = walked.selection, walked.last
        if query.limit is None or query.return_ != "all" or last is None:
            return None
        more = selection.more
        if more is None:
            more = query.offset + len(selection.items) < selection.total
        if not more:
            return None
        keyset = keyset_of(last, query, walked.last_score)
        return cursor.encode(keyset, parent, query, self._cursor_secret(), walked.walk)

    def register_method(self, name: str, method: CollectionMethod) -> None:
        """Make ``options[method]=name`` call ``method(parent_id, options)``.

        The method's return value is the answer's ``data`` (JSON-able values only).
        """
        self._methods[name] = method

    def create(
        self, entry_id: object, data: object, *, if_none_match: str | None = None
    ) -> dict[str, Any]:
        """Create an entry from ``data`` and return it.

        Managed fields are set (``uuid``, ``created_at``, ``modified_at``); defaults fill
        ``published_at`` (now), ``published_by`` and ``created_by`` (""), ``routable``
        (true) and ``visibility`` ("visible") when ``data`` lacks them.

        Raises:
            InvalidId: ``entry_id`` is not a valid id.
            ValidationFailed: ``data`` is not an object, writes a managed field, or gives a
                known field a wrong type.
            Conflict: an entry already exists at ``entry_id``.
            PreconditionFailed: ``if_none_match`` is ``*`` and the entry exists.
            PayloadTooLarge: the fields, encoded as JSON, are over ``max_entry_size``.
        """
        entry_id = ids.parse_entry_id(entry_id)
        fields = _checked_data(data)
        asked_absent = if_none_match is not None and if_none_match.strip() == "*"
        now = self._clock.now()
        fields.setdefault("published_at", now)
        fields.setdefault("published_by", "")
        fields.setdefault("created_by", "")
        fields.setdefault("routable", True)
        fields.setdefault("visibility", DEFAULT_VISIBILITY)
        fields.update(uuid=self._ids.uuid(), created_at=now, modified_at=now)
        self._check_size(entry_id, fields)
        try:
            # The store refuses a taken id itself, as one step with the write.
            self._store.create({entry_id: fields})
        except Conflict:
            # Only a taken id fails the precondition (not a path the store cannot write).
            if asked_absent and self._store.exists(entry_id):
                raise PreconditionFailed(
                    f"Entry {shown(entry_id)} exists (If-None-Match: *)."
                ) from None
            raise
        return Entry(id=entry_id, fields=fields).to_public()

    def _check_size(self, entry_id: str, fields: dict[str, Any]) -> None:
        limit = self._max_entry_size
        if limit <= 0:
            return
        size = len(_SIZE_ENCODER.encode(fields))
        if size > limit:
            raise PayloadTooLarge(
                f"Entry {shown(entry_id)} would take {size} bytes (its fields as JSON); "
                f"at most {limit} bytes are accepted."
            )

    def update(
        self, entry_id: object, data: object, *, if_match: str | None = None
    ) -> dict[str, Any]:
        """Merge ``data`` into the entry's top-level fields and return the result.

        ``if_match`` (an ``If-Match`` header) is checked against the entry as it is read
        for the update, in the same step: no other write can come in between.

        Raises:
            InvalidId, ValidationFailed: as for ``create``.
            EntryNotFound: there is no such entry.
            PreconditionFailed: ``if_match`` does not name the current entry.
            PayloadTooLarge: the merged fields are over ``max_entry_size``.
        """
        entry_id = ids.parse_entry_id(entry_id)
        changes = _checked_data(data)
        now = self._clock.now()

        def merge(fields: dict[str, Any]) -> dict[str, Any]:
            current = Entry(id=entry_id, fields=fields).to_public()
            check_if_match(if_match, current, f"Entry {shown(entry_id)}")
            merged = {**fields, **changes, "modified_at": now}
            self._check_size(entry_id, merged)
            return merged

        return self._store.update(entry_id, merge).to_public()

    def move(
        self, entry_id: object, new_id: object, *, if_match: str | None = None
    ) -> dict[str, Any]:
        """Move the entry and its descendants to ``new_id``; return the moved entry.

        Fields are kept as they are (the seed's move example keeps ``modified_at``).
        ``if_match`` is checked by the store against the entry as it moves it, in the
        same step (``EntryStore.move``'s ``expect``).

        Raises:
            InvalidId: either id is not valid.
            BadRequest: ``new_id`` lies inside the entry's own subtree.
            EntryNotFound: there is no entry at ``entry_id``.
            Conflict: ``new_id`` holds an entry or has descendants.
            PreconditionFailed: ``if_match`` does not name the current entry.
        """
        source, target = self._source_and_target(entry_id, new_id, "move")
        moved: list[Entry] = []

        def expect(current: Entry) -> None:
            self._check_if_match(current, if_match)
            moved.append(current)  # its fields as they are moved, for the answer

        self._store.move(source, target, expect=expect)
        return Entry(id=target, fields=moved[0].fields).to_public()

    def copy(
        self, entry_id: object, new_id: object, *, if_match: str | None = None
    ) -> dict[str, Any]:
        """Copy the entry and its descendants to ``new_id``; return the copy.

        Every copied entry gets a new ``uuid`` and ``modified_at``; other fields,
        ``created_at`` included, are copied as the seed's copy example shows.

        Raises:
            As ``move``.
            StorageError: an entry of the subtree cannot be read; nothing is copied
                (a copy without it would lose it silently).
        """
        source, target = self._source_and_target(entry_id, new_id, "copy")
        now = self._clock.now()

        def renew(fields: dict[str, Any]) -> dict[str, Any]:
            return {**fields, "uuid": self._ids.uuid(), "modified_at": now}

        copied = self._store.copy(
            source, target, renew, expect=lambda current: self._check_if_match(current, if_match)
        )
        return copied.to_public()

    def delete(self, entry_id: object, *, if_match: str | None = None) -> None:
        """Delete the entry and every descendant.

        Raises:
            InvalidId: ``entry_id`` is not a valid id.
            EntryNotFound: nothing exists at ``entry_id``.
            PreconditionFailed: ``if_match`` does not name the current entry, or there
                is no entry at ``entry_id``, only entries below it.
        """
        entry_id = ids.parse_entry_id(entry_id)
        if if_match is None:
            self._store.delete(entry_id)
            return

        def expect(current: Entry | None) -> None:
            if current is None:
                # Only children: the delete would go on without the header, but If-Match
                # names a representation, and there is none.
                raise PreconditionFailed(
                    f"Entry {shown(entry_id)} does not exist (If-Match: {shown(if_match)})."
                )
            self._check_if_match(current, if_match)

        self._store.delete(entry_id, expect=expect)

    @staticmethod
    def _check_if_match(current: Entry, if_match: str | None) -> None:
        """Check ``If-Match`` against the entry as the store holds it for the write.

        A missing entry stays a 404 (``EntryNotFound``, raised by the store before it
        calls this): RFC 9110 section 13.2.1 lets an error the request would get anyway
        win over its preconditions.
        """
        if if_match is not None:
            check_if_match(if_match, current.to_public(), f"Entry {shown(current.id)}")

    @staticmethod
    def _source_and_target(entry_id: object, new_id: object, verb: str) -> tuple[str, str]:
        source = ids.parse_entry_id(entry_id)
        target = ids.parse_entry_id(new_id)
        if target != source and ids.is_within(target, source):
            raise BadRequest(
                f"Cannot {verb} entry {shown(source)} into its own subtree ({shown(target)})."
            )
        return source, target
