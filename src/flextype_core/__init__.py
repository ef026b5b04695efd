"""flextype_core: the domain core of flextype-py, usable as a library.

Pure Python over ports: storage, clock, ids and hashing come in through constructors.
Concrete adapters live in ``flextype_adapters``; ``flextype_py.open_project``
wires them from a project's settings.
"""

from __future__ import annotations

from flextype_core.entries import CollectionMethod, EntriesService
from flextype_core.errors import (
    AccessTokenInvalid,
    BadRequest,
    CallLimitExceeded,
    Conflict,
    EntryNotFound,
    FlextypeError,
    InvalidId,
    MediaFileNotFound,
    MediaFolderNotFound,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    RegistryKeyNotFound,
    ServiceUnavailable,
    StorageError,
    TokenNotFound,
    UnsupportedMediaType,
    ValidationFailed,
)
from flextype_core.model import Entry, MediaFile, Page, PageMeta, Selection, Token
from flextype_core.ports import Clock, EntryStore, IdFactory, PasswordHasher, TokenStore
from flextype_core.registry import Registry
from flextype_core.tokens import IssuedToken, TokensService

__version__ = "0.1.0"

__all__ = [
    "AccessTokenInvalid",
    "BadRequest",
    "CallLimitExceeded",
    "Clock",
    "CollectionMethod",
    "Conflict",
    "EntriesService",
    "Entry",
    "EntryNotFound",
    "EntryStore",
    "FlextypeError",
    "IdFactory",
    "InvalidId",
    "IssuedToken",
    "MediaFile",
    "MediaFileNotFound",
    "MediaFolderNotFound",
    "NotFound",
    "Page",
    "PageMeta",
    "PasswordHasher",
    "PayloadTooLarge",
    "PreconditionFailed",
    "Registry",
    "RegistryKeyNotFound",
    "Selection",
    "ServiceUnavailable",
    "StorageError",
    "Token",
    "TokenNotFound",
    "TokenStore",
    "TokensService",
    "UnsupportedMediaType",
    "ValidationFailed",
    "__version__",
]
