"""TokenStore over YAML files: token ``t`` is ``<project>/tokens/t.yaml``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import msgspec

from flextype_adapters.atomic import fsync_dir, write_atomic
from flextype_adapters.confine import Confinement
from flextype_adapters.debris import remove_debris
from flextype_adapters.file_cache import ParsedFileCache
from flextype_adapters.file_lock import ProcessLock
from flextype_adapters.log_limit import warn_limited
from flextype_adapters.yaml_codec import STORAGE_FAILURES as _FAILURES
from flextype_adapters.yaml_codec import dump as _dump
from flextype_adapters.yaml_codec import load_mapping as _load_mapping
from flextype_adapters.yaml_codec import storage_error as _storage_error
from flextype_adapters.yaml_codec import storage_errors as _storage_errors
from flextype_core import ids
from flextype_core.errors import (
    Conflict,
    InvalidId,
    StorageError,
    TokenNotFound,
    shown,
)
from flextype_core.model import CallCount, Token

__all__ = ["YamlFilesTokenStore"]

Fields = dict[str, Any]


def _token(token_id: str) -> str:
    return f"Token {shown(token_id)}"


def _parse_token(token_id: str, data: bytes) -> Token:
    fields = _load_mapping(data.decode("utf-8-sig"))
    # The file name is the id: a `token` key inside the file cannot contradict it.
    fields["token"] = token_id
    return msgspec.convert(fields, type=Token)


def _is_token_id(candidate: str) -> bool:
    try:
        ids.parse_token_id(candidate)
    except InvalidId:
        return False
    return True


class YamlFilesTokenStore:
    """TokenStore over ``<project>/tokens``: token ``t`` is ``t.yaml``, without its id.

    ``add_calls`` flushes every count it can and then raises the first ``StorageError``
    it met, so one damaged token file does not lose the other tokens' counts. Token
    files are written readable by their owner only (they hold access token hashes); a
    token file that is a symbolic link leading out of the root is no token.
    """

    def __init__(self, root: Path) -> None:
        self._root = root
        # Workers of one project serialise their read-change-writes through this file.
        self._lock = ProcessLock(root / ".lock")
        self._parsed: ParsedFileCache[Token] = ParsedFileCache(confinement=Confinement(root))
        self._root_text = str(root)

    def get(self, token_id: str) -> Token:
        token = self._read(token_id)
        if token is None:
            raise TokenNotFound(token_id)
        return token

    def unreadable(self) -> list[str]:
        found = []
        for token_id in self._ids():
            try:
                self._read(token_id)
            except StorageError:
                found.append(token_id)
        return found

    def _ids(self) -> list[str]:
        with _storage_errors("The tokens", "listed"):
            try:
                names = [path.name for path in self._root.iterdir()]
            except FileNotFoundError:
                return []
        return sorted(
            name.removesuffix(".yaml")
            for name in names
            if name.endswith(".yaml")
            and not name.startswith(".")
            and _is_token_id(name.removesuffix(".yaml"))
        )

    def list(self) -> list[Token]:
        tokens = []
        for token_id in self._ids():
            try:
                token = self._read(token_id)
            except StorageError as exc:
                warn_limited(
                    f"token:{self._root_text}:{token_id}",
                    "%s It is left out of the token list.",
                    exc.message,
                )
                continue
            if token is not None:  # None: deleted since the listing
                tokens.append(token)
        return tokens

    def check(self) -> None:
        # No folder yet is no tokens yet, as every read takes it; the first write makes it.
        with _storage_errors("The tokens folder", "listed"), contextlib.suppress(FileNotFoundError):
            os.scandir(self._root).close()

    def exclusive(self) -> contextlib.AbstractContextManager[object]:
        return self._lock.held()

    def remove_debris(self) -> int:
        """Remove what interrupted writes left (``flextype_adapters.debris``); return how many."""
        with self._lock.held():
            return remove_debris(self._root)

    def create(self, token: Token) -> None:
        with self._lock.held():
            if self._path(token.token).exists():
                raise Conflict(f"Token '{token.token}' already exists.")
            self._write(token.token, token)

    def update(self, token_id: str, change: Callable[[Token], Token]) -> Token:
        with self._lock.held():
            changed = change(self.get(token_id))
            self._write(token_id, changed)
            return changed

    def move(
        self,
        token_id: str,
        new_id: str,
        modified_at: int,
        *,
        expect: Callable[[Token], None] | None = None,
    ) -> Token:
        with self._lock.held():
            token = self.get(token_id)
            if self._path(new_id).exists():
                raise Conflict(f"Token '{new_id}' already exists.")
            if expect is not None:
                expect(token)
            moved = msgspec.structs.replace(token, token=new_id, modified_at=modified_at)
            # New file first: a crash in between leaves both ids working, never neither.
            self._write(new_id, moved)
            with _storage_errors(_token(token_id), "deleted"):
                self._path(token_id).unlink()
                fsync_dir(self._root)
            return moved

    def delete(self, token_id: str, *, expect: Callable[[Token], None] | None = None) -> None:
        with self._lock.held():
            if expect is not None:
                expect(self.get(token_id))
            self._unlink(token_id)

    def _unlink(self, token_id: str) -> None:
        with _storage_errors(_token(token_id), "deleted"):
            try:
                self._path(token_id).unlink()
            except FileNotFoundError:
                raise TokenNotFound(token_id) from None
            fsync_dir(self._root)

    def spend(self, token_id: str, at: int) -> Token:
        with self._lock.held():
            token = self._read(token_id, fresh=True)
            if token is None:
                raise TokenNotFound(token_id)
            spent = token.spent(at)
            self._write(token_id, spent)
            return spent

    def add_calls(self, counts: Mapping[str, CallCount]) -> None:
        failure: StorageError | None = None
        with self._lock.held():
            for token_id, count in counts.items():
                try:
                    token = self._read(token_id, fresh=True)
                    if token is None:  # deleted meanwhile: nothing to count
                        continue
                    self._write(token_id, token.counted(count))
                except StorageError as exc:
                    failure = failure or exc
        if failure is not None:
            raise failure

    def _path(self, token_id: str) -> Path:
        return self._root / f"{token_id}.yaml"

    def _read(self, token_id: str, *, fresh: bool = False) -> Token | None:
        """The stored token, or None; ``fresh``: from the file, never from memory.

        Counting reads fresh under the lock: the cache knows a file by inode, size and
        mtime, and another worker's two quick writes could reuse an inode within one
        tick of the file system's clock with the same size, so a count would be lost.
        """
        path = f"{self._root_text}/{token_id}.yaml"
        if fresh:
            self._parsed.forget(path)
        try:
            # Tokens are frozen Structs, so one parsed value can be shared by every caller.
            return self._parsed.get(path, partial(_parse_token, token_id))
        except _FAILURES as exc:
            raise _storage_error(_token(token_id), "read", exc) from exc

    def _write(self, token_id: str, token: Token) -> None:
        fields: Fields = msgspec.to_builtins(token)
        del fields["token"]
        with _storage_errors(_token(token_id), "written"):
            write_atomic(self._path(token_id), _dump(fields), private=True)
