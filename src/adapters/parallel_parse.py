"""Many entry files parsed at once on every core, in worker processes.

Parsing YAML is Python work under the GIL (PyYAML's C scanner builds events; the
resolver and the constructor are Python), so threads do not help: building the index of
100k entries without a snapshot, or reading them to migrate, is bound by one core.
Worker processes each read and parse batches of entries' files and send back what a
read would have kept: the file's identity and its fields as JSON. What a worker cannot
read, parse or admit (an error, a symbolic link on the path) comes back as nothing, so
the caller's own read meets it and reports it as always.

The workers are plain ``python -m flextype_adapters.parallel_parse`` child processes
talking msgpack frames over their pipes, not ``multiprocessing``: it would fork a
process that runs threads (a server), or re-run the caller's main script in each child
(``spawn``), which a library must not do to a script without a ``__main__`` guard.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import msgspec

from flextype_adapters.confine import Confinement, Identity, identity_of
from flextype_adapters.entry_files import ENTRY_PARSERS

__all__ = ["PARALLEL_FROM", "Parsed", "parse_entry_files", "parse_in_processes"]

log = logging.getLogger("flextype.storage")

PARALLEL_FROM = 2000
"""How many entries to parse before worker processes pay for their start (~0.3 s)."""
_BATCH = 400
_LENGTH = struct.Struct("<I")
_WAIT = 30.0  # seconds a worker gets to exit once its input is closed

Parsed = tuple[str, Identity, bytes]
"""(path of the entry file, its identity when read, its fields as JSON)."""

_Answer = list[Parsed | None]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parse_entry_files(root: str, entry_ids: Sequence[str]) -> list[Parsed | None]:
    """Read and parse each entry's file as ``YamlFilesEntryStore`` reads it first.

    ``entry.yaml``, else ``entry.md``; None for an entry whose file is missing,
    unreadable, malformed, or reached through a symbolic link (the caller's read
    decides those, and reports them).
    """
    confinement = Confinement(Path(root))
    found: list[Parsed | None] = []
    for entry_id in entry_ids:
        result = None
        for name, parse in ENTRY_PARSERS:
            path = f"{root}/{entry_id}/{name}"
            try:
                stat = os.stat(path)  # noqa: PTH116 - text paths, as the store's reads
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError:
                break
            if confinement.may_link(path):
                break
            try:
                with open(path, "rb") as stream:  # noqa: PTH123
                    data = stream.read()
                result = (path, identity_of(stat), parse(data, stat.st_mtime_ns))
            except Exception:  # the caller's read reports it
                result = None
            break
        found.append(result)
    return found


# -- the pipes ------------------------------------------------------------------------


def _send(stream: IO[bytes], payload: bytes) -> None:
    stream.write(_LENGTH.pack(len(payload)) + payload)
    stream.flush()


def _receive(stream: IO[bytes]) -> bytes | None:
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    payload = stream.read(length)
    if len(payload) < length:
        raise EOFError("a parse worker's answer was cut short")
    return payload


def serve(root: str, source: IO[bytes], sink: IO[bytes]) -> None:
    """A worker's loop: a batch of ids in, ``parse_entry_files`` of them out, until EOF."""
    ids = msgspec.msgpack.Decoder(list[str])
    while (frame := _receive(source)) is not None:
        _send(sink, msgspec.msgpack.encode(parse_entry_files(root, ids.decode(frame))))


class _Batches:
    """The batches still to parse, handed out to the workers' threads one at a time."""

    def __init__(self, entry_ids: Sequence[str]) -> None:
        self._left = [entry_ids[i : i + _BATCH] for i in range(0, len(entry_ids), _BATCH)]
        self._left.reverse()
        self._lock = threading.Lock()

    def next(self) -> Sequence[str] | None:
        with self._lock:
            return self._left.pop() if self._left else None


def _start(root: str) -> subprocess.Popen[bytes]:
    # The parent's import path, so the child finds this package wherever it came from.
    code = (
        "import sys; sys.path[:0] = " + repr(sys.path) + "; "
        "from flextype_adapters.parallel_parse import serve; "
        "serve(sys.argv[1], sys.stdin.buffer, sys.stdout.buffer)"
    )
    return subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code, root],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


def _drive(worker: subprocess.Popen[bytes], batches: _Batches, out: list[Parsed]) -> None:
    """Feed ``worker`` batches until none is left; collect what it parsed into ``out``."""
    assert worker.stdin is not None and worker.stdout is not None
    answers = msgspec.msgpack.Decoder(_Answer)
    while (batch := batches.next()) is not None:
        _send(worker.stdin, msgspec.msgpack.encode(list(batch)))
        frame = _receive(worker.stdout)
        if frame is None:
            raise EOFError("a parse worker exited")
        out.extend(found for found in answers.decode(frame) if found is not None)


def parse_in_processes(root: str, entry_ids: Sequence[str]) -> Iterator[Parsed]:
    """Yield what ``parse_entry_files`` finds for ``entry_ids``, parsed on every core.

    Yields nothing when there are fewer than ``PARALLEL_FROM`` entries or only one
    core; yields what was parsed so far when a worker fails (the caller then parses
    what is left itself).
    """
    count = min(_cores(), 1 + len(entry_ids) // _BATCH)
    if len(entry_ids) < PARALLEL_FROM or count < 2:
        return
    batches = _Batches(entry_ids)
    results: list[list[Parsed]] = [[] for _ in range(count)]
    failures: list[BaseException] = []
    workers: list[subprocess.Popen[bytes]] = []

    def drive(worker: subprocess.Popen[bytes], out: list[Parsed]) -> None:
        try:
            _drive(worker, batches, out)
        except (OSError, EOFError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            failures.append(exc)

    try:
        workers = [_start(root) for _ in range(count)]
        threads = [
            threading.Thread(target=drive, args=(worker, out), daemon=True)
            for worker, out in zip(workers, results, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    except OSError as exc:
        failures.append(exc)
    finally:
        for worker in workers:
            _stop(worker)
    if failures:
        log.warning("Parsing entries in worker processes failed (%s); parsing here.", failures[0])
    for out in results:
        yield from out


def _stop(worker: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        if worker.stdin is not None:
            worker.stdin.close()
    try:
        worker.wait(_WAIT)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
    if worker.stdout is not None:
        worker.stdout.close()
