"""A server over a project with an in-memory change log, for tests that stop it with a signal.

``python -m tests.feed_server_program PROJECT`` prints the server's URL, then serves as
each process of ``flextype serve --workers`` does (uvicorn's own signal handling). Each
line on stdin is a command, answered with one line on stdout: ``append ID`` appends an
update of ID (``appended``); ``backlog N`` appends N updates at once (``appended``);
``waiting`` tells how many requests wait for the log's head.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from flextype_entrypoints.http.app import create_app
from flextype_entrypoints.http.feed import FeedHub
from flextype_entrypoints.serve import bind, make_server, url_for
from tests.feed_support import change, container_with_log
from tests.unit.feed_fakes import FakeChangeLog


def _commands(log: FakeChangeLog, hub: FeedHub) -> None:
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "append":
            log.append([change(argument)])
            answer = "appended"
        elif command == "backlog":
            log.append([change(f"backlog/b{n}") for n in range(int(argument))])
            answer = "appended"
        else:
            answer = str(hub.watcher.waiting)
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()


def main(argv: list[str]) -> int:
    log = FakeChangeLog()
    app = create_app(container_with_log(Path(argv[0]), log), feed_keepalive=0.2)
    sock = bind("127.0.0.1", 0)
    server = make_server(app)
    threading.Thread(target=_commands, args=(log, app.state.feed), daemon=True).start()
    # uvicorn raises the stop signal again once it stopped, under the handlers it found:
    # here they ignore it, as flextype serve's do, so the program ends with 0.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: None)
    sys.stdout.write(url_for("127.0.0.1", sock) + "\n")
    sys.stdout.flush()
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
