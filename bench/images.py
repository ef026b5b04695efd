"""Images API: cold render vs naive Pillow, and cached hits over HTTP vs bare Litestar.

1. **Cold render**, in process: a generated 4000x3000 JPEG (quality 90, gradients and
   noise, ~3.5 MB) to a 320 px wide thumbnail with ``PillowImageProcessor().render`` (what
   ``ImageService`` calls on a cache miss) against the naive
   ``Image.open(BytesIO(source)).resize((320, 240)).save(BytesIO(), "JPEG")``, alternated
   in the same run. Goal: ours >= 3x faster (ratio of p50s).
2. **Cached hits** over HTTP: the JPEG uploaded to ``media/photos/`` of a fresh project
   (through ``MediaService.upload``, so with its sidecar), the derivative warmed once, then
   ``wrk`` on ``/api/images/photos/big.jpg?w=320&token=T`` through ``flextype serve --port
   0`` against bare Litestar apps under the same uvicorn settings (``make_server``), same
   run, server pinned to one core and ``wrk`` to another (``bench/http_get_entry.py``'s
   harness, imported). Goal: ours >= 0.5x the bare endpoint (req/s).

    .venv/bin/python bench/images.py [--repeats 15] [--duration 12] [--warmup 3]

Needs ``wrk`` (``apt-get install -y wrk``) and ``taskset`` (util-linux).
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import msgspec
from litestar import Litestar, Response, get
from PIL import Image

# bench/ is not a package: import the HTTP harness from beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import http_get_entry as harness

from flextype_adapters.pillow_images import PillowImageProcessor
from flextype_core.images import parse_params
from flextype_entrypoints.project import open_project
from flextype_entrypoints.scaffold import create_project
from flextype_entrypoints.serve import bind, make_server, url_for
from flextype_entrypoints.settings import ImagesSettings

__all__ = ["main"]

BIN = Path(sys.executable).parent
SIZE = (4000, 3000)
THUMB = (320, 240)
FOLDER, NAME = "photos", "big.jpg"
_write = harness._write


def make_jpeg(size: tuple[int, int] = SIZE, quality: int = 90) -> bytes:
    """A photo-like JPEG: colour gradients under coarse and fine noise (deterministic)."""
    w, h = size
    red = Image.linear_gradient("L").resize(size)
    green = Image.radial_gradient("L").resize(size)
    blue = Image.linear_gradient("L").transpose(Image.Transpose.ROTATE_90).resize(size)
    coarse = Image.effect_noise((w // 4, h // 4), 64).resize(size, Image.Resampling.BICUBIC)
    fine = Image.effect_noise(size, 18)
    texture = Image.merge("RGB", (coarse, fine, coarse.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    img = Image.blend(Image.merge("RGB", (red, green, blue)), texture, 0.35)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


# ---------------------------------------------------------------------------- cold render


def _limits() -> dict[str, int]:
    defaults = ImagesSettings()
    return {
        "max_width": defaults.max_width,
        "max_height": defaults.max_height,
        "max_source_pixels": defaults.max_source_pixels,
    }


def _ours(source: bytes) -> bytes:
    params = msgspec.to_builtins(parse_params({"w": "320"}))
    data, _ = PillowImageProcessor().render(source, params, _limits())
    return data


def _naive(source: bytes) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(source)).resize(THUMB).save(out, "JPEG")
    return out.getvalue()


def _timed(render: Callable[[bytes], bytes], source: bytes) -> float:
    start = time.perf_counter()
    render(source)
    return (time.perf_counter() - start) * 1000


def cold(source: bytes, repeats: int) -> dict[str, list[float]]:
    """Milliseconds per render of both paths, alternated, after one untimed run each."""
    paths = {"ours (render)": _ours, "naive resize": _naive}
    for name, render in paths.items():
        with Image.open(io.BytesIO(render(source))) as out:
            if out.size != THUMB:
                raise RuntimeError(f"{name} made {out.size}, not {THUMB}")
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(repeats):
        for name, render in paths.items():
            times[name].append(_timed(render, source))
    return times


def _cold_table(times: dict[str, list[float]]) -> str:
    rows = [f"{'path':<16} {'runs':>5} {'p50 ms':>8} {'min ms':>8} {'max ms':>8}"]
    for name, runs in times.items():
        p50 = statistics.median(runs)
        rows.append(f"{name:<16} {len(runs):>5} {p50:>8.1f} {min(runs):>8.1f} {max(runs):>8.1f}")
    return "\n".join(rows)


# ---------------------------------------------------------------------------- cached hits


def _serve_bare_image(body_file: Path) -> None:
    """Serve the thumbnail's bytes at ``/api/images/{path}``, as ``flextype serve`` would."""
    body = body_file.read_bytes()
    headers = {"ETag": '"0"', "Cache-Control": "public, max-age=31536000, immutable"}

    @get("/api/images/{image_path:path}", sync_to_thread=False)
    def image(image_path: str) -> Response[bytes]:
        return Response(content=body, media_type="image/jpeg", headers=headers)

    server = make_server(Litestar(route_handlers=[image]))
    with bind("127.0.0.1", 0) as sock:
        _write(f"Serving on {url_for('127.0.0.1', sock)}")
        server.run(sockets=[sock])


