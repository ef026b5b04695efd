"""The Webhooks API: webhooks a user manages, their delivery logs, and replays of the feed."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, delete, get, patch, post
from litestar.di import NamedDependency

from flextype_core import PageMeta
from flextype_entrypoints.http.answers import data_answer, payload_answer
from flextype_entrypoints.http.apidoc import ApiDoc
from flextype_entrypoints.http.bodies import (
    WebhookCreate,
    WebhookDelete,
    WebhookReplay,
    WebhookUpdate,
)
from flextype_entrypoints.http.deps import ApiCall, written
from flextype_entrypoints.http.params import is_truthy
from flextype_entrypoints.http.responses import Data

__all__ = ["WebhooksController"]

_API = "webhooks"


class WebhooksController(Controller):
    path = "/webhooks"
    tags = ["Webhooks"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(
        "/",
        sync_to_thread=True,
        summary="Fetch a webhook, or the list of webhooks",
        doc=ApiDoc(query=("id", "options"), answer="Webhooks", errors=(404,), etag=True),
    )
    def fetch_webhook(self, call: NamedDependency[ApiCall]) -> Response[Any]:
        """The webhook `id`, or with `options[collection]=true` every webhook, oldest first.

        Never a secret: it is shown once, in the answer of the create.
        """
        call.authorize(_API, write=False)
        if is_truthy(call.params.options().get("collection")):
            listed = call.webhooks.list()
            payload = Data(data=listed, meta=PageMeta(total=len(listed), offset=0, limit=None))
            return call.respond(payload_answer(payload))
        hook = call.webhooks.fetch(call.params.text("id"))
        return call.respond(data_answer(hook))

    @post(
        "/",
        status_code=200,
        sync_to_thread=True,
        summary="Create a webhook",
        doc=ApiDoc(body=WebhookCreate, answer="CreatedWebhook", errors=(422,)),
    )
    def create_webhook(self, call: NamedDependency[ApiCall]) -> Data:
        """Create a webhook from `data`; the answer shows its signing `secret`, this once.

        `url` (http or https) and `events` (some of `entry.created`, `entry.updated`,
        `entry.moved`, `entry.copied`, `entry.deleted`, `media.created`, `media.updated`,
        `media.moved`, `media.copied`, `media.deleted`, or `["*"]`) are required;
        `id_prefix` sends only changes at or below that id; `state` is `enabled`
        (default) or `disabled`. It gets the changes made after it is created. A URL
        whose host resolves to a loopback, private, link-local or multicast address is
        422 unless `webhooks.allow_private_networks` is true; so is a host that does not
        resolve.
        """
        call.authorize(_API, write=True)
        body = call.read(WebhookCreate)
        return Data(data=call.webhooks.create(body.data))

    @patch(
        "/",
        sync_to_thread=True,
        summary="Update a webhook",
        doc=ApiDoc(body=WebhookUpdate, answer="Webhook", errors=(404, 422), etag=True),
    )
    def update_webhook(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        """Change the webhook's url, events, id_prefix, title or state.

        `state` may be `enabled` or `disabled`; `failing` is set by the delivery after
        its last retry, and setting `enabled` again resumes where it stopped. A new `url`
        is checked as at create.
        """
        call.authorize(_API, write=True)
        body = call.read(WebhookUpdate)
        return written(call.webhooks.update(body.id, body.data))

    @delete(
        "/",
        sync_to_thread=True,
        summary="Delete a webhook",
        doc=ApiDoc(body=WebhookDelete, errors=(404,)),
    )
    def delete_webhook(self, call: NamedDependency[ApiCall]) -> None:
        """Delete the webhook `id` and its delivery log; 204 with no body."""
        call.authorize(_API, write=True)
        call.webhooks.delete(call.read(WebhookDelete).id)

    @get(
        "/deliveries",
        sync_to_thread=True,
        summary="The last delivery attempts of a webhook",
        doc=ApiDoc(query=("id",), answer="Deliveries", errors=(404,), etag=True),
    )
    def fetch_deliveries(self, call: NamedDependency[ApiCall]) -> Response[Any]:
        """The webhook's last 100 delivery attempts, newest first.

        Each names the change's `cursor`, its `event`, the `webhook-id` sent
        (`message_id`), the `attempt` (1 for the first), the receiver's `status` or an
        `error`, `duration_ms`, when it was made (`at`) and when the next attempt is due
        (`next_retry_at`, null when none).
        """
        call.authorize(_API, write=False)
        payload = Data(data=call.webhooks.deliveries(call.params.text("id")))
        return call.respond(payload_answer(payload))

    @post(
        "/replay",
        status_code=200,
        sync_to_thread=True,
        summary="Restart a webhook's deliveries from a change cursor",
        doc=ApiDoc(body=WebhookReplay, answer="Webhook", errors=(404, 410)),
    )
    def replay_webhook(self, call: NamedDependency[ApiCall]) -> Data:
        """Deliver again every change after the cursor `since`, in order; answer the webhook.

        `since` is a cursor of the change feed (a change's `cursor`, `meta.next`), or
        `now` to skip what was not delivered yet. Failed attempts are forgotten. A cursor
        of another change log, or older than it keeps, is 410 `ResyncRequired`.
        """
        call.authorize(_API, write=True)
        body = call.read(WebhookReplay)
        return Data(data=call.webhooks.replay(body.id, body.since))
