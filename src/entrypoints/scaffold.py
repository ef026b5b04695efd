"""Create a new project folder: settings, storage, demo content and a first token."""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import yaml
from PIL import Image

from flextype_adapters.atomic import write_atomic
from flextype_core import IssuedToken
from flextype_entrypoints.container import build_container
from flextype_entrypoints.database import migrate_database, uses_database
from flextype_entrypoints.driver_check import store_kinds
from flextype_entrypoints.project import Project
from flextype_entrypoints.settings import SETTINGS_FILE, SETTINGS_HEADER, load_settings

__all__ = ["DEMO_ENTRIES", "ProjectExistsError", "create_project"]


class ProjectExistsError(Exception):
    """The target folder already holds a project or other files; nothing was written."""


DEMO_ENTRIES: dict[str, dict[str, Any]] = {
    "home": {
        "title": "Welcome to flextype-py",
        "content": "A headless, flat-file CMS. Try /api/entries?id=movies&options[collection]=1",
    },
    "movies": {"title": "Movies", "description": "A small demo collection."},
    "movies/birds-of-prey": {
        "title": "Birds of Prey",
        "director": "Cathy Yan",
        "year": 2020,
        "genre": ["action", "crime"],
        "rating": 6.1,
    },
    "movies/everything-everywhere-all-at-once": {
        "title": "Everything Everywhere All at Once",
        "director": "Daniel Kwan, Daniel Scheinert",
        "year": 2022,
        "genre": ["action", "adventure", "comedy"],
        "rating": 7.8,
    },
    "movies/parasite": {
        "title": "Parasite",
        "director": "Bong Joon-ho",
        "year": 2019,
        "genre": ["drama", "thriller"],
        "rating": 8.5,
    },
    "movies/dune": {
        "title": "Dune",
        "director": "Denis Villeneuve",
        "year": 2021,
        "genre": ["adventure", "sci-fi"],
        "rating": 8.0,
    },
    "movies/spirited-away": {
        "title": "Spirited Away",
        "director": "Hayao Miyazaki",
        "year": 2001,
        "genre": ["animation", "fantasy"],
        "rating": 8.6,
    },
    "blog": {"title": "Blog"},
    "blog/hello-world": {
        "title": "Hello, world",
        "author": {"name": "Ada", "email": "ada@example.org"},
        "tags": ["news"],
        "content": "The first post of the demo blog.",
    },
}
"""The demo content of ``flextype init``: a ``movies`` collection and friends."""


def create_project(
    path: Path,
    *,
    driver: str = "yaml",
    demo: bool = True,
    postgres: Mapping[str, str] | None = None,
) -> IssuedToken:
    """Create a project at ``path`` and return its first token (``apis: ["*"]``).

    Args:
        path: the new project folder.
        driver: ``yaml``, ``tinydb`` or ``postgres``.
        demo: add the demo entries and image.
        postgres: ``storage.postgres`` settings to write (``url``, ``schema``); with
            the postgres driver, the tables are created (``flextype db migrate``) in
            that schema, which must hold no entries or tokens yet.

    Raises:
        ProjectExistsError: ``path`` holds a project or is a non-empty folder, or the
            database schema already holds content.
        SettingsError: ``driver`` is not a known storage driver, or postgres has no url.
        DatabaseError: the database does not answer.
    """
    if (path / SETTINGS_FILE).exists():
        raise ProjectExistsError(
            f"{path} already holds a project ({SETTINGS_FILE}); not overwriting."
        )
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ProjectExistsError(f"{path} exists and is not an empty folder; not overwriting.")
    storage: dict[str, Any] = {"driver": driver}
    if postgres:
        storage["postgres"] = dict(postgres)
    settings = {"storage": storage, "images": {"sign_key": secrets.token_hex(32)}}
    text = SETTINGS_HEADER + yaml.safe_dump(settings, sort_keys=False, default_flow_style=False)
    # The driver is validated before anything is written, so a typo leaves no folder.
    with _open_new(path, driver, postgres or {}) as project:
        _prepare_database(project)
        folders = (
            ("entries", "tokens", "media", "cache") if driver == "yaml" else ("media", "cache")
        )
        for folder in folders:
            (path / folder).mkdir(parents=True, exist_ok=True)
        write_atomic(path / SETTINGS_FILE, text.encode("utf-8"), private=True)
        if demo:
            for entry_id, data in DEMO_ENTRIES.items():
                project.entries.create(entry_id, data)
            _add_demo_image(project)
        return project.tokens.create({"title": "First token", "apis": ["*"]})


def _open_new(path: Path, driver: str, postgres: Mapping[str, str]) -> Project:
    """Open the project about to be created with the settings it will have."""
    environ = {**os.environ, "FLEXTYPE_STORAGE__DRIVER": driver}
    settings = load_settings(path, environ)
    if postgres:
        database = msgspec.structs.replace(settings.storage.postgres, **postgres)
        storage = msgspec.structs.replace(settings.storage, postgres=database)
        settings = msgspec.structs.replace(settings, storage=storage)
    return Project(path, build_container(path, environ, settings=settings), settings)


def _prepare_database(project: Project) -> None:
    """Create the tables of a postgres project; refuse a schema that holds content."""
    container = project.container
    if not uses_database(container):
        return
    migrate_database(container)
    if store_kinds(container.entry_store(), container.token_store()):
        schema = project.settings.storage.postgres.schema
        raise ProjectExistsError(
            f"the database schema {schema} already holds a project's entries or tokens; "
            "not adding to them. For another server of that project, copy its "
            f"{SETTINGS_FILE}; for a new project, choose another --schema."
        )


def _add_demo_image(project: Project) -> None:
    """Upload a generated 800x400 PNG as ``demo/flextype.png``, as a client would."""
    image = Image.linear_gradient("L").resize((800, 400)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    with project.media.stage() as upload:
        upload.write(buffer.getbuffer())
        project.media.upload("demo", "flextype.png", upload)
