"""``flextype changes`` over a project with an in-memory change log, for tests of --follow.

``python -m tests.feed_cli_program PROJECT ARGS...`` runs ``flextype changes ARGS``
(with ``--project PROJECT``); each line ``append ID`` on stdin appends an update of ID,
as a write of another process would, and nothing else is printed but the command's own.
"""

from __future__ import annotations

import faulthandler
import signal
import sys
import threading

from dependency_injector import providers

from flextype_entrypoints.cli import main
from flextype_entrypoints.container import Container
from tests.feed_support import change
from tests.unit.feed_fakes import FakeChangeLog


def _appends(log: FakeChangeLog) -> None:
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "append":
            log.append([change(argument)])


if __name__ == "__main__":
    # Ctrl-C as a terminal gives it, whatever the test process's threads had blocked or
    # ignored when they started this one (a blocked mask and SIG_IGN are inherited
    # through exec; only full suite runs lost the SIGINT of the --follow test).
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGUSR1})
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # A test that finds the program stuck asks it for every thread's stack (SIGUSR1).
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    log = FakeChangeLog()
    log.append([change("movies/first")])
    # Every container the command builds takes this log (the class's provider).
    Container.change_log.override(providers.Object(log))
    threading.Thread(target=_appends, args=(log,), daemon=True).start()
    project, *argv = sys.argv[1:]
    sys.exit(main(["changes", "--project", project, *argv]))
