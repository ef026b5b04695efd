"""The log lines of ``flextype serve``: text or one JSON object per line, and their streams.

Request lines (``flextype.access``, only with ``--access-log``) go to stdout after the
``Serving on`` line, as uvicorn's and gunicorn's access logs do; everything else
(warnings, errors, uvicorn's own lines) goes to stderr. The same configuration is
applied in the serving process and in every ``--workers`` process.
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

__all__ = [
    "ACCESS_LOGGER",
    "LOG_FORMATS",
    "JsonFormatter",
    "LogFormat",
    "StdStreamHandler",
    "configure_logging",
    "json_line",
    "log_config",
]

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
ACCESS_LOGGER = "flextype.access"
"""The logger of request lines; INFO when ``--access-log`` is given, else silent."""


def json_line(
    level: str, logger: str, message: str, *, created: float | None = None, **fields: Any
) -> str:
    """Return one log line as a JSON object: time (UTC), level, logger, message, fields.

    Args:
        level: ``info``, ``warning``, ``error``, ...
        logger: the name of the logger, e.g. ``flextype.access``.
        message: the line as the text format shows it.
        created: the Unix time of the event (default: now).
        **fields: more keys, e.g. ``status`` (values that are no JSON become strings).
    """
    moment = datetime.now(UTC) if created is None else datetime.fromtimestamp(created, UTC)
    time = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    record = {"time": time, "level": level, "logger": logger, "message": message, **fields}
    return json.dumps(record, default=str)


class JsonFormatter(logging.Formatter):
    """Format a record as ``json_line`` does; a ``fields`` mapping in ``extra`` is merged."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        extra: dict[str, Any] = dict(fields) if isinstance(fields, dict) else {}
        if record.exc_info:
            extra["exception"] = self.formatException(record.exc_info)
        level, message = record.levelname.lower(), record.getMessage()
        return json_line(level, record.name, message, created=record.created, **extra)


class StdStreamHandler(logging.StreamHandler[TextIO]):
    """Write to ``sys.stdout`` or ``sys.stderr`` as it is when each line is written.

    Not the stream at configuration time: a test's captured stream, or one replaced
    later, still gets the lines, and a closed one is never written to.
    """

    def __init__(self, stream: Literal["stdout", "stderr"] = "stderr") -> None:
        super().__init__(getattr(sys, stream))
        self._name = stream

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = getattr(sys, self._name)
        super().emit(record)


def log_config(log_format: LogFormat = "text", *, access_log: bool = False) -> dict[str, Any]:
    """Return the ``logging.config.dictConfig`` of the server (uvicorn takes it as is)."""
    if log_format == "json":
        default: dict[str, Any] = {"()": f"{__name__}.JsonFormatter"}
        access: dict[str, Any] = default
    else:
        # uvicorn's own look for its lines and ours: "WARNING:  message".
        default = {"()": "uvicorn.logging.DefaultFormatter", "fmt": "%(levelprefix)s %(message)s"}
        access = {"format": "%(message)s"}
    handler = f"{__name__}.StdStreamHandler"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": default, "access": access},
        "handlers": {
            "stderr": {"()": handler, "stream": "stderr", "formatter": "default"},
            "stdout": {"()": handler, "stream": "stdout", "formatter": "access"},
        },
        # Any other library's warnings (not its info lines) in the same format.
        "root": {"handlers": ["stderr"], "level": "WARNING"},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            # uvicorn's access lines show the query string, secrets and all: ours replace them.
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "flextype": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            ACCESS_LOGGER: {
                "handlers": ["stdout"],
                "level": "INFO" if access_log else "WARNING",
                "propagate": False,
            },
        },
    }


def configure_logging(log_format: LogFormat = "text", *, access_log: bool = False) -> None:
    """Apply ``log_config`` to this process."""
    logging.config.dictConfig(log_config(log_format, access_log=access_log))
