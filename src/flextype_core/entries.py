"""EntriesService: the rules for fetching and writing entries, over an EntryStore."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import msgspec

from flextype_core import ids
from flextype_core.errors import (
    BadRequest,
    Conflict,
    EntryNotFound,
    PayloadTooLarge,
    PreconditionFailed,
    StorageError,
    ValidationFailed,
    shown,
)
from flextype_core.etags import check_if_match
from flextype_core.model import Entry, Page, PageMeta
from flextype_core.ports import Clock, EntryStore, IdFactory
from flextype_core.query import IndexedItems, parse_options, select_from, shape

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
_COLLECTIONS_KEPT = 64
"""Collections whose items and indexes are kept between queries (the most recent)."""


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
    """

    def __init__(
        self, store: EntryStore, clock: Clock, ids: IdFactory, *, max_entry_size: int = 0
    ) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids
        self._max_entry_size = max_entry_size
        self._methods: dict[str, CollectionMethod] = {}
        self._collections: OrderedDict[
            tuple[str, int | None, int], tuple[Hashable, IndexedItems, tuple[str, ...]]
        ] = OrderedDict()

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

        The pipeline is where -> sort_by -> offset/limit -> return -> group_by ->
        only/except (see ``flextype_core.query``). ``options[method]`` calls a method
        registered with ``register_method`` instead. Entries in range that cannot be
        read are left out and named in ``meta.unreadable``.

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
        """
        parent = ids.parse_parent_id(parent_id)
        query = parse_options(options)
        if query.method is not None:
            method = self._methods.get(query.method)
            if method is None:
                raise BadRequest(f"options[method]: unknown method {shown(query.method)}.")
            return Page(data=method(parent, options))
        items, unreadable = self._collection(parent, query.depth, query.min_depth)
        selected = select_from(query, items)
        data = shape(query, selected)
        meta = PageMeta(
            total=len(selected), offset=query.offset, limit=query.limit, unreadable=unreadable
        )
        return Page(data=data if shared else _copied(data), meta=meta)

    def _collection(
        self, parent: str, depth: int | None, min_depth: int
    ) -> tuple[IndexedItems, tuple[str, ...]]:
        """The items below ``parent`` with their query indexes, and the unreadable ids.

        Both are kept per store version.

        Raises:
            EntryNotFound: ``parent`` is neither an entry nor has descendants.
        """
        key = (parent, depth, min_depth)
        version = self._store.version()
        cached = self._collections.get(key)
        if cached is not None and cached[0] == version:
            self._collections.move_to_end(key)
            return cached[1], cached[2]
        found = self._store.descendants(parent, depth)
        unreadable = self._store.unreadable(parent, depth)
        if min_depth > 1:
            found = [e for e in found if ids.child_depth(e.id, parent) >= min_depth]
            unreadable = [i for i in unreadable if ids.child_depth(i, parent) >= min_depth]
        if (
            not found
            and not unreadable
            and parent != ids.ROOT
            and not self._store.exists(parent)
            and not self._store.has_descendants(parent)
        ):
            raise EntryNotFound(parent)
        items = IndexedItems([entry.public for entry in found])
        self._collections[key] = (version, items, tuple(unreadable))
        while len(self._collections) > _COLLECTIONS_KEPT:
            self._collections.popitem(last=False)
        return items, tuple(unreadable)

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
        if not asked_absent:
            # The store refuses a taken id itself; holding off other writers around it
            # would also make them wait while a big entry is serialised.
            self._store.create({entry_id: fields})
        else:
            with self._store.exclusive():
                if self._store.exists(entry_id):
                    raise PreconditionFailed(f"Entry {shown(entry_id)} exists (If-None-Match: *).")
                self._store.create({entry_id: fields})
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

        Raises:
            InvalidId: either id is not valid.
            BadRequest: ``new_id`` lies inside the entry's own subtree.
            EntryNotFound: there is no entry at ``entry_id``.
            Conflict: ``new_id`` holds an entry or has descendants.
            PreconditionFailed: ``if_match`` does not name the current entry.
        """
        with self._store.exclusive():
            source, target = self._source_and_target(entry_id, new_id, "move")
            self._check_if_match(source, if_match)
            self._store.move(source, target)
            return self._store.get(target).to_public()

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
        now = self._clock.now()
        with self._store.exclusive():
            source, target = self._source_and_target(entry_id, new_id, "copy")
            self._check_if_match(source, if_match)
            root = self._store.get(source)
            broken = self._store.unreadable(source, None)
            if broken:
                raise StorageError(
                    f"Entry {shown(source)} cannot be copied: {len(broken)} entries below it "
                    f"cannot be read, such as {shown(broken[0])}."
                )
            copies: dict[str, dict[str, Any]] = {}
            for entry in [root, *self._store.descendants(source, None)]:
                fields = {**entry.fields, "uuid": self._ids.uuid(), "modified_at": now}
                copies[ids.rebase(entry.id, source, target)] = fields
            self._store.create(copies)
        return Entry(id=target, fields=copies[target]).to_public()

    def delete(self, entry_id: object, *, if_match: str | None = None) -> None:
        """Delete the entry and every descendant.

        Raises:
            InvalidId: ``entry_id`` is not a valid id.
            EntryNotFound: nothing exists at ``entry_id``.
            PreconditionFailed: ``if_match`` does not name the current entry.
        """
        entry_id = ids.parse_entry_id(entry_id)
        with self._store.exclusive():
            self._check_if_match(entry_id, if_match)
            self._store.delete(entry_id)

    def _check_if_match(self, entry_id: str, if_match: str | None) -> None:
        """Check ``If-Match``: call it in the same ``exclusive`` block as the write.

        A missing entry stays a 404 (``EntryNotFound``): RFC 9110 section 13.2.1 lets an
        error the request would get anyway win over its preconditions.
        """
        if if_match is None:
            return
        try:
            current = self._store.get(entry_id).to_public()
        except EntryNotFound:
            if not self._store.has_descendants(entry_id):
                raise
            # Only children: the delete would go on without the header, but If-Match
            # names a representation, and there is none.
            raise PreconditionFailed(
                f"Entry {shown(entry_id)} does not exist (If-Match: {shown(if_match)})."
            ) from None
        check_if_match(if_match, current, f"Entry {shown(entry_id)}")

    def _source_and_target(self, entry_id: object, new_id: object, verb: str) -> tuple[str, str]:
        source = ids.parse_entry_id(entry_id)
        target = ids.parse_entry_id(new_id)
        if target != source and ids.is_within(target, source):
            raise BadRequest(
                f"Cannot {verb} entry {shown(source)} into its own subtree ({shown(target)})."
            )
        if not self._store.exists(source):
            raise EntryNotFound(source)
        if self._store.exists(target) or self._store.has_descendants(target):
            raise Conflict(f"Entry {shown(target)} already exists.")
        return source, target
