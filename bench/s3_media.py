"""Media on S3 beside local disk: a 100 MB upload's server RSS, and cached image hits.

Both measured in one run against moto's S3 server in a process of its own (``moto_server``,
from the test extras), on a YAML project per media driver:

1. **Upload memory**: ``flextype serve`` with ``media.max_file_size`` and
   ``api.max_body_size`` raised to 200 MB; a small upload first (so boto3 and its
   connection are loaded), then the server's ``VmRSS`` is read, a 100 MB file is
   streamed to ``POST /api/media/files`` in 1 MiB chunks, and the server's ``VmHWM``
   (peak RSS) is read. Growth = peak - before. Goal: < 30 MB on both drivers.
2. **Cached hits**: a 4000x3000 JPEG uploaded, ``?w=320`` warmed once, then ``wrk`` on
   ``/api/images/photos/big.jpg?w=320&token=T`` (server pinned to one core, ``wrk`` to the
   other: ``bench/http_get_entry.py``'s harness). Goal: s3 >= 0.8x local (req/s).

    .venv/bin/python bench/s3_media.py [--duration 12] [--warmup 3] [--size-mb 100]

Needs ``wrk`` and ``taskset``.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

# bench/ is not a package: the HTTP harness beside this file, the moto starter of the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import http_get_entry as harness
from PIL import Image
from tests.s3_server import bucket_settings, moto_process

from flextype_entrypoints.scaffold import create_project

__all__ = ["main"]

BIN = Path(sys.executable).parent
MB = 1024 * 1024
CHUNK = MB
PNG_HEAD = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
BOUNDARY = "b0undary-bench"


def make_jpeg(size: tuple[int, int] = (4000, 3000)) -> bytes:
    """A photo-sized JPEG: gradients under noise (deterministic)."""
    noise = Image.effect_noise(size, 40)
    img = Image.merge("RGB", (Image.linear_gradient("L").resize(size), noise, noise))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90)
    return out.getvalue()


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _project(root: Path, driver: str, s3: dict[str, Any] | None) -> tuple[Path, str, str]:
    """A YAML project without demo content, media on ``driver``; (path, token, access)."""
    path = root / f"site-{driver}"
    issued = create_project(path, demo=False)
    settings_file = path / "flextype.yaml"
    settings = yaml.safe_load(settings_file.read_text(encoding="utf-8"))
    settings.setdefault("media", {})["max_file_size"] = 200 * MB
    settings.setdefault("api", {})["max_body_size"] = 200 * MB
    if s3 is not None:
        settings["media"]["driver"] = "s3"
        settings["media"]["s3"] = s3
    settings_file.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path, issued.token.token, issued.access_token


@contextmanager
def _serve(project: Path) -> Iterator[tuple[str, int]]:
    """``flextype serve`` on a free port; yield its URL and pid."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEXTYPE_")}
    argv = [str(BIN / "flextype"), "serve", "--project", str(project), "--port", "0"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env) as proc:  # noqa: S603
        try:
            assert proc.stdout is not None
            url, line = harness.announced(proc.stdout, 60)
            if url is None:
                raise RuntimeError(f"server did not announce itself: {line!r}")
            yield url, proc.pid
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


def _status_kb(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    found = re.search(rf"^{field}:\s+(\d+) kB$", text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no {field} for {pid}")
    return int(found[1])


def _multipart(token: str, access: str, name: str, size: int) -> Iterator[bytes]:
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="token"\r\n\r\n{token}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="access_token"\r\n\r\n'
        f"{access}\r\n"
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    yield PNG_HEAD + b"\x00" * (CHUNK - len(PNG_HEAD))
    chunk = b"\x00" * CHUNK
    for _ in range(size // CHUNK - 1):
        yield chunk
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def _post(url: str, token: str, access: str, name: str, size: int) -> None:
    answer = httpx.post(
        f"{url}/api/media/files",
        content=_multipart(token, access, name, size),
        headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
        timeout=600,
    )
    if answer.status_code != 200 or answer.json()["data"]["filesize"] != size:
        raise RuntimeError(f"upload failed: {answer.status_code} {answer.text[:300]}")


def upload_growth(project: Path, token: str, access: str, size: int) -> tuple[int, int]:
    """(RSS before, peak growth) in kB for one upload of ``size`` bytes."""
    with _serve(project) as (url, pid):
        _post(url, token, access, "warm.png", 2 * MB)
        before = _status_kb(pid, "VmRSS")
        _post(url, token, access, "big.png", size)
        peak = _status_kb(pid, "VmHWM")
    return before, peak - before


def cached_hits(
    project: Path, token: str, access: str, source: bytes, args: argparse.Namespace
) -> harness.Result:
    path = f"/api/images/photos/big.jpg?w=320&token={token}"
    with _serve(project) as (url, _):
        sent = httpx.post(
            f"{url}/api/media/files",
            data={"token": token, "access_token": access, "folder": "photos"},
            files={"file": ("big.jpg", source, "image/jpeg")},
            timeout=120,
        )
        if sent.is_error:
            raise SystemExit(f"upload answered {sent.status_code}: {sent.text}")
        httpx.get(url + path, timeout=120).raise_for_status()  # rendered, stored
    ours = [str(BIN / "flextype"), "serve", "--project", str(project), "--port", "0"]
    # A fresh server: its first hit comes from the derivative cache (disk or bucket).
    return harness._measure(project.name, ours, path, args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--duration", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--load-core", type=int, default=1)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    size = args.size_mb * MB
    source = make_jpeg()
    with moto_process() as endpoint, tempfile.TemporaryDirectory(prefix="flextype-s3-") as tmp:
        projects = {
            driver: _project(
                Path(tmp), driver, bucket_settings(endpoint) if driver == "s3" else None
            )
            for driver in ("local", "s3")
        }
        _write(f"Upload of {args.size_mb} MiB (load {harness._load()}): server RSS in MB")
        _write("driver   before   growth")
        for driver, (path, token, access) in projects.items():
            before, growth = upload_growth(path, token, access, size)
            _write(f"{driver:6} {before / 1024:8.1f} {growth / 1024:8.1f}")
        _write("")
        _write(f"Cached hits, ?w=320 of a {len(source)} byte JPEG (load {harness._load()})")
        results = [
            cached_hits(path, token, access, source, args)
            for path, token, access in projects.values()
        ]
        _write(harness._table(results))
        _write(f"ratio s3/local: {results[1].rps / results[0].rps:.2f} (goal >= 0.8)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
