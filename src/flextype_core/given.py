"""Client data checked against a model of optional fields: only the fields given, or 422."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

from flextype_core.errors import ValidationFailed

__all__ = ["given_fields"]

_AT_PATH = re.compile(r"at `\$(\S*)`")


def given_fields(data: object, model: type[msgspec.Struct], what: str) -> dict[str, Any]:
    """Convert ``data`` to ``model`` (fields default to UNSET); return the fields given.

    Raises:
        ValidationFailed: ``data`` is not an object, or a field has a wrong type or value;
            ``details`` names its path (``data.title``), the message says ``Invalid {what}``.
    """
    if not isinstance(data, Mapping):
        raise ValidationFailed("'data' must be an object.", details=["data"])
    try:
        changes = msgspec.convert(data, model)
    except msgspec.ValidationError as exc:
        at = _AT_PATH.search(str(exc))
        raise ValidationFailed(
            f"Invalid {what}: {exc}.", details=[f"data{at.group(1)}" if at else "data"]
        ) from exc
    return {k: v for k, v in msgspec.structs.asdict(changes).items() if v is not msgspec.UNSET}
