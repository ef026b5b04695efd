"""Project settings: ``flextype.yaml`` plus ``FLEXTYPE_*`` environment overrides, validated."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from flextype_entrypoints.settings_check import Sources, explain_invalid, find_unknown_key

__all__ = [
    "ENV_PREFIX",
    "MIB",
    "SETTINGS_FILE",
    "SETTINGS_HEADER",
    "MediaS3Settings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "env_overrides",
    "load_settings",
    "settings_mapping",
]

SETTINGS_FILE = "flextype.yaml"
SETTINGS_HEADER = "# flextype-py settings; every key is optional. See README.md, 'Settings'.\n"
"""The first line of a settings file that flextype writes."""
ENV_PREFIX = "FLEXTYPE_"
# Variables of the project's own tests share the prefix (the PostgreSQL suites' server
# and CI's demand for it); a server started by those tests must not read them as settings.
_NOT_SETTINGS = frozenset(
    {"FLEXTYPE_PROJECT", "FLEXTYPE_TEST_DATABASE_URL", "FLEXTYPE_REQUIRE_POSTGRES"}
)


class SettingsError(Exception):
    """A settings file or variable that cannot be used; the message names the key."""


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every settings section.

    ``forbid_unknown_fields``: a misspelt key (``titel``) must stop the server at start
    rather than be silently ignored.
    """


class PostgresSettings(_Section, forbid_unknown_fields=True, kw_only=True):
    """Where the ``postgres`` driver keeps entries, tokens and the change log."""

    url: str = ""
    """``postgresql://user:password@host:port/database``; a secret, never served."""
    schema: str = "flextype"
    """The PostgreSQL schema of this project's tables (several projects may share a
    database)."""
    pool_size: Annotated[int, msgspec.Meta(gt=0)] = 10
    """Connections each server process keeps open at most."""
    pool_timeout: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    """Seconds a request waits for a free connection before it answers 503."""
    statement_timeout: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    """Seconds one SQL statement may run before it is cancelled (503)."""
    indexes: Annotated[list[str], msgspec.Meta(max_length=32)] = msgspec.field(default_factory=list)
    """Dot paths of fields to index (``category``, ``meta.year``): ``where`` tests and
    ``sort_by`` on them are answered from a btree index (a stored copy of the field
    beside ``data``, created by ``flextype db migrate`` and at server start)."""

    def __post_init__(self) -> None:
        for path in self.indexes:
            if not path or "" in path.split(".") or "\x00" in path:
                raise ValueError(f"indexes: {path!r} is not a dot path")
            if path.split(".")[0] in ("id", "slug"):
                raise ValueError(f"indexes: {path!r} is the entry's id, indexed already")


class StorageSettings(_Section, forbid_unknown_fields=True, kw_only=True):
    driver: Literal["yaml", "tinydb", "postgres"] = "yaml"
    """Which adapter stores entries and tokens."""
    postgres: PostgresSettings = msgspec.field(default_factory=PostgresSettings)