def _upload(project: Path, source: bytes) -> str:
    """Put ``source`` under ``media/photos/`` with its sidecar; return the file id."""
    with open_project(project) as opened:
        media = opened.media
        with media.stage() as upload:
            upload.write(source)
            added = media.upload(FOLDER, NAME, upload)
    file_id: str = added["id"]
    return file_id


def cached(source: bytes, args: argparse.Namespace) -> tuple[list[harness.Result], int, int]:
    """Figures of cached hits, bare (same bytes), bare (REST benchmark), in one run."""
    with tempfile.TemporaryDirectory(prefix="flextype-bench-") as tmp:
        project = Path(tmp) / "site"
        token = create_project(project).token.token
        file_id = _upload(project, source)
        image_path = f"/api/images/{file_id}?w=320&token={token}"
        entry_path = f"/api/entries?id={harness.ENTRY}&token={token}"
        ours = [str(BIN / "flextype"), "serve", "--project", str(project), "--port", "0"]
        with harness._server(ours) as url:
            warm = httpx.get(url + image_path, timeout=60).raise_for_status()
            if warm.headers["content-type"] != "image/jpeg":
                raise RuntimeError(f"not a JPEG: {warm.headers['content-type']}")
            entry = httpx.get(url + entry_path, timeout=10).raise_for_status().content
        derivatives = [p for p in (project / "cache").rglob("*") if p.is_file()]
        if len(derivatives) != 1:
            raise RuntimeError(f"expected one cached derivative, found {derivatives}")
        thumb_file, entry_file = Path(tmp) / "thumb.jpg", Path(tmp) / "body.json"
        thumb_file.write_bytes(warm.content)
        entry_file.write_bytes(entry)
        bare_image = [sys.executable, str(Path(__file__).resolve()), "--serve-bare-image"]
        bare_entry = [sys.executable, harness.__file__, "--serve-bare"]
        measure = harness._measure
        results = [
            measure("flextype cached", ours, image_path, args),
            measure("bare, same jpeg", [*bare_image, str(thumb_file)], image_path, args),
            measure("bare, REST json", [*bare_entry, str(entry_file)], entry_path, args),
        ]
    return results, len(warm.content), len(entry)


# ---------------------------------------------------------------------------- main


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=15, help="cold renders per path")
    parser.add_argument("--duration", type=int, default=12, help="seconds measured per target")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of load before that")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--load-core", type=int, default=1)
    parser.add_argument("--skip-http", action="store_true", help="cold renders only")
    parser.add_argument("--serve-bare-image", type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run both measurements, print the tables and ratios; return the exit code."""
    args = _parser().parse_args(argv)
    if args.serve_bare_image is not None:
        _serve_bare_image(args.serve_bare_image)
        return 0
    missing = [tool for tool in ("wrk", "taskset") if shutil.which(tool) is None]
    if missing and not args.skip_http:
        _write(f"missing: {', '.join(missing)} (apt-get install -y wrk util-linux)")
        return 1
    source = make_jpeg()
    times = cold(source, args.repeats)
    ours, naive = (statistics.median(runs) for runs in times.values())
    _write(
        f"Cold render, {SIZE[0]}x{SIZE[1]} JPEG q90 ({len(source)} bytes) -> w=320 "
        f"({THUMB[0]}x{THUMB[1]}), in process, alternated"
    )
    _write(_cold_table(times))
    _write(f"ratio naive/ours (p50): {naive / ours:.1f}x (goal >= 3x)")
    if args.skip_http:
        return 0
    results, thumb_bytes, entry_bytes = cached(source, args)
    _write("")
    _write(
        f"Cached hits: /api/images/{FOLDER}/{NAME}?w=320&token=T ({thumb_bytes} bytes) vs bare "
        f"Litestar (same jpeg; REST benchmark's {entry_bytes} bytes of JSON), uvicorn, "
        f"server on core {args.server_core}, wrk -t{args.threads} -c{args.connections} on "
        f"core {args.load_core}, {args.warmup}s warm-up + {args.duration}s each"
    )
    _write(harness._table(results))
    ours_rps = results[0].rps
    _write(f"ratio cached/bare same jpeg (req/s): {ours_rps / results[1].rps:.2f} (goal >= 0.5)")
    _write(f"ratio cached/bare REST json (req/s): {ours_rps / results[2].rps:.2f} (goal >= 0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
