"""The access log's masking, by the path as the router reads it (no server needed)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from litestar.types import HTTPRequestEvent, Message, Receive, Scope, Send

from flextype_entrypoints.http.access_log import AccessLog


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _logged(path: str, query: str) -> str:
    logger = logging.getLogger(f"tests.access.{path}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    kept = _Kept()
    logger.addHandler(kept)
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [],
        "client": ("127.0.0.1", 5000),
    }

    async def receive() -> HTTPRequestEvent:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        del message

    asyncio.run(AccessLog(_ok, logger)(scope, receive, send))  # type: ignore[arg-type]
    logger.removeHandler(kept)
    (line,) = kept.lines
    return line


@pytest.mark.parametrize(
    "path",
    [
        "/api/tokens/generate-hash",
        "/api/tokens-generate-hash",
        "/api/v1/tokens-verify-hash",
        "/api/v0/tokens-generate-hash/",
    ],
)
def test_the_strings_and_hashes_of_the_token_helpers_are_masked_under_every_name(
    path: str,
) -> None:
    line = _logged(path, "token=t1&access_token=a1&string=my-password&hash=%242y%2410")
    assert "my-password" not in line
    assert "%242y" not in line
    assert f"{path}?token=***&access_token=***&string=***&hash=***" in line


def test_other_apis_keep_their_ids_and_strings_readable() -> None:
    line = _logged("/api/entries", "id=movies&string=x&token=t1")
    assert "/api/entries?id=movies&string=x&token=***" in line
