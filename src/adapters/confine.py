"""Paths below a content root that must stay inside it once symbolic links are resolved.

Content checked out from Git can carry symbolic links. One that resolves outside the
root (``entries/movies/leak/entry.yaml -> ../../../flextype.yaml``, a media folder
linked to ``/etc``) must never let a read serve, or a write change, a file elsewhere;
links whose target stays inside the root are followed.

``os.path.realpath`` costs 15 to 30 us (it is Python, one ``lstat`` per component of
the whole path), more than a cached entry read. So ``contains`` first ``lstat``s only
the components below the root, and resolves the path only when one is a link; and hot
reads do not pay even that per call: ``admits`` remembers its verdict per path together
with the identity (device, inode, size, mtime) of the file the path led to, and a file
whose identity is unchanged is the same file that was checked. Writes call
``contains``, which looks every time.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from stat import S_ISLNK

from flextype_adapters.log_limit import warn_limited

__all__ = ["Confinement", "Identity", "identity_of"]

Identity = tuple[int, int, int, int]
"""(device, inode, size, mtime in ns) of a file: another file, or an edit, differs."""
_VERDICTS_KEPT = 100_000


def identity_of(stat: os.stat_result) -> Identity:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


class Confinement:
    """Tell whether paths below ``root`` resolve inside it; log those that do not.

    Args:
        root: the content root (``entries``, ``media``, ``tokens``). Its own real path
            is the boundary, so a root that is itself a link (to a data disk) works.
    """

    def __init__(self, root: Path) -> None:
        self._root = str(root)
        self._verdicts: OrderedDict[str, tuple[Identity, bool]] = OrderedDict()
        self._lock = threading.Lock()

    def contains(self, path: str | os.PathLike[str]) -> bool:
        """Tell whether ``path`` (which need not exist) resolves inside the root.

        Looked at now; for checks before a write too. A refusal is logged.
        """
        text = os.fspath(path)
        if not self._has_link(text):
            return True
        real_root = os.path.realpath(self._root)
        real = os.path.realpath(text)
        if real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep):
            return True
        warn_limited(
            f"link:{text}",
            "Refused %s: a symbolic link on its path leads out of %s.",
            text,
            self._root,
        )
        return False

    def may_link(self, path: str) -> bool:
        """Tell whether ``path`` may pass a symbolic link below the root (no log, no state).

        False means it resolves inside the root as written; True that ``contains``
        must resolve it.
        """
        return self._has_link(path)

    def _has_link(self, path: str) -> bool:
        """Tell whether a component of ``path`` below the root may be a link.

        True also for a path not below the root's text, or with ``..`` (ids have
        none): resolving decides then.
        """
        prefix = self._root.rstrip(os.sep) + os.sep
        if not path.startswith(prefix):
            return True
        parts = path[len(prefix) :].split(os.sep)  # noqa: PTH206 - text paths: a hot path
        if ".." in parts:
            return True
        current = self._root
        for part in parts:
            current = os.path.join(current, part)  # noqa: PTH118 - text paths: a hot path
            try:
                if S_ISLNK(os.lstat(current).st_mode):
                    return True
            except (FileNotFoundError, NotADirectoryError):
                return False  # nothing deeper exists: no link either
        return False

    def admits(self, path: str, identity: Identity) -> bool:
        """``contains(path)`` for a file that ``stat`` gave ``identity``, remembered per file.

        A remembered verdict is reused while the path leads to a file of the same
        identity: that file was checked, and its content is what was admitted.
        """
        with self._lock:
            known = self._verdicts.get(path)
            if known is not None and known[0] == identity:
                return known[1]
        verdict = self.contains(path)
        with self._lock:
            self._verdicts[path] = (identity, verdict)
            self._verdicts.move_to_end(path)
            while len(self._verdicts) > _VERDICTS_KEPT:
                self._verdicts.popitem(last=False)
        return verdict
