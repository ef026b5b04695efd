"""Webhooks and their delivery records as stored rows (msgspec JSON), for every store."""

from __future__ import annotations

from typing import Any

import msgspec

from flextype_core.errors import StorageError, shown
from flextype_core.webhook_port import Delivery, Progress, Webhook

__all__ = ["ENCODER", "delivery_of", "progress_of", "webhook_of"]

ENCODER = msgspec.json.Encoder()
_WEBHOOK = msgspec.json.Decoder(Webhook)
_DELIVERY = msgspec.json.Decoder(Delivery)


def webhook_of(webhook_id: str, body: bytes) -> Webhook:
    """Decode a stored webhook; a damaged one is a StorageError naming it."""
    try:
        return _WEBHOOK.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageError(f"Webhook {shown(webhook_id)} cannot be read: damaged row.") from exc


def delivery_of(webhook_id: str, body: bytes) -> Delivery:
    """Decode a stored delivery record; a damaged one is a StorageError naming its webhook."""
    try:
        return _DELIVERY.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageError(
            f"A delivery of webhook {shown(webhook_id)} cannot be read: damaged row."
        ) from exc


def progress_of(row: tuple[Any, ...]) -> Progress:
    """A webhook's progress from its (position, attempt, next_at, generation) columns."""
    position, attempt, next_at, generation = row
    return Progress(
        position=int(position),
        attempt=int(attempt),
        next_at=None if next_at is None else float(next_at),
        generation=int(generation),
    )
