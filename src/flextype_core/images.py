"""The Images API rules: Glide parameters, signed URLs, derivative keys and render budgets.

Parsing is strict: an unknown parameter or a value out of range is a ``BadRequest`` naming
it, never ignored. Rendering itself is the ``ImageProcessor`` port's job; this module
decides whether to render (access, cache, budget) and what to ask for.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from typing import NamedTuple

import msgspec

from flextype_core import ids
from flextype_core.byte_lru import ByteLru
from flextype_core.errors import AccessTokenInvalid, BadRequest, ServiceUnavailable
from flextype_core.image_params import (
    COLOURS,
    FITS,
    FORMATS,
    POSITIONS,
    Border,
    ImageParams,
    canonical,
    parse_params,
    sign,
    signed_url,
    single_values,
    verify_signature,
)
from flextype_core.ports import Clock, DerivativeCache, ImageProcessor, MediaStore

_KEY_VERSION = "flextype-images-1"
MEMORY_BYTES = 64 * 1024 * 1024
"""How many bytes of recent derivatives each service keeps in memory."""
PARSED_KEPT = 4096
"""How many (path, query) of authorized requests keep their parsed parameters and key."""
_ASKED_BYTES = 1024

__all__ = [
    "COLOURS",
    "FITS",
    "FORMATS",
    "MEMORY_BYTES",
    "POSITIONS",
    "Border",
    "ImageParams",
    "ImageService",
    "RenderedImage",
    "cache_key",
    "canonical",
    "parse_params",
    "sign",
    "signed_url",
    "verify_signature",
]


class RenderedImage(msgspec.Struct, frozen=True, kw_only=True):
    """A derivative image, ready to send."""

    data: bytes
    media_type: str
    etag: str
    """The strong ETag, quoted (``"<cache key>"``)."""


def cache_key(content_hash: str, params: ImageParams, *, salt: str = "") -> str:
    """Return the key of a derivative: SHA-256 (hex) of the source hash and the parameters.

    Every parameter goes in with its default, in field order, so the same request
    spelled differently (reordered, ``crop-center`` for ``crop-50-50``) has one key.
    ``salt`` holds anything else the output depends on (the service's size limits).
    """
    blob = msgspec.json.encode([_KEY_VERSION, content_hash, salt, params])
    return hashlib.sha256(blob).hexdigest()


def _sniff(data: bytes) -> str:
    """The MIME type of an encoded derivative, from its first bytes."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


class _Flight:
    """One render in progress; requests for the same key wait for its outcome."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.data: bytes | None = None
        self.error: BaseException | None = None
        self.followers = 0
        """Requests waiting for this render's outcome instead of rendering themselves."""


class _Parsed(NamedTuple):
    file_id: str
    params: ImageParams
    content_hash: str
    key: str


def _asked(
    path: str, given: Mapping[str, object]
) -> tuple[str, tuple[tuple[str, object], ...]] | None:
    """The request as a key of ``ImageService._parsed``.

    None if a value is not text, or the query is longer than a real one: the remembered
    ones then hold at most ``PARSED_KEPT`` x ``_ASKED_BYTES`` of keys.
    """
    items = tuple(given.items())
    size = len(path)
    for name, value in items:
        if not isinstance(value, str):
            return None
        size += len(name) + len(value)
    return (path, items) if size <= _ASKED_BYTES else None


class ImageService:
    """Serve derivatives of media images: access, validation, cache, budget, single flight.

    Args:
        store: where the sources are.
        processor: decodes, transforms and encodes.
        cache: derivatives by key.
        clock: for ``expires``.
        sign_key: the HMAC key of signed URLs; empty disables signatures.
        max_width: the largest ``w`` (and output width).
        max_height: the largest ``h`` (and output height).
        max_source_pixels: sources with more pixels are refused (PayloadTooLarge).
        max_concurrent_renders: renders at once; one more is ServiceUnavailable.
    """

    def __init__(
        self,
        store: MediaStore,
        processor: ImageProcessor,
        cache: DerivativeCache,
        clock: Clock,
        *,
        sign_key: str,
        max_width: int = 4096,
        max_height: int = 4096,
        max_source_pixels: int = 50_000_000,
        max_concurrent_renders: int = 4,
    ) -> None:
        self._store = store
        self._processor = processor
        self._cache = cache
        self._clock = clock
        self._sign_key = sign_key
        self._limits = {
            "max_width": max_width,
            "max_height": max_height,
            "max_source_pixels": max_source_pixels,
        }
        self._salt = f"{max_width}x{max_height}"
        self._slots = threading.BoundedSemaphore(max_concurrent_renders)
        self._flights: dict[str, _Flight] = {}
        self._lock = threading.Lock()
        self._memory: ByteLru[bytes] = ByteLru(MEMORY_BYTES, len)
        self._parsed: dict[tuple[str, tuple[tuple[str, object], ...]], _Parsed] = {}

    @property
    def waiting(self) -> int:
        """How many requests are waiting for a render that another request is doing."""
        with self._lock:
            return sum(flight.followers for flight in self._flights.values())

    def render(self, path: str, query: Mapping[str, object], *, authorized: bool) -> RenderedImage:
        """Return the image at media ``path`` transformed by ``query``.

        Args:
            path: the media file id.
            query: the query parameters (Glide parameters, ``s``, ``expires``, ``token``),
                each one text value.
            authorized: the caller showed a token valid for the images API; otherwise
                ``query`` must carry a valid signature.

        Raises:
            AccessTokenInvalid: not authorized and no valid, unexpired signature.
            InvalidId: ``path`` is not a file id.
            BadRequest: an invalid parameter (a list or a map too), or ``w``/``h`` over the
                limits.
            MediaFileNotFound: there is no such file.
            UnsupportedMediaType: the file is not a decodable image.
            PayloadTooLarge: the source has too many pixels.
            ServiceUnavailable: every render slot is busy (``retry_after`` 1 s).
        """
        file_id, params, key = self._checked(path, query, authorized=authorized)
        data = self._remembered(key)
        if data is None:
            data = self._render_once(key, file_id, params)
        return RenderedImage(data=data, media_type=_sniff(data), etag=f'"{key}"')

    def cached(
        self, path: str, query: Mapping[str, object], *, authorized: bool
    ) -> RenderedImage | None:
        """``render`` when the derivative exists (no decode, no render slot), else None.

        Cheap enough for an event loop: a server answers hits there and sends only
        misses to a worker thread. Raises as ``render`` does, but never renders.
        """
        _, _, key = self._checked(path, query, authorized=authorized)
        data = self._remembered(key)
        return (
            None
            if data is None
            else RenderedImage(data=data, media_type=_sniff(data), etag=f'"{key}"')
        )

    def known(
        self, path: str, query: Mapping[str, object], *, authorized: bool
    ) -> RenderedImage | None:
        """``render`` when the derivative is in memory and the source's hash known, else None.

        Known: ``MediaStore.known_hash`` tells it without I/O. For an event loop over
        media in a bucket or a database, where ``cached`` may wait on the network.
        Raises as ``render`` does, but never renders.
        """
        file_id, params = self._allowed(path, query, authorized=authorized)
        content_hash = self._store.known_hash(file_id)
        if content_hash is None:
            return None
        key = cache_key(content_hash, params, salt=self._salt)
        data = self._memory.get(key)
        if data is None:
            return None
        return RenderedImage(data=data, media_type=_sniff(data), etag=f'"{key}"')

    def _checked(
        self, path: str, given: Mapping[str, object], *, authorized: bool
    ) -> tuple[str, ImageParams, str]:
        """Check access and parameters; return the file id, the parameters and the key.

        A request with a token asks the same few URLs again and again: their parsed
        parameters and key are remembered per (path, query), and only the source's hash
        (one ``stat`` on local media) is asked each time. A signed request is checked
        whole each time (its signature expires).
        """
        asked = _asked(path, given) if authorized else None
        known = None if asked is None else self._parsed.get(asked)
        if known is None:
            file_id, params = self._allowed(path, given, authorized=authorized)
        else:
            file_id, params = known.file_id, known.params
        content_hash = self._store.content_hash(file_id)
        if known is not None and known.content_hash == content_hash:
            return file_id, params, known.key
        key = cache_key(content_hash, params, salt=self._salt)
        if asked is not None:
            if len(self._parsed) >= PARSED_KEPT:
                self._parsed.clear()  # a crawler's many URLs: start again, never grow
            self._parsed[asked] = _Parsed(file_id, params, content_hash, key)
        return file_id, params, key

    def _allowed(
        self, path: str, given: Mapping[str, object], *, authorized: bool
    ) -> tuple[str, ImageParams]:
        """Check access and parameters; return the file id and the parameters."""
        file_id = ids.parse_file_id(path)
        # Before the signature: a list the signature skipped must not pass unnoticed.
        query = single_values(given)
        if not authorized and not verify_signature(
            self._sign_key, file_id, query, self._clock.now()
        ):
            raise AccessTokenInvalid(
                "A token for the images API or a valid signature is needed.", reason="signature"
            )
        params = parse_params(query)
        for name, value, limit in (
            ("w", params.w, self._limits["max_width"]),
            ("h", params.h, self._limits["max_height"]),
        ):
            if value is not None and value > limit:
                raise BadRequest(
                    f"Image parameter '{name}' must be at most {limit}, got {value}.",
                    details=[name],
                )
        return file_id, params

    def _remembered(self, key: str) -> bytes | None:
        """The derivative from memory, else from the cache (then kept in memory)."""
        data = self._memory.get(key)
        if data is not None:
            return data
        data = self._cache.get(key)
        if data is not None:
            self._remember(key, data)
        return data

    def _remember(self, key: str, data: bytes) -> None:
        # Recent derivatives stay in memory up to a byte budget: a hit then reads no file.
        self._memory.put(key, data)

    def _render_once(self, key: str, file_id: str, params: ImageParams) -> bytes:
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
            else:
                flight.followers += 1
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            assert flight.data is not None
            return flight.data
        try:
            flight.data = self._cache.get(key) or self._render(key, file_id, params)
            return flight.data
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()

    def _render(self, key: str, file_id: str, params: ImageParams) -> bytes:
        if not self._slots.acquire(blocking=False):
            raise ServiceUnavailable("Every image render slot is busy.", retry_after=1)
        try:
            source = self._store.read(file_id)
            data, _ = self._processor.render(source, msgspec.to_builtins(params), self._limits)
        finally:
            self._slots.release()
        self._cache.put(key, data)
        self._remember(key, data)
        return data
