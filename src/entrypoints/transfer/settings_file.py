"""The settings file as export, import and migrate read and rewrite it."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec
import yaml

from flextype_core.errors import InvalidArchive
from flextype_core.registry import is_secret_key, without_secrets
from flextype_entrypoints.settings import (
    SETTINGS_FILE,
    SETTINGS_HEADER,
    Settings,
    settings_mapping,
)

__all__ = [
    "exported_settings",
    "imported_settings_text",
    "read_settings_text",
    "switched_driver_text",
]

Tree = dict[str, Any]


def read_settings_text(project: Path) -> str:
    """Return the project's settings file ("" if it has none)."""
    try:
        return (project / SETTINGS_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def _mapping(text: str) -> Tree:
    return settings_mapping(text, SETTINGS_FILE)


def exported_settings(project: Path) -> Tree:
    """Return the project's settings file as a mapping, without its secrets.

    The file, not the environment: ``FLEXTYPE_*`` variables belong to a deployment.
    """
    cleaned: Tree = without_secrets(_mapping(read_settings_text(project)))
    return cleaned


def _secret_leaves(
    tree: Mapping[str, Any], path: tuple[str, ...] = ()
) -> Iterator[tuple[Any, ...]]:
    for key, value in tree.items():
        if isinstance(key, str) and is_secret_key(key):
            yield (*path, key, value)
        elif isinstance(value, Mapping):
            yield from _secret_leaves(value, (*path, key))


def imported_settings_text(project: Path, archived: Mapping[str, Any]) -> bytes:
    """Return the settings file an import writes: the archive's, kept to this project.

    The target keeps its own ``storage`` section (its driver), where its media live
    (``media.driver``, ``media.s3``) and its own secrets (its ``images.sign_key``);
    secrets in the archive are ignored.

    Raises:
        InvalidArchive: the result is not valid settings for this version.
    """
    current = _mapping(read_settings_text(project))
    merged: Tree = without_secrets(copy.deepcopy(dict(archived)))
    merged.pop("storage", None)
    if "storage" in current:
        merged = {"storage": current["storage"], **merged}
    # Where the media live is the target's too (its disk, or its bucket): the archive's
    # other media settings (types, size limit) come along.
    media = merged.get("media")
    if isinstance(media, dict):
        media.pop("driver", None)
        media.pop("s3", None)
    here = current.get("media")
    if isinstance(here, dict):
        kept = {key: here[key] for key in ("driver", "s3") if key in here}
        if kept:
            merged["media"] = {**kept, **(media if isinstance(media, dict) else {})}
    for *path, key, value in _secret_leaves(current):
        node = merged
        for part in path:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[key] = value
    try:
        msgspec.convert(merged, Settings)
    except msgspec.ValidationError as exc:
        raise InvalidArchive(f"The archive's settings are not valid here: {exc}.") from exc
    return _dump(merged)


def _dump(tree: Mapping[str, Any]) -> bytes:
    body = yaml.safe_dump(dict(tree), sort_keys=False, default_flow_style=False, allow_unicode=True)
    return (SETTINGS_HEADER + body).encode("utf-8")


def _value_node(mapping: yaml.Node, key: str) -> yaml.Node | None:
    if not isinstance(mapping, yaml.MappingNode):
        return None
    for key_node, value_node in mapping.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            found: yaml.Node = value_node
            return found
    return None


def switched_driver_text(text: str, driver: str, *, database_url: str | None = None) -> str:
    """Return the settings file's text with ``storage.driver`` set to ``driver``.

    Only the driver's value changes where the file has one (comments and layout stay);
    a ``storage`` section is appended where it has none; otherwise (flow style, say) the
    file is written anew from its values, without its comments. ``database_url``, if
    given, becomes ``storage.postgres.url`` the same way (lines added under ``storage``
    where the file has no such key).

    Raises:
        SettingsError: the file is not a YAML mapping.
    """
    values = _mapping(text)
    storage = {**(values.get("storage") or {}), "driver": driver}
    if database_url is not None:
        storage["postgres"] = {**(storage.get("postgres") or {}), "url": database_url}
    wanted = {**values, "storage": storage}
    edited = _edited(text, driver)
    if edited is not None and database_url is not None:
        edited = _with_scalar(edited, ("storage", "postgres", "url"), database_url)
    if edited is not None and _mapping(edited) == wanted:
        return edited
    return _dump(wanted).decode("utf-8")


def _with_scalar(text: str, path: tuple[str, ...], value: str) -> str | None:
    """Return ``text`` with the block-style key ``path`` set to the string ``value``.

    The scalar is replaced where it is; missing keys are added as lines after the last
    line of the deepest block mapping found. None: the layout is not one this handles
    (the caller then rewrites the file from its values).
    """
    node: yaml.Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
    quoted = json.dumps(value)  # a JSON string is a YAML double-quoted scalar
    for depth, key in enumerate(path):
        if not isinstance(node, yaml.MappingNode) or node.flow_style or not node.value:
            return None
        child = _value_node(node, key)
        if child is None:
            return _insert_keys(text, node, path[depth:], quoted)
        node = child
    if not isinstance(node, yaml.ScalarNode):
        return None
    return text[: node.start_mark.index] + quoted + text[node.end_mark.index :]


def _insert_keys(text: str, mapping: yaml.MappingNode, keys: tuple[str, ...], quoted: str) -> str:
    column = mapping.value[0][0].start_mark.column
    lines = [
        " " * (column + 2 * depth) + f"{key}:" + (f" {quoted}" if depth == len(keys) - 1 else "")
        for depth, key in enumerate(keys)
    ]
    at = mapping.value[-1][1].end_mark.index
    if at == 0 or text[at - 1] != "\n":
        end = text.find("\n", at)
        at = len(text) if end < 0 else end + 1
    head = text[:at] if text[:at].endswith("\n") or not text[:at] else text[:at] + "\n"
    return head + "\n".join(lines) + "\n" + text[at:]


def _edited(text: str, driver: str) -> str | None:
    root = yaml.compose(text, Loader=yaml.SafeLoader) if text.strip() else None
    if root is not None and (not isinstance(root, yaml.MappingNode) or root.flow_style):
        return None
    storage = None if root is None else _value_node(root, "storage")
    if storage is None:
        separator = "" if text.endswith("\n") or not text else "\n"
        return f"{text}{separator}storage:\n  driver: {driver}\n"
    node = _value_node(storage, "driver")
    if not isinstance(node, yaml.ScalarNode):
        return None
    return text[: node.start_mark.index] + driver + text[node.end_mark.index :]
