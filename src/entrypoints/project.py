"""Open a project folder as a library: services wired from its settings, no HTTP."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Protocol, runtime_checkable

from flextype_adapters.debris import remove_debris as remove_loose_debris
from flextype_adapters.folder_swap import recover_swaps
from flextype_core import EntriesService, Registry, TokensService
from flextype_core.feed import ChangesService
from flextype_core.media import MediaService
from flextype_core.webhooks import WebhooksService
from flextype_entrypoints.container import Container, build_container
from flextype_entrypoints.settings import SETTINGS_FILE, Settings, SettingsError, load_settings

__all__ = [
    "NoProjectError",
    "Project",
    "bucket_sweeps",
    "open_project",
    "remove_debris",
    "require_project",
]


class NoProjectError(SettingsError):
    """The folder holds no ``flextype.yaml``: it is no project, and only ``init`` makes one."""


def require_project(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` if it holds a project, that is a ``flextype.yaml``.

    The command line and ``serve`` call it first, so that a mistyped ``--project`` is an
    error rather than a new, empty project (``open_project`` opens any folder).

    Raises:
        NoProjectError: there is no ``flextype.yaml`` at ``path``.
    """
    folder = Path(path)
    if not (folder / SETTINGS_FILE).is_file():
        shown = os.fspath(path)
        raise NoProjectError(
            f"no flextype project at {shown} (run flextype init {shlex.quote(shown)})"
        )
    return folder


@runtime_checkable
class _LeavesDebris(Protocol):
    def remove_debris(self) -> int: ...


class Project:
    """A project's services. Use it as a context manager, or call ``close()``.

    Closing writes pending token call counts and closes the storage files.
    """

    def __init__(self, path: Path, container: Container, settings: Settings) -> None:
        self.path = path
        self.container = container
        self.settings = settings
        self._tokens: TokensService | None = None

    @property
    def entries(self) -> EntriesService:
        """The Entries service: fetch, collection, create, update, move, copy, delete."""
        return self.container.entries()

    @property
    def tokens(self) -> TokensService:
        """The Tokens service."""
        if self._tokens is None:
            self._tokens = self.container.tokens()
        return self._tokens

    @property
    def media(self) -> MediaService:
        """The Media service: files with their metadata, and folders."""
        return self.container.media()

    @property
    def webhooks(self) -> WebhooksService:
        """The Webhooks service: create, list, change, delete, deliveries, replay."""
        return self.container.webhooks()

    @property
    def changes(self) -> ChangesService:
        """The change feed: pages of what changed (``page(since=...)``), the head cursor."""
        return self.container.changes()

    @property
    def registry(self) -> Registry:
        """The read-only registry (manifest and settings, without secrets)."""
        return self.container.registry()

    def remove_debris(self) -> int:
        """Remove what writes interrupted by a crash left behind; return how many.

        Such leftovers are hidden and never read (every write is atomic), but they hold
        disk space. Safe while other processes use the project: each store removes them
        under its writers' lock. ``flextype serve`` calls it at start.
        """
        return remove_debris(self.container)

    def close(self) -> None:
        """Flush token call counts and close storage; the object is unusable afterwards."""
        try:
            # Only a service that was used can hold counts; do not open storage for nothing.
            if self._tokens is not None:
                self._tokens.flush()
        finally:
            self.container.shutdown_resources()

    def __enter__(self) -> Project:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_project(
    path: str | os.PathLike[str] = "project",
    *,
    driver: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Project:
    """Open the project folder at ``path`` (it need not hold any file yet).

    Args:
        path: the project folder.
        driver: ``"yaml"``, ``"tinydb"`` or ``"postgres"`` to override ``storage.driver``.
        environ: where ``FLEXTYPE_*`` overrides are read; ``os.environ`` by default.

    Raises:
        SettingsError: a setting is unknown or has the wrong type.
    """
    folder = Path(path)
    env = dict(os.environ if environ is None else environ)
    if driver is not None:
        env["FLEXTYPE_STORAGE__DRIVER"] = driver
    settings = load_settings(folder, env)
    return Project(folder, build_container(folder, env, settings=settings), settings)


def remove_debris(container: Container, *, bucket: bool = True) -> int:
    """Remove the leftovers of interrupted writes from every store of ``container``.

    First an import or migration killed while swapping its content in is finished or
    undone (``recover_swaps``), so the stores then see the project as a whole. Undoing
    one can put back the settings file the container was built from: ``flextype serve``
    recovers before it reads the settings, and so should a program that opens a project
    after a crash (``recover_swaps(path)`` first). With ``bucket=False`` the stores in
    a bucket (``bucket_sweeps``) are left out: ``serve`` sweeps them once it serves.
    """
    project: Path = container.project()
    recovered = recover_swaps(project)
    # Beside the stores: the settings file's temporaries, content a migration removed.
    # Nothing holds a lock there, hence the age: no such step lasts an hour.
    loose = remove_loose_debris(project, recursive=False, min_age=3600)
    stores = [container.entry_store(), container.token_store()]
    if bucket or container.config.media.driver() != "s3":
        stores += [container.media_store(), container.derivative_cache()]
    return (
        recovered + loose + sum(s.remove_debris() for s in stores if isinstance(s, _LeavesDebris))
    )


def bucket_sweeps(container: Container) -> list[Callable[[], int]]:
    """The debris sweeps of ``container``'s stores in a bucket (``media.driver: s3``).

    Each lists the bucket and may read every file's record: a request per file, and a
    bucket that does not answer makes it fail (``ServiceUnavailable``). Nothing needs
    them before serving: readers settle a cut-short write themselves, and what they
    remove is an hour old.
    """
    if container.config.media.driver() != "s3":
        return []
    stores = (container.media_store(), container.derivative_cache())
    return [s.remove_debris for s in stores if isinstance(s, _LeavesDebris)]
