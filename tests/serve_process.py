"""A real ``flextype serve`` process for end-to-end tests: started, stopped, killed, started again.

The installed program runs as a user's shell would run it, with only the ``FLEXTYPE_*``
settings a test gives; its URL is read from its first line. Its log lines go to a file
(a pipe nobody reads would fill and stall a server that logs a lot), read when a test
asks for them.
"""

from __future__ import annotations

import re
import select
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from tests.programs import FLEXTYPE, clean_env

__all__ = ["ServeProcess"]

TIMEOUT = 60.0
_URL = re.compile(r"Serving on (http://127\.0\.0\.1:\d+)")
"""In the first line, text or JSON (``--log-format json``)."""


class ServeProcess:
    """``flextype serve --project PROJECT --port 0`` (and ``extra`` arguments).

    Args:
        project: the project folder.
        log: the file its stderr goes to (appended: a restart keeps what came before).
        settings: ``FLEXTYPE_*`` variables for it (none of the test's own are passed).
        extra: more arguments of ``serve``.
    """

    def __init__(
        self,
        project: Path,
        log: Path,
        settings: Mapping[str, str] | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.project = project
        self.log = log
        self._env = {**clean_env(), **(settings or {})}
        self._argv = [FLEXTYPE, "serve", "--project", str(project), "--port", "0", *extra]
        self._proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> ServeProcess:
        """Start it and wait for its URL (the first line it prints)."""
        with self.log.open("a", encoding="utf-8") as err:
            self._proc = subprocess.Popen(
                self._argv, stdout=subprocess.PIPE, stderr=err, text=True, env=self._env
            )
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], TIMEOUT)
        first = self._proc.stdout.readline() if ready else ""
        found = _URL.search(first)
        assert found, f"flextype serve printed {first!r}; its log:\n{self.errors()}"
        self.url = found[1]
        return self

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, nothing flushed, as a crash or the OOM killer ends it."""
        assert self._proc is not None
        self._proc.kill()
        self._proc.wait(TIMEOUT)
        self._close_pipe()

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; return its exit code once it ended."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGTERM)
        try:
            code = self._proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            self._proc.kill()
            self._proc.wait(TIMEOUT)
            message = f"flextype serve did not stop; its log:\n{self.errors()}"
            raise AssertionError(message) from exc
        self._close_pipe()
        return code

    def errors(self) -> str:
        """What it wrote to stderr so far."""
        return self.log.read_text(encoding="utf-8") if self.log.exists() else ""

    def _close_pipe(self) -> None:
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.running():
            self.kill()
