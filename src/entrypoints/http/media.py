"""The Media API: files (with their metadata) and folders under ``media/``."""

from __future__ import annotations

import os
from functools import partial
from typing import Any, BinaryIO

from anyio import to_thread
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Stream
from litestar.status_codes import HTTP_307_TEMPORARY_REDIRECT

from flextype_core.errors import BadRequest, Conflict, PreconditionFailed
from flextype_entrypoints.http.answers import data_answer, payload_answer
from flextype_entrypoints.http.apidoc import ApiDoc
from flextype_entrypoints.http.bodies import (
    FolderCreate,
    MediaDelete,
    MediaMove,
    MediaUpload,
    MetaDelete,
    MetaWrite,
    meta_write,
)
from flextype_entrypoints.http.deps import ApiCall, written
from flextype_entrypoints.http.file_stream import FileStream
from flextype_entrypoints.http.head import is_head
from flextype_entrypoints.http.params import is_truthy
from flextype_entrypoints.http.responses import Data
from flextype_entrypoints.http.uploads import receive_multipart

__all__ = ["MediaContentController", "MediaFilesController", "MediaFoldersController"]

_API = "media"


class MediaFilesController(Controller):
    path = "/media/files"
    tags = ["Media"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(
        "/",
        sync_to_thread=True,
        summary="Fetch a file's metadata, or the files of a folder",
        doc=ApiDoc(
            query=("id", "options"),
            answer="MediaFiles",
            errors=(404,),
            etag=True,
            changes_cursor=True,
        ),
    )
    def fetch_file(self, call: NamedDependency[ApiCall]) -> Response[Any]:
        """The metadata of the file `id`, with its `url`; or the files of the folder `id`.

        With `options[collection]=true`, the files take the entries' filter options, and
        the answer carries `X-Changes-Cursor` (see `/api/changes`).
        """
        call.authorize(_API, write=False)
        options = call.params.options()
        if is_truthy(options.get("collection")):
            folder = call.params.text("id", required=False) or ""
            headers = call.collection_headers()  # first: the feed's position it reflects
            page = call.media.collection(folder, options)
            payload = Data(data=page.data, meta=page.meta)
            return call.respond(payload_answer(payload, headers))
        meta = call.media.fetch(call.params.text("id"))
        return call.respond(data_answer(meta))

    @post(
        "/",
        status_code=200,
        summary="Upload a file (multipart: folder, file)",
        doc=ApiDoc(
            body=MediaUpload,
            multipart=True,
            answer="MediaFile",
            errors=(409,),
            etag=True,
            if_match=True,
            if_none_match=True,
        ),
    )
    async def upload_file(
        self, request: Request[Any, Any, Any], call: NamedDependency[ApiCall]
    ) -> Response[Data]:
        """Store the `file` part in `folder` (created if missing); the answer gives its id.

        The name is made safe (lower case; other characters become `-`). The extension
        must be allowed and match the content (else 415); a file over the size limit is
        413; a taken name is 409 unless `replace=true`. `If-Match` replaces the file
        the ETag names; `If-None-Match: *` never replaces.
        """
        media = call.media
        # A bucket's staging may wait for the network: written off the event loop.
        remote = request.app.state.container.config.media.driver() == "s3"
        form = await receive_multipart(request, media.stage, media.max_file_size, remote=remote)
        try:
            params = call.params.with_fields(form.fields)
            await to_thread.run_sync(partial(call.authorize, _API, write=True, params=params))
            upload = form.file
            if upload is None or form.file_name is None:
                raise BadRequest("The upload has no file part named 'file'.")
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
            await form.discard()
        return written(created)

    @put(
        "/",
        sync_to_thread=True,
        summary="Move a file with its metadata",
        doc=ApiDoc(body=MediaMove, answer="MediaFile", errors=(404, 409), etag=True, if_match=True),
    )
    def move_file(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        """Move the file `id` to `new_id` (same extension, else 400)."""
        call.authorize(_API, write=True)
        body = call.read(MediaMove)
        return written(call.media.move(body.id, body.new_id, if_match=call.if_match))

    @put(
        "/copy",
        sync_to_thread=True,
        summary="Copy a file with its metadata",
        doc=ApiDoc(body=MediaMove, answer="MediaFile", errors=(404, 409), etag=True, if_match=True),
    )
    def copy_file(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        """Copy the file `id` to `new_id` (same extension, else 400)."""
        call.authorize(_API, write=True)
        body = call.read(MediaMove)
        return written(call.media.copy(body.id, body.new_id, if_match=call.if_match))

    @delete(
        "/",
        sync_to_thread=True,
        summary="Delete a file with its metadata",
        doc=ApiDoc(body=MediaDelete, errors=(404,), if_match=True),
    )
    def delete_file(self, call: NamedDependency[ApiCall]) -> None:
        """Delete the file `id` and its metadata; 204 with no body."""
        call.authorize(_API, write=True)
        file_id = call.read(MediaDelete).id
        call.media.delete(file_id, if_match=call.if_match)

    @post(
        "/meta",
        status_code=200,
        sync_to_thread=True,
        summary="Add a metadata field",
        doc=ApiDoc(
            body=MetaWrite, answer="MediaFile", errors=(404, 409, 422), etag=True, if_match=True
        ),
    )
    def add_meta(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        """Add `field` with `value` to the file's metadata; 409 if it is there already.

        Managed fields (type, filesize, uploaded_on, width, height, id, url) are 422.
        """
        call.authorize(_API, write=True)
        body = meta_write(call.params)
        return written(call.media.add_meta(body.id, body.field, body.value, if_match=call.if_match))

    @patch(
        "/meta",
        sync_to_thread=True,
        summary="Change a metadata field",
        doc=ApiDoc(body=MetaWrite, answer="MediaFile", errors=(404, 422), etag=True, if_match=True),
    )
    def update_meta(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        """Set an existing metadata `field` to `value`; 404 if the field is missing."""
        call.authorize(_API, write=True)
        body = meta_write(call.params)
        return written(
            call.media.update_meta(body.id, body.field, body.value, if_match=call.if_match)
        )

    @delete(
        "/meta",
        status_code=200,
        sync_to_thread=True,
        summary="Remove a metadata field",
        doc=ApiDoc(
            body=MetaDelete, answer="MediaFile", errors=(404, 422), etag=True, if_match=True
        ),
    )
    def delete_meta(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        """Remove the metadata `field` (no `value`); answers the file, 404 if it is missing."""
        call.authorize(_API, write=True)
        body = call.read(MetaDelete)
        return written(call.media.delete_meta(body.id, body.field, if_match=call.if_match))


class MediaFoldersController(Controller):
    path = "/media/folders"
    tags = ["Media"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(
        "/",
        sync_to_thread=True,
        summary="Fetch a folder, or its subfolders",
        doc=ApiDoc(
            query=("id", "options"),
            answer="Folders",
            errors=(404,),
            etag=True,
            changes_cursor=True,
        ),
    )
    def fetch_folder(self, call: NamedDependency[ApiCall]) -> Response[Any]:
        """The folder `id`, or with `options[collection]=true` the folders in it.

        A list of folders carries `X-Changes-Cursor`, as collections do (`/api/changes`).
        """
        call.authorize(_API, write=False)
        folder = call.params.text("id")  # required, as in Flextype: "" names the root
        if is_truthy(call.params.options().get("collection")):
            headers = call.collection_headers()  # first: the feed's position it reflects
            folders = call.media.folders(folder)
            return call.respond(data_answer(folders, headers))
        one = call.media.folder(folder)
        return call.respond(data_answer(one))

    @post(
        "/",
        status_code=200,
        sync_to_thread=True,
        summary="Create a folder",
        doc=ApiDoc(body=FolderCreate, answer="Folder", errors=(409,), etag=True),
    )
    def create_folder(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        """Create the folder `id` and any missing folders above it; 409 if it exists."""
        call.authorize(_API, write=True)
        return written(call.media.create_folder(call.read(FolderCreate).id))

    @put(
        "/",
        sync_to_thread=True,
        summary="Rename (move) a folder",
        doc=ApiDoc(body=MediaMove, answer="Folder", errors=(404, 409), etag=True, if_match=True),
    )
    def move_folder(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        """Move the folder `id`, with everything in it, to `new_id`."""
        call.authorize(_API, write=True)
        body = call.read(MediaMove)
        return written(call.media.move_folder(body.id, body.new_id, if_match=call.if_match))

    @put(
        "/copy",
        sync_to_thread=True,
        summary="Copy a folder",
        doc=ApiDoc(body=MediaMove, answer="Folder", errors=(404, 409), etag=True, if_match=True),
    )
    def copy_folder(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        """Copy the folder `id`, with everything in it, to `new_id`."""
        call.authorize(_API, write=True)
        body = call.read(MediaMove)
        return written(call.media.copy_folder(body.id, body.new_id, if_match=call.if_match))

    @delete(
        "/",
        sync_to_thread=True,
        summary="Delete a folder and everything in it",
        doc=ApiDoc(body=MediaDelete, errors=(404,), if_match=True),
    )
    def delete_folder(self, call: NamedDependency[ApiCall]) -> None:
        """Delete the folder `id` with every file and folder in it; 204 with no body."""
        call.authorize(_API, write=True)
        folder_id = call.read(MediaDelete).id
        call.media.delete_folder(folder_id, if_match=call.if_match)


class MediaContentController(Controller):
    """The files themselves, at the ``url`` their metadata gives: public, as Flextype's."""

    path = "/media"
    tags = ["Media"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(
        "/{file_path:path}",
        sync_to_thread=True,
        summary="A media file's content",
        doc=ApiDoc(answer="File", errors=(404,)),
    )
    def fetch_content(
        self,
        file_path: FromPath[str],
        request: Request[Any, Any, Any],
        call: NamedDependency[ApiCall],
    ) -> Response[Any]:
        """The file at the `url` its metadata gives, with its own type; no token needed.

        Served with `X-Content-Type-Options: nosniff` and a sandbox
        `Content-Security-Policy`, as Flextype serves its uploads. With
        `media.s3.serve: redirect`, a GET answers 307 to a short-lived presigned URL of
        the bucket instead (a HEAD still answers the headers here).
        """
        found = call.media.content(file_path.lstrip("/"))
        head = is_head(request.scope)
        if found.redirect is not None and not head:
            # A new signature each time: the redirect itself must not be cached.
            return Response(
                b"",
                status_code=HTTP_307_TEMPORARY_REDIRECT,
                headers={"Location": found.redirect, "Cache-Control": "no-store"},
            )
        headers = dict(_CONTENT_HEADERS)
        size = _size(found.stream, found.size)
        if size is not None:
            headers["Content-Length"] = str(size)
        if found.stream is None or head:
            if found.stream is not None:
                found.stream.close()
            return Stream(iter(()), media_type=found.media_type, headers=headers)
        return FileStream(
            found.stream, file_path.lstrip("/"), media_type=found.media_type, headers=headers
        )


_CONTENT_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}


def _size(stream: BinaryIO | None, recorded: int | None) -> int | None:
    """The size of an open file as the disk says, else the one its metadata records.

    The disk's is exact even if a sidecar edited by hand is stale; a bucket's objects
    never change after their metadata recorded them.
    """
    if stream is not None:
        try:
            return os.fstat(stream.fileno()).st_size
        except (OSError, AttributeError, ValueError):  # no file descriptor behind it
            pass
    return recorded
