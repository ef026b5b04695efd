"""The dates of Flextype's entry.md files, read into Unix seconds as Flextype answered them.

Flextype 0.9.16 stores ``published_at`` (and ``created_at``, ``modified_at`` where a
file has them) in its ``date_format``, ``d-m-Y H:i`` by default (``'29-05-2018 09:46'``),
and answers all three as Unix seconds: parsed on every fetch, the file's modification
time when the field is absent (or null). The file itself is never rewritten.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

__all__ = ["DATE_FIELDS", "read_date", "with_flextype_dates"]

DATE_FIELDS = ("published_at", "created_at", "modified_at")

_FLEXTYPE_FORMAT = re.compile(r"([0-9]{2})-([0-9]{2})-([0-9]{4}) ([0-9]{2}):([0-9]{2})")
# ISO 8601 in its extended form only: a bare 20180529 is as much a number as a date.
_ISO_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _seconds(moment: datetime) -> int:
    # Flextype's timezone setting defaults to UTC; a zone given in the text wins.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return math.floor(moment.timestamp())


def read_date(text: str) -> int | None:
    """Unix seconds of ``d-m-Y H:i`` (Flextype's format) or ISO 8601 text; else None."""
    flextype = _FLEXTYPE_FORMAT.fullmatch(text)
    try:
        if flextype is not None:
            day, month, year, hour, minute = (int(part) for part in flextype.groups())
            return _seconds(datetime(year, month, day, hour, minute, tzinfo=UTC))
        if _ISO_START.match(text):
            return _seconds(datetime.fromisoformat(text))
    except ValueError:  # 31-02-2018, hour 25, ...: no date, the text stays
        return None
    return None


def with_flextype_dates(fields: dict[str, Any], modified: int) -> dict[str, Any]:
    """Return ``fields`` with their dates as Flextype answered them (changed in place).

    Args:
        fields: an entry.md's fields, as parsed.
        modified: the file's modification time, in Unix seconds.

    A date in Flextype's format or in ISO 8601 becomes Unix seconds; an absent or null
    one becomes ``modified``; any other value stays as written.
    """
    for name in DATE_FIELDS:
        value = fields.get(name)
        if value is None:
            fields[name] = modified
        elif isinstance(value, str):
            seconds = read_date(value)
            if seconds is not None:
                fields[name] = seconds
    return fields
