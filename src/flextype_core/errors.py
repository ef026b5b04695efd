"""Every error the domain core raises, each with the stable wire code of the REST contract.

The tree (``code`` in brackets)::

    FlextypeError                      [InternalError]
    ├── BadRequest                     [BadRequest]
    │   ├── InvalidId                  [BadRequest]
    │   └── InvalidArchive             [BadRequest]         (a project archive refused)
    ├── AccessTokenInvalid             [AccessTokenInvalid]
    ├── NotFound                       [NotFound]
    │   ├── EntryNotFound
    │   ├── TokenNotFound
    │   ├── RegistryKeyNotFound
    │   ├── MediaFileNotFound
    │   ├── MediaFolderNotFound
    │   └── WebhookNotFound
    ├── Conflict                       [Conflict]
    ├── PreconditionFailed             [PreconditionFailed]
    ├── PayloadTooLarge                [PayloadTooLarge]
    ├── UnsupportedMediaType           [UnsupportedMediaType]
    ├── ValidationFailed               [ValidationFailed]   (``details``: field paths)
    ├── CallLimitExceeded              [CallLimitExceeded]  (``retry_after``: seconds or None)
    ├── ServiceUnavailable             [ServiceUnavailable] (``retry_after``: seconds)
    ├── ResyncRequired                 [ResyncRequired]     (a change cursor no longer usable)
    └── StorageError                   [InternalError]      (stored data unreadable)

The core never knows an HTTP status: the entrypoint maps these classes to statuses once.
Messages name ids, never paths on disk.
"""

from __future__ import annotations

from typing import ClassVar, Literal

__all__ = [
    "AccessTokenInvalid",
    "AuthFailure",
    "BadRequest",
    "CallLimitExceeded",
    "Conflict",
    "EntryNotFound",
    "FlextypeError",
    "InvalidArchive",
    "InvalidId",
    "MediaFileNotFound",
    "MediaFolderNotFound",
    "NotFound",
    "PayloadTooLarge",
    "PreconditionFailed",
    "QueryTooLong",
    "RegistryKeyNotFound",
    "ResyncRequired",
    "ServiceUnavailable",
    "StorageError",
    "TokenNotFound",
    "UnsupportedMediaType",
    "ValidationFailed",
    "WebhookNotFound",
    "shown",
]


def shown(value: str, limit: int = 80) -> str:
    """Quote a client-supplied string for a message: escaped, and cut when long.

    Control characters (a NUL, say) are escaped so a message stays one printable line.
    """
    text = value if len(value) <= limit else value[:limit] + "..."
    escaped = text.encode("unicode_escape").decode("ascii").replace("'", "\\'")
    return f"'{escaped}'"


class FlextypeError(Exception):
    """Base of every domain error; ``code`` is the stable name clients see."""

    code: ClassVar[str] = "InternalError"

    def __init__(self, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: list[str] = details or []


class BadRequest(FlextypeError):
    """A missing or malformed parameter, option or value."""

    code = "BadRequest"


class InvalidId(BadRequest):
    """An id that is not a valid slug path (traversal, NUL, bad characters, too long)."""


AuthFailure = Literal[
    "missing", "invalid", "disabled", "expired", "scope", "access_token", "signature"
]
"""Why credentials were refused: no token, an unknown one, a disabled or expired one, one
not allowed for the API, a write without its right access token, a bad image signature."""


class InvalidArchive(BadRequest):
    """A project archive that is truncated, tampered with, unsafe or of another format."""


class AccessTokenInvalid(FlextypeError):
    """Missing, unknown, wrong, disabled, expired or out-of-scope credentials.

    ``reason`` tells which, so that an entrypoint can say how to put it right.
    """

    code = "AccessTokenInvalid"

    def __init__(self, message: str, *, reason: AuthFailure = "invalid") -> None:
        super().__init__(message)
        self.reason: AuthFailure = reason


class NotFound(FlextypeError):
    """The named resource does not exist."""

    code = "NotFound"


class EntryNotFound(NotFound):
    """No entry at this id."""

    def __init__(self, entry_id: str) -> None:
        super().__init__(f"Entry {shown(entry_id)} was not found.")
        self.entry_id = entry_id


class TokenNotFound(NotFound):
    """No token with this id."""

    def __init__(self, token_id: str) -> None:
        super().__init__(f"Token {shown(token_id)} was not found.")
        self.token_id = token_id


class RegistryKeyNotFound(NotFound):
    """No registry item at this dot path."""

    def __init__(self, key: str) -> None:
        super().__init__(f"Registry item {shown(key)} was not found.")
        self.key = key


class MediaFileNotFound(NotFound):
    """No media file with this id."""

    def __init__(self, file_id: str) -> None:
        super().__init__(f"File {shown(file_id)} was not found.")
        self.file_id = file_id


class MediaFolderNotFound(NotFound):
    """No media folder with this id."""

    def __init__(self, folder_id: str) -> None:
        super().__init__(f"Folder {shown(folder_id)} was not found.")
        self.folder_id = folder_id


class WebhookNotFound(NotFound):
    """No webhook with this id."""

    def __init__(self, webhook_id: str) -> None:
        super().__init__(f"Webhook {shown(webhook_id)} was not found.")
        self.webhook_id = webhook_id


class Conflict(FlextypeError):
    """The target of a create, move or copy already exists."""

    code = "Conflict"


class PreconditionFailed(FlextypeError):
    """A conditional write whose precondition (``If-Match``) no longer holds."""

    code = "PreconditionFailed"


class PayloadTooLarge(FlextypeError):
    """A body or upload over the configured limit."""

    code = "PayloadTooLarge"


class QueryTooLong(FlextypeError):
    """A query string over the limit: the request line is too long to read."""

    code = "URITooLong"


class UnsupportedMediaType(FlextypeError):
    """A body or upload type that is not accepted."""

    code = "UnsupportedMediaType"


class ValidationFailed(FlextypeError):
    """Well-formed but invalid data; ``details`` lists the offending field paths."""

    code = "ValidationFailed"


class CallLimitExceeded(FlextypeError):
    """The token has used all of its ``limit_calls``."""

    code = "CallLimitExceeded"

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(FlextypeError):
    """Too busy now (e.g. every image render slot is taken); try again after a while."""

    code = "ServiceUnavailable"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ResyncRequired(FlextypeError):
    """A change-feed cursor older than the log keeps, or of another log: list again."""

    code = "ResyncRequired"


class StorageError(FlextypeError):
    """Stored data that cannot be read (broken YAML, a damaged database file)."""
