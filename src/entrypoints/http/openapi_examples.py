"""Examples of the OpenAPI document, taken from the Flextype docs (the seeds)."""

from __future__ import annotations

from typing import Any

__all__ = ["ENTRY_EXAMPLE", "REQUEST_EXAMPLES"]

_PLATFORM = (
    "The Platform (Spanish: El hoyo, transl. The Hole) is a Spanish science fiction "
    "horror-thriller film, directed by Galder Gaztelu-Urrutia and released in 2019."
)
_TOKEN = "f3acf199a9ac120d3bfd604e1e382456"  # noqa: S105 - the docs' example
_ACCESS_TOKEN = "bbc4417d171e38099bd129aeca279018"  # noqa: S105 - the docs' example

REQUEST_EXAMPLES: dict[str, dict[str, Any]] = {
    "create_entry": {
        "id": "movies/platform",
        "token": _TOKEN,
        "access_token": _ACCESS_TOKEN,
        "data": {"title": "Platform", "content": _PLATFORM},
    },
    "update_entry": {
        "id": "movies/platform",
        "token": _TOKEN,
        "access_token": _ACCESS_TOKEN,
        "data": {"content": "A vertical prison with one cell per level."},
    },
    "move_entry": {
        "id": "movies/platform",
        "new_id": "movies/the-platform",
        "token": _TOKEN,
        "access_token": _ACCESS_TOKEN,
    },
    "copy_entry": {
        "id": "movies/2019/the-platform",
        "new_id": "movies/horror/the-platform",
        "token": _TOKEN,
        "access_token": _ACCESS_TOKEN,
    },
    "delete_entry": {
        "id": "movies/horror/the-platform",
        "token": _TOKEN,
        "access_token": _ACCESS_TOKEN,
    },
    "create_token": {
        "token": _TOKEN,
        "access_token": _ACCESS_TOKEN,
        "data": {"title": "Reader", "apis": ["entries", "registry"], "limit_calls": 1000},
    },
}
"""Request bodies, by handler name."""

ENTRY_EXAMPLE: dict[str, Any] = {
    "title": "Platform",
    "uuid": "7e724722-da2f-410f-abd2-f44fbea1f6f0",
    "published_at": 1587118620,
    "created_at": 1587118620,
    "published_by": "",
    "created_by": "",
    "routable": True,
    "visibility": "visible",
    "content": _PLATFORM,
    "modified_at": 1587118658,
    "id": "movies/platform",
    "slug": "movies/platform",
}
"""An entry as the API answers it."""
