"""The Media API: files (with their metadata) and folders under ``media/``."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from anyio import to_thread
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath

from flextype_adapters.local_media import TempUpload
from flextype_core.errors import BadRequest, Conflict, PreconditionFailed
from flextype_core.etags import entity_tag
from flextype_entrypoints.http.bodies import (
    FolderCreate,
    MediaDelete,
    MediaMove,
    MetaDelete,
    meta_write,
)
from flextype_entrypoints.http.deps import ApiCall, written
from flextype_entrypoints.http.params import is_truthy
from flextype_entrypoints.http.responses import Data
from flextype_entrypoints.http.uploads import receive_multipart

__all__ = ["MediaContentController", "MediaFilesController", "MediaFoldersController"]

_API = "media"


class MediaFilesController(Controller):
    path = "/media/files"
    tags = ["Media"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/", sync_to_thread=True, summary="Fetch a file's metadata, or the files of a folder")
    def fetch_file(self, call: NamedDependency[ApiCall]) -> Response[Any]:
        call.authorize(_API, write=False)
        options = call.params.options()
        if is_truthy(options.get("collection")):
            folder = call.params.text("id", required=False) or ""
            page = call.media.collection(folder, options)
            payload = Data(data=page.data, meta=page.meta)
            return call.respond(payload, entity_tag(payload))
        meta = call.media.fetch(call.params.text("id"))
        return call.respond(Data(data=meta), entity_tag(meta))

    @post("/", status_code=200, summary="Upload a file (multipart: folder, file)")
    async def upload_file(
        self, request: Request[Any, Any, Any], call: NamedDependency[ApiCall]
    ) -> Response[Data]:
        media = call.media
        form = await receive_multipart(request, _upload_dir(call), media.max_file_size)
        try:
            params = call.params.with_fields(form.fields)
            await to_thread.run_sync(partial(call.authorize, _API, write=True, params=params))
            if form.file_path is None or form.file_name is None:
                raise BadRequest("The upload has no file part named 'file'.")
            upload = TempUpload(form.file_path, form.file_size)
            folder = params.text("folder", required=False) or ""
            # If-None-Match: * asks for create-if-absent: never a replace.
            replace = is_truthy(params.values.get("replace")) and call.if_none_match is None
            try:
                created = await to_thread.run_sync(
                    partial(
                        media.upload,
                        folder,
                        form.file_name,
                        upload,
                        replace=replace,
                        if_match=call.if_match,
                    )
                )
            except Conflict as exc:
                if call.if_none_match is None:
                    raise
                raise PreconditionFailed(f"{exc.message} (If-None-Match: *)") from exc
        finally:
            form.discard()
        return written(created)

    @put("/", sync_to_thread=True, summary="Move a file with its metadata")
    def move_file(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        call.authorize(_API, write=True)
        body = call.read(MediaMove)
        return written(call.media.move(body.id, body.new_id, if_match=call.if_match))

    @put("/copy", sync_to_thread=True, summary="Copy a file with its metadata")
    def copy_file(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        call.authorize(_API, write=True)
        body = call.read(MediaMove)
        return written(call.media.copy(body.id, body.new_id, if_match=call.if_match))

    @delete("/", sync_to_thread=True, summary="Delete a file with its metadata")
    def delete_file(self, call: NamedDependency[ApiCall]) -> None:
        call.authorize(_API, write=True)
        file_id = call.read(MediaDelete).id
        call.media.delete(file_id, if_match=call.if_match)

    @post("/meta", status_code=200, sync_to_thread=True, summary="Add a metadata field")
    def add_meta(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        call.authorize(_API, write=True)
        body = meta_write(call.params)
        return written(call.media.add_meta(body.id, body.field, body.value, if_match=call.if_match))

    @patch("/meta", sync_to_thread=True, summary="Change a metadata field")
    def update_meta(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        call.authorize(_API, write=True)
        body = meta_write(call.params)
        return written(
            call.media.update_meta(body.id, body.field, body.value, if_match=call.if_match)
        )

    @delete("/meta", status_code=200, sync_to_thread=True, summary="Remove a metadata field")
    def delete_meta(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        call.authorize(_API, write=True)
        body = call.read(MetaDelete)
        return written(call.media.delete_meta(body.id, body.field, if_match=call.if_match))


class MediaFoldersController(Controller):
    path = "/media/folders"
    tags = ["Media"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/", sync_to_thread=True, summary="Fetch a folder, or its subfolders")
    def fetch_folder(self, call: NamedDependency[ApiCall]) -> Response[Any]:
        call.authorize(_API, write=False)
        folder = call.params.text("id")  # required, as in Flextype: "" names the root
        if is_truthy(call.params.options().get("collection")):
            folders = call.media.folders(folder)
            return call.respond(Data(data=folders), entity_tag(folders))
        one = call.media.folder(folder)
        return call.respond(Data(data=one), entity_tag(one))

    @post("/", status_code=200, sync_to_thread=True, summary="Create a folder")
    def create_folder(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        call.authorize(_API, write=True)
        return written(call.media.create_folder(call.read(FolderCreate).id))

    @put("/", sync_to_thread=True, summary="Rename (move) a folder")
    def move_folder(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        call.authorize(_API, write=True)
        body = call.read(MediaMove)
        return written(call.media.move_folder(body.id, body.new_id, if_match=call.if_match))

    @put("/copy", sync_to_thread=True, summary="Copy a folder")
    def copy_folder(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        call.authorize(_API, write=True)
        body = call.read(MediaMove)
        return written(call.media.copy_folder(body.id, body.new_id, if_match=call.if_match))

    @delete("/", sync_to_thread=True, summary="Delete a folder and everything in it")
    def delete_folder(self, call: NamedDependency[ApiCall]) -> None:
        call.authorize(_API, write=True)
        folder_id = call.read(MediaDelete).id
        call.media.delete_folder(folder_id, if_match=call.if_match)


def _upload_dir(call: ApiCall) -> Path:
    # Beside the media, on the same file system: the upload is renamed into place.
    return call.project / "media" / ".uploads"


class MediaContentController(Controller):
    """The files themselves, at the ``url`` their metadata gives: public, as Flextype's."""

    path = "/media"
    tags = ["Media"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/{file_path:path}", sync_to_thread=True, summary="A media file's content")
    def fetch_content(
        self, file_path: FromPath[str], call: NamedDependency[ApiCall]
    ) -> Response[bytes]:
        data, media_type = call.media.content(file_path.lstrip("/"))
        return Response(
            data,
            media_type=media_type,
            headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"},
        )
