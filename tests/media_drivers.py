"""The media drivers the HTTP media and images tests run on, and what each keeps.

A test module parametrizes the ``media_driver`` fixture (``MEDIA_DRIVERS``) and the
``project`` fixture moves that project's media to a fresh bucket of moto's server for
``s3``. ``StoredMedia`` answers what the test asks of the storage itself, on either
driver: everything kept (to see a refused upload left nothing), a file's bytes and its
metadata, the derived images. On ``local`` it reads the media folder; on ``s3`` the
bucket, through a store built afresh from the settings (as another process would), so
the answers come from the bucket, not from the memory of the server under test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from flextype_adapters.s3_bucket import S3Bucket
from flextype_adapters.s3_derivatives import DERIVED
from flextype_core.errors import MediaFileNotFound
from flextype_entrypoints.container import build_container
from tests.http_client import files_of

__all__ = ["MEDIA_DRIVERS", "StoredMedia", "use_bucket"]

MEDIA_DRIVERS = ("local", "s3")


def use_bucket(project: Path, s3: dict[str, Any], **more: Any) -> None:
    """Set ``project``'s settings to keep its media in the bucket ``s3`` names."""
    path = project / "flextype.yaml"
    settings = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    media = settings.setdefault("media", {})
    media["driver"] = "s3"
    media["s3"] = {**s3, **more}
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")


class StoredMedia:
    """What a project's media driver keeps, read from the storage itself."""

    def __init__(self, project: Path, driver: str, s3: dict[str, Any] | None = None) -> None:
        self.project = project
        self.driver = driver
        self.bucket: S3Bucket | None = None
        if driver == "s3":
            assert s3 is not None
            self.bucket = S3Bucket.from_settings(s3)

    # -- everything kept -------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Every file of the media folder (the lock aside); on s3 with every object of the
        bucket (with its ETag) and every multipart upload begun and not finished."""
        folder = self.project / "media"
        found: dict[str, Any] = files_of(folder) if folder.exists() else {}
        found.pop(".lock", None)  # the writers' lock file, empty; created by the first write
        if self.bucket is not None:
            client, name = self.bucket.client, self.bucket.bucket
            for key, item in self.bucket.names(""):
                found[f"s3:{key}"] = item["ETag"]
            uploads = client.list_multipart_uploads(Bucket=name).get("Uploads", [])
            for upload in uploads:
                found[f"s3-upload:{upload['Key']}"] = upload["UploadId"]
        return found

    # -- one file --------------------------------------------------------------------------

    def content(self, file_id: str) -> bytes | None:
        """The stored bytes of ``file_id``; None: there is no such file."""
        if self.bucket is None:
            path = self.project / "media" / file_id
            return path.read_bytes() if path.is_file() else None
        store = build_container(self.project, {}).media_store()
        try:
            return store.read(file_id)
        except MediaFileNotFound:
            return None

    def meta(self, file_id: str) -> dict[str, Any] | None:
        """The stored metadata of ``file_id`` (the sidecar, on local); None: there is none."""
        if self.bucket is None:
            folder, _, name = file_id.rpartition("/")
            sidecar = self.project / "media" / folder / f".{name}.meta.yaml"
            if not sidecar.is_file():
                return None
            meta: dict[str, Any] = yaml.safe_load(sidecar.read_text(encoding="utf-8"))
            return meta
        store = build_container(self.project, {}).media_store()
        try:
            return store.file(file_id).meta
        except MediaFileNotFound:
            return None

    def folder_exists(self, folder_id: str) -> bool:
        if self.bucket is None:
            return (self.project / "media" / folder_id).is_dir()
        return build_container(self.project, {}).media_store().folder_exists(folder_id)

    # -- derived images --------------------------------------------------------------------

    def derivatives(self) -> dict[str, bytes]:
        """Every derived image kept, by its name in the cache."""
        if self.bucket is None:
            folder = self.project / "cache"
            return files_of(folder) if folder.exists() else {}
        bucket = self.bucket
        return {
            name: bucket.client.get_object(Bucket=bucket.bucket, Key=bucket.key(name))[
                "Body"
            ].read()
            for name, _ in bucket.names(DERIVED)
        }

    def replace_derivative(self, name: str, data: bytes) -> None:
        """Write ``data`` over the derived image ``name`` (as ``derivatives`` names it)."""
        if self.bucket is None:
            (self.project / "cache" / name).write_bytes(data)
            return
        self.bucket.client.put_object(
            Bucket=self.bucket.bucket, Key=self.bucket.key(name), Body=data
        )
