"""Presigned GET URLs of media blobs: what ``/media/<path>`` redirects to (``serve: redirect``)."""

from __future__ import annotations

from flextype_adapters.s3_blobs import S3Blobs
from flextype_adapters.s3_bucket import bucket_errors

__all__ = ["blob_url"]


def blob_url(blobs: S3Blobs, name: str, expires: int, *, media_type: str) -> str:
    """A URL that answers blob ``name`` for ``expires`` seconds, with no other credentials.

    The bucket answers it with ``media_type`` (the sniffed type of the file's metadata),
    whatever type the object was stored with. Signing is local: no request is made, so
    a URL is given for a blob removed since; its fetch then answers the bucket's 404.

    Raises:
        ServiceUnavailable: no credentials are found to sign with.
    """
    bucket = blobs.bucket
    with bucket_errors("A media file", "linked"):
        return bucket.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": bucket.bucket,
                "Key": bucket.key(blobs.object_name(name)),
                "ResponseContentType": media_type,
            },
            ExpiresIn=expires,
        )
