"""Progress bars for long commands: drawn by rich on a terminal, nothing when piped."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, TextIO

__all__ = ["Advance", "Bars", "NoBars", "ProgressBars", "no_progress", "progress_on"]

Advance = Callable[[int], None]
"""Moves a bar on by so many units (entries, tokens, bytes)."""


class ProgressBars(Protocol):
    """One bar per task; a context manager that draws while the block runs."""

    def task(self, description: str, total: int) -> Advance:
        """Add a bar of ``total`` units and return the function that advances it."""
        ...

    def __enter__(self) -> ProgressBars: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def no_progress(amount: int) -> None:
    """An ``Advance`` that moves nothing (before a bar exists, or without bars)."""
    del amount


class NoBars:
    """Draws nothing: for output that is not a terminal (a pipe, a file, a log)."""

    def task(self, description: str, total: int) -> Advance:
        return no_progress

    def __enter__(self) -> NoBars:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class Bars:
    """rich's progress bars on ``stream``: description, bar, percentage, time left."""

    def __init__(self, stream: TextIO) -> None:
        # Imported here: every other command would pay for rich at start.
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description:<14}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeRemainingColumn(),
            console=Console(file=stream),
        )

    def task(self, description: str, total: int) -> Advance:
        task_id = self._progress.add_task(description, total=total)
        return lambda amount: self._progress.advance(task_id, amount)

    def __enter__(self) -> Bars:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()


def progress_on(stream: TextIO) -> ProgressBars:
    """Return bars drawn on ``stream`` if it is a terminal, else bars that draw nothing."""
    return Bars(stream) if stream.isatty() else NoBars()