class ApiFamilySettings(_Section, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True


class ApiSettings(_Section, forbid_unknown_fields=True, kw_only=True):
    max_body_size: int = 10_000_000
    """Largest request body in bytes; past it the answer is 413."""
    max_entry_size: int = 1_000_000
    """Largest entry: its stored fields encoded as JSON, in bytes (0: no limit); past it
    a create or update is 413."""
    response_cache_mb: Annotated[int, msgspec.Meta(ge=0)] = 64
    """Memory for recent answers of reads (collections, registry items), in MiB, per
    server process; 0 keeps none. A change of any entry makes every kept collection miss."""
    entries: ApiFamilySettings = msgspec.field(default_factory=ApiFamilySettings)
    registry: ApiFamilySettings = msgspec.field(default_factory=ApiFamilySettings)
    tokens: ApiFamilySettings = msgspec.field(default_factory=ApiFamilySettings)
    media: ApiFamilySettings = msgspec.field(default_factory=ApiFamilySettings)
    images: ApiFamilySettings = msgspec.field(default_factory=ApiFamilySettings)
    webhooks: ApiFamilySettings = msgspec.field(default_factory=ApiFamilySettings)
    changes: ApiFamilySettings = msgspec.field(default_factory=ApiFamilySettings)


class CorsSettings(_Section, forbid_unknown_fields=True, kw_only=True):
    allow_origins: list[str] = msgspec.field(default_factory=lambda: ["*"])


MIB = 1024 * 1024


class MediaS3Settings(_Section, forbid_unknown_fields=True, kw_only=True):
    """The bucket of ``media.driver: s3``: media files and derived images live there."""

    endpoint_url: str = ""
    """The S3-compatible service; empty: AWS's endpoint of ``region``."""
    bucket: str = ""
    """Required with ``media.driver: s3``."""
    prefix: str = ""
    """Key prefix inside the bucket (several projects may share one bucket)."""
    region: str = ""
    access_key_id: str = ""
    """A secret, never served; empty (with ``secret_access_key``): boto3's own chain
    (``AWS_ACCESS_KEY_ID``..., a profile, an instance role)."""
    secret_access_key: str = ""
    """A secret, never served."""
    serve: Literal["proxy", "redirect"] = "proxy"
    """How ``/media/<path>`` answers: stream the object (proxy) or a presigned redirect."""
    # S3 refuses parts under 5 MiB (but the last) and over 5 GiB.
    part_size: Annotated[int, msgspec.Meta(ge=5 * MIB, le=5 * 1024 * MIB)] = 8 * MIB
    """Bytes of each part of a multipart upload (one part is held in memory)."""
    # SigV4 presigned URLs live at most 7 days.
    redirect_expires: Annotated[int, msgspec.Meta(gt=0, le=604_800)] = 300
    """Seconds a presigned URL of ``serve: redirect`` stays valid."""


class MediaSettings(_Section, forbid_unknown_fields=True, kw_only=True):
    driver: Literal["local", "s3"] = "local"
    """Where media files and derived images live: the project folder, or a bucket."""
    s3: MediaS3Settings = msgspec.field(default_factory=MediaS3Settings)
    max_file_size: int = 8_000_000
    accept_file_types: list[str] = msgspec.field(
        default_factory=lambda: [
            *("gif", "jpg", "jpeg", "png", "webp", "svg", "ico"),
            *("pdf", "txt", "md", "zip", "mp3", "mp4", "webm"),
        ]
    )


class ImagesSettings(_Section, forbid_unknown_fields=True, kw_only=True):
    max_width: int = 4096
    max_height: int = 4096
    max_source_pixels: int = 40_000_000
    max_concurrent_renders: int = 4
    sign_key: str = ""
    """Key of signed image URLs; generated by ``flextype init``, never served."""


class TokensSettings(_Section, forbid_unknown_fields=True, kw_only=True):
    hash_rounds: int = 10
    """bcrypt cost of new access-token hashes (10, as PHP's default)."""
    flush_every: int = 100
    """Write pending call counts after this many calls."""
    flush_interval: int = 5
    """... or on the first call this many seconds after the last write."""


Positive = msgspec.Meta(gt=0)


class ServerSettings(_Section, forbid_unknown_fields=True, kw_only=True):
    """Limits of each connection to ``flextype serve`` (``http/protocol.py``)."""

    max_header_size: Annotated[int, Positive] = 65_536
    """Bytes of a request's head (request line and headers); past it, 431."""
    header_timeout: Annotated[float, Positive] = 30.0
    """Seconds a request's head may take to arrive; past it, 408 and the connection closes."""
    body_timeout: Annotated[float, Positive] = 30.0
    """Seconds a request's body may go without a byte; past it, 408 and the connection
    closes."""


class ChangesSettings(_Section, forbid_unknown_fields=True, kw_only=True):
    """The change feed (``/api/changes``)."""

    retention_days: Annotated[float, Positive] = 30
    """Changes older than this are purged; a cursor before them is 410 ResyncRequired."""


class WebhooksSettings(_Section, forbid_unknown_fields=True, kw_only=True):
    """Deliveries of the change feed to webhooks (``/api/webhooks``)."""

    allow_private_networks: bool = False
    """Allow URLs that resolve to loopback, private, link-local or multicast addresses."""
    retry_schedule: list[Annotated[float, msgspec.Meta(ge=0)]] = msgspec.field(
        default_factory=lambda: [5, 300, 1800, 7200, 18000, 36000, 36000]
    )
    """Seconds to wait before each retry of a failed delivery (with jitter); after the
    last, the webhook is ``failing``."""
    timeout: Annotated[float, Positive] = 10.0
    """Seconds a delivery attempt may take in all (resolving the host, connecting, sending,
    the whole answer); past it, the attempt failed."""


class Settings(_Section, forbid_unknown_fields=True, kw_only=True):
    """Every setting of a project, with the defaults of ``cli-and-config.md``."""

    storage: StorageSettings = msgspec.field(default_factory=StorageSettings)
    api: ApiSettings = msgspec.field(default_factory=ApiSettings)
    cors: CorsSettings = msgspec.field(default_factory=CorsSettings)
    media: MediaSettings = msgspec.field(default_factory=MediaSettings)
    images: ImagesSettings = msgspec.field(default_factory=ImagesSettings)
    tokens: TokensSettings = msgspec.field(default_factory=TokensSettings)
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    changes: ChangesSettings = msgspec.field(default_factory=ChangesSettings)
    webhooks: WebhooksSettings = msgspec.field(default_factory=WebhooksSettings)


def load_settings(project: Path, environ: Mapping[str, str]) -> Settings:
    """Read ``<project>/flextype.yaml`` (optional), apply the environment, and validate.

    Raises:
        SettingsError: the file is not YAML or not a mapping, a key is unknown, a value
            has the wrong type, or a ``FLEXTYPE_*`` variable names no setting. The
            message names the file or the variable, and what would be right.
    """
    path = project / SETTINGS_FILE
    raw = _read_file(path)
    variables = _variables(environ)
    for keys, value in env_overrides(environ).items():
        _set_path(raw, keys, value, variables[keys])
    sources = Sources(str(path), variables, ENV_PREFIX)
    unknown = find_unknown_key(raw, Settings, sources)
    if unknown is not None:
        raise SettingsError(unknown)
    try:
        return msgspec.convert(raw, Settings)
    except msgspec.ValidationError as exc:
        raise SettingsError(explain_invalid(str(exc), raw, Settings, sources)) from exc


def env_overrides(environ: Mapping[str, str]) -> dict[tuple[str, ...], Any]:
    """Return the settings given as ``FLEXTYPE_A__B=value`` variables, keyed by path.

    Values are read as YAML scalars or flow collections, so ``1000`` is an int, ``true``
    a bool and ``[png, jpg]`` a list.
    """
    found: dict[tuple[str, ...], Any] = {}
    for keys, name in _variables(environ).items():
        text = environ[name]
        try:
            found[keys] = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            found[keys] = text
    return found


def _variables(environ: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    """The ``FLEXTYPE_*`` variables that are settings, by the path each sets."""
    found: dict[tuple[str, ...], str] = {}
    for name in environ:
        if not name.startswith(ENV_PREFIX) or name in _NOT_SETTINGS:
            continue
        keys = tuple(name[len(ENV_PREFIX) :].lower().split("__"))
        if not all(keys):
            raise SettingsError(f"Environment variable {name} names no setting.")
        found[keys] = name
    return found


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"Cannot read {path}: {exc.__class__.__name__}.") from exc
    return settings_mapping(text, str(path))


def settings_mapping(text: str, where: str) -> dict[str, Any]:
    """Return a settings file's text as a mapping ({} when it is empty).

    Raises:
        SettingsError: it is not YAML, or not a mapping; the message names ``where``.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise SettingsError(f"{where} is not valid YAML{line}.") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"{where} must hold a mapping of settings.")
    return data


def _set_path(tree: dict[str, Any], keys: tuple[str, ...], value: Any, variable: str) -> None:
    node = tree
    for depth, key in enumerate(keys[:-1]):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            joined = ".".join(keys[: depth + 1])
            raise SettingsError(
                f"{variable}: setting `{joined}` is not a section; cannot set below it."
            )
        node = child
    node[keys[-1]] = value
