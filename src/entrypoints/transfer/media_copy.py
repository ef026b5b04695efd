"""Media across stores for ``flextype migrate``: copy, read back, keep or drop blobs.

The file drivers keep media as files with sidecars in ``media/``; postgres keeps their
metadata and folders as rows and the bytes as blobs in ``media/.blobs``. The two live
side by side in one folder (the local store ignores hidden names), so a migration from
a file driver to postgres swaps in only ``media/.blobs`` and the local files stay as the
old driver's content; one from postgres swaps in the whole ``media/`` folder, with the
live blobs linked into it unless they go with ``--delete-source``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import msgspec

from flextype_adapters.atomic import remove_atomically
from flextype_adapters.local_uploads import UPLOADS
from flextype_adapters.postgres.media_blobs import BLOBS
from flextype_core import ids
from flextype_core.errors import StorageError
from flextype_core.model import MediaFile
from flextype_core.ports import MediaStore
from flextype_entrypoints.transfer.progress import ProgressBars

__all__ = [
    "BLOBS_NAME",
    "MediaTree",
    "copy_media",
    "keep_blobs",
    "media_tree",
    "remove_local_media",
]

BLOBS_NAME = f"media/{BLOBS}"
"""The name, in a project folder, of postgres's blob folder (what a migration swaps in)."""
_CHUNK = 1 << 20


class MediaTree(msgspec.Struct, frozen=True):
    folders: list[str]  # every folder below the root, parents before children
    files: list[MediaFile]


def media_tree(store: MediaStore) -> MediaTree:
    """Every folder and (readable) file of ``store``, in id order."""
    folders: list[str] = []
    files: list[MediaFile] = []
    pending = [ids.ROOT]
    while pending:
        folder = pending.pop()
        files += store.files(folder)
        children = store.folders(folder)
        folders += children
        pending += children
    return MediaTree(folders=sorted(folders), files=sorted(files, key=lambda f: f.id))


def _size(store: MediaStore, file_id: str) -> int:
    with store.open(file_id) as stream:
        return stream.seek(0, os.SEEK_END)


def copy_media(source: MediaStore, target: MediaStore, tree: MediaTree, bars: ProgressBars) -> None:
    """Write ``tree`` of ``source`` into ``target`` (empty), then compare what it holds.

    Raises:
        StorageError: the copy reads back different (metadata, folders or bytes).
    """
    advance = bars.task("media bytes", sum(_size(source, f.id) for f in tree.files))
    for folder in tree.folders:  # parents first: each one's parent exists
        if not target.folder_exists(folder):
            target.create_folder(folder)
    for file in tree.files:
        with source.open(file.id) as stream, target.stage() as upload:
            while data := stream.read(_CHUNK):
                upload.write(data)
                advance(len(data))
            target.add_file(file.id, upload, file.meta, replace=False)
    copied = media_tree(target)
    same = copied.folders == tree.folders and [
        (f.id, msgspec.json.encode(f.meta)) for f in copied.files
    ] == [(f.id, msgspec.json.encode(f.meta)) for f in tree.files]
    if not same or any(target.content_hash(f.id) != source.content_hash(f.id) for f in tree.files):
        raise StorageError("The media read back from the new driver differ from the old.")


def keep_blobs(live_media: Path, staged_media: Path) -> None:
    """Link the live blobs into the staged media folder, so that swapping it in keeps them.

    Blobs never change once written, so a hard link is as good as a copy (a copy where
    the file system has no links).
    """
    source = live_media / BLOBS
    if not source.is_dir():
        return

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, staged_media / BLOBS, copy_function=link)


def remove_local_media(live_media: Path) -> None:
    """Remove the file drivers' media (files, sidecars, folders); postgres's blobs stay."""
    if not live_media.is_dir():
        return
    for entry in os.scandir(live_media):
        if entry.name not in (BLOBS, UPLOADS):
            remove_atomically(Path(entry.path))
