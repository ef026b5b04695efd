"""flextype_py: flextype-py as a Python library, under the one documented import name.

``flextype_py.open_project("my-project")`` opens a project folder with its services
wired from its settings (``entries``, ``tokens``, ``media``, ``registry``); the domain
types and errors come with it. The packages behind it (``flextype_core``, the pure
domain; ``flextype_adapters``; ``flextype_entrypoints``) are importable too, but this
name is the one whose contents stay stable.
"""

from __future__ import annotations

from flextype_core import (
    AccessTokenInvalid,
    BadRequest,
    CallLimitExceeded,
    CollectionMethod,
    Conflict,
    EntriesService,
    Entry,
    EntryNotFound,
    EntryStore,
    FlextypeError,
    InvalidId,
    MediaFile,
    MediaFileNotFound,
    MediaFolderNotFound,
    NotFound,
    Page,
    PageMeta,
    PayloadTooLarge,
    PreconditionFailed,
    Registry,
    RegistryKeyNotFound,
    StorageError,
    Token,
    TokenNotFound,
    TokensService,
    UnsupportedMediaType,
    ValidationFailed,
    __version__,
)
from flextype_entrypoints.project import Project, open_project
from flextype_entrypoints.settings import SettingsError

__all__ = [
    "AccessTokenInvalid",
    "BadRequest",
    "CallLimitExceeded",
    "CollectionMethod",
    "Conflict",
    "EntriesService",
    "Entry",
    "EntryNotFound",
    "EntryStore",
    "FlextypeError",
    "InvalidId",
    "MediaFile",
    "MediaFileNotFound",
    "MediaFolderNotFound",
    "NotFound",
    "Page",
    "PageMeta",
    "PayloadTooLarge",
    "PreconditionFailed",
    "Project",
    "Registry",
    "RegistryKeyNotFound",
    "SettingsError",
    "StorageError",
    "Token",
    "TokenNotFound",
    "TokensService",
    "UnsupportedMediaType",
    "ValidationFailed",
    "__version__",
    "open_project",
]
