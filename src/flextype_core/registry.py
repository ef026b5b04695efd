"""Registry: a read-only dot-path view over the manifest and the settings, secrets removed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flextype_core.errors import RegistryKeyNotFound

__all__ = ["Registry", "is_secret_key", "without_secrets"]

# A plural only counts after an underscore: ``api_keys`` is secret, the ``tokens`` section
# (hash_rounds, flush_every) and the ``api.tokens.enabled`` switch are not. A ``url`` may
# carry a password (``storage.postgres.url``), so every one is kept out. A ``key_id``
# (``media.s3.access_key_id``) is half of a credential pair.
_WORDS = "key|key_id|secret|password|passwd|hash|salt|token|url"
_SECRET = re.compile(rf"(^|_)({_WORDS})$|_({_WORDS})s$", re.IGNORECASE)


def is_secret_key(name: str) -> bool:
    """Tell whether a settings key names a secret (``sign_key``, ``password``, ``salt``...)."""
    return bool(_SECRET.search(name))


def without_secrets(value: Any) -> Any:
    """Return a copy of nested settings without any key that names a secret."""
    if isinstance(value, Mapping):
        return {
            k: without_secrets(v)
            for k, v in value.items()
            if not (isinstance(k, str) and is_secret_key(k))
        }
    if isinstance(value, list | tuple):
        return [without_secrets(v) for v in value]
    return value


class Registry:
    """Read items such as ``flextype.manifest.version`` or ``flextype.settings.cors``.

    Args:
        manifest: what the software is (name, version, ...).
        settings: the project's settings; every secret is removed before anything is kept.
    """

    def __init__(self, manifest: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
        self._tree: dict[str, Any] = {
            "flextype": {
                "manifest": without_secrets(manifest),
                "settings": without_secrets(settings),
            }
        }

    def get(self, key: str) -> Any:
        """Return the value (or subtree) at the dot path ``key``.

        A segment selects a mapping's key, or a list's item by its index.

        Raises:
            RegistryKeyNotFound: nothing is at ``key``.
        """
        node: Any = self._tree
        for segment in key.split("."):
            if isinstance(node, Mapping) and segment in node:
                node = node[segment]
            elif isinstance(node, list) and _index(segment) < len(node):
                node = node[int(segment)]
            else:
                raise RegistryKeyNotFound(key)
        return node


def _index(segment: str) -> int:
    """A list index given as ASCII digits; past 9 digits (no list is that long), none."""
    if segment.isascii() and segment.isdigit() and len(segment) <= 9:
        return int(segment)
    return 1 << 62
