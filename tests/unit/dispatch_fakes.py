"""Fakes for webhook deliveries: a settable clock, a scripted sender, a table resolver."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import msgspec

from flextype_core.delivery import Message, Outcome

__all__ = ["Answer", "FakeClock", "FakeResolver", "FakeSender", "Sent"]

Answer = int | Outcome | Callable[[], int | Outcome]
"""A scripted answer: a status, an outcome, or what computes one at send time."""


class FakeClock:
    """Unix time in seconds that moves only when told."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Sent(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    message: Message


class FakeSender:
    """WebhookSender that answers from a script per URL (then 200) and keeps what it was sent.

    A script entry is a status code, an ``Outcome``, or a callable run at send time that
    returns one of those (to act in the middle of a delivery).
    """

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self._scripts: dict[str, list[Answer]] = {}
        self._lock = threading.Lock()

    def script(self, url: str, answers: Iterable[Answer]) -> None:
        with self._lock:
            self._scripts.setdefault(url, []).extend(answers)

    def send(self, url: str, message: Message) -> Outcome:
        with self._lock:
            self.sent.append(Sent(url=url, message=message))
            queue = self._scripts.get(url, [])
            answer = queue.pop(0) if queue else 200
        if callable(answer):
            answer = answer()
        if isinstance(answer, Outcome):
            return answer
        return Outcome(status=answer, duration_ms=3.0)

    def bodies(self, url: str | None = None) -> list[dict[str, object]]:
        return [
            msgspec.json.decode(s.message.body, type=dict[str, object])
            for s in self.sent
            if url is None or s.url == url
        ]


class FakeResolver:
    """HostResolver over a table; counts the look-ups of each host."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: dict[str, int] = {}

    def resolve(self, host: str, port: int) -> list[str]:
        self.lookups[host] = self.lookups.get(host, 0) + 1
        if host not in self.table:
            raise OSError(f"{host}: Name or service not known")
        return list(self.table[host])
