"""Domain types: entries and tokens, as msgspec Structs."""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, BinaryIO, Literal

import msgspec

from flextype_core.errors import CallLimitExceeded, shown

__all__ = [
    "API_NAMES",
    "DEFAULT_TOKEN_APIS",
    "CallCount",
    "Entry",
    "MediaContent",
    "MediaFile",
    "Model",
    "Page",
    "PageMeta",
    "Selection",
    "Token",
    "TokenState",
]

API_NAMES = ("entries", "registry", "tokens", "media", "images", "changes", "webhooks")
"""The API families a token can be scoped to (``*`` means all of them)."""

DEFAULT_TOKEN_APIS = ("entries", "registry", "media", "images")

TokenState = Literal["enabled", "disabled"]


class Model(msgspec.Struct, frozen=True, kw_only=True):
    """Base of the domain types.

    ``frozen``: values are shared between threads and caches, so nobody may change one in
    place; a change is a new value (``msgspec.structs.replace``).
    ``kw_only``: fields are named at every construction, so adding one never shifts others.
    Subclasses repeat both options because mypy's dataclass transform does not inherit them.
    """


class Entry(Model, frozen=True, kw_only=True, dict=True):
    """One entry: its id and its stored fields.

    ``dict=True`` gives instances a ``__dict__`` for ``public``, computed once per entry:
    a store that keeps entries in memory then hands out the same view to every query.
    """

    id: str
    """The slash-separated slug path, e.g. ``movies/2019/the-platform``."""
    fields: dict[str, Any]
    """The stored fields. ``id`` and ``slug`` are not stored: the location implies them."""

    def to_public(self) -> dict[str, Any]:
        """Return the entry as the API shows it: the stored fields plus ``id`` and ``slug``."""
        return {**self.fields, "id": self.id, "slug": self.id}

    @cached_property
    def public(self) -> dict[str, Any]:
        """``to_public()``, made once and shared: read it, never change it."""
        return self.to_public()


class Token(Model, frozen=True, kw_only=True):
    """An API token. The access token itself is never stored, only its bcrypt hash."""

    token: str
    """The public id: 32 lowercase hex when generated, 16-64 of ``[A-Za-z0-9_-]`` if chosen."""
    hashed_access_token: str
    """bcrypt hash of the access token (``$2y$`` from PHP and ``$2b$`` both verify)."""
    uuid: str
    created_at: int
    modified_at: int
    title: str = ""
    state: TokenState = "enabled"
    apis: tuple[str, ...] = DEFAULT_TOKEN_APIS
    """The API families this token may use; ``("*",)`` for all."""
    limit_calls: int = 0
    """How many calls the token may make in all; 0 means no limit."""
    calls: int = 0
    """Calls made so far, as last flushed to the store."""
    expires_at: int | None = None
    """Unix time from which the token is refused; None: never."""
    last_used_at: int | None = None

    def allows(self, api: str) -> bool:
        """Tell whether this token is scoped to ``api``."""
        return "*" in self.apis or api in self.apis

    def counted(self, count: CallCount) -> Token:
        """Return this token with ``count`` added: calls summed, ``last_used_at`` the later."""
        last = count.last_used_at
        if self.last_used_at is not None:
            last = max(last, self.last_used_at)
        return msgspec.structs.replace(self, calls=self.calls + count.calls, last_used_at=last)

    def spent(self, at: int) -> Token:
        """Return this token with one more call at ``at``, if it has calls left.

        Raises:
            CallLimitExceeded: ``limit_calls`` is set and ``calls`` has reached it.
        """
        if self.limit_calls and self.calls >= self.limit_calls:
            raise CallLimitExceeded(
                f"Token {shown(self.token)} has used all {self.limit_calls} of its calls."
            )
        return self.counted(CallCount(calls=1, last_used_at=at))

    def to_public(self) -> dict[str, Any]:
        """Return the token as the API shows it: every field but the access token's hash."""
        shown: dict[str, Any] = msgspec.to_builtins(self)
        del shown["hashed_access_token"]
        return shown


class CallCount(Model, frozen=True, kw_only=True):
    """The calls one process counted for a token since its last flush."""

    calls: int
    last_used_at: int
    """Unix time of the latest of them."""


_UNREADABLE = (
    "Ids of the items in range left out because their stored data cannot be read "
    "(a file broken by hand); absent when there are none."
)


class PageMeta(Model, frozen=True, kw_only=True, omit_defaults=True):
    """How a collection answer relates to the whole collection."""

    total: int
    """How many entries matched, before offset and limit."""
    offset: int
    limit: int | None
    unreadable: Annotated[tuple[str, ...], msgspec.Meta(description=_UNREADABLE)] = ()
    """The ids of items left out because their stored data is damaged (absent if none)."""
    next: str | None = None
    """The cursor of the next page (``options[filter][after]``); absent on the last page
    and when no ``limit`` cut the answer."""


class Page(Model, frozen=True, kw_only=True):
    """A collection answer: the items (or the one item, or groups) and their meta."""

    data: Any
    """A list of entries, one entry or None (``return``), or ``{group: [entries]}``."""
    meta: PageMeta | None = None
    """None for the answer of a named method."""


class Selection(msgspec.Struct, frozen=True):
    """The collection part of a query, as a store answers it (``EntryStore.select``)."""

    items: list[dict[str, Any]]
    """The page: public items (stored fields plus ``id`` and ``slug``), possibly shared
    with the store's memory (read them, never change them)."""
    total: int
    """How many entries matched, before offset and limit."""
    unreadable: tuple[str, ...] = ()
    """The ids in range whose stored data cannot be read (in neither ``items`` nor
    ``total``), in code-point order."""
    scores: tuple[float, ...] | None = None
    """With a search: each page item's relevance (higher is better), in page order."""
    more: bool | None = None
    """Whether matches follow the page; None: ``offset + len(items) < total`` says."""
    scores_shift: bool = False
    """Whether ``scores`` depend on other entries (BM25 weighs a word by how many entries
    hold it): a write anywhere may then move an unchanged entry's score."""


class MediaFile(Model, frozen=True, kw_only=True):
    """A file under ``media/`` and its metadata sidecar."""

    id: str
    """The folder id plus the file name, e.g. ``movies/posters/dune.jpg``."""
    meta: dict[str, Any]
    """title, description, type (MIME), filesize, uploaded_on, width/height for images,
    and user fields, all at the top level."""


class MediaContent(Model, frozen=True, kw_only=True):
    """What a media file's ``url`` answers: its bytes as a stream, or where to fetch them.

    Exactly one of ``stream`` and ``redirect`` is set. The receiver closes ``stream``.
    """

    media_type: str
    """The file's MIME type (from its metadata)."""
    size: int | None
    """Its size in bytes as its metadata records it; None if the metadata has none."""
    stream: BinaryIO | None = None
    """The bytes, from the start."""
    redirect: str | None = None
    """A short-lived URL that serves the bytes without credentials (a presigned GET)."""
