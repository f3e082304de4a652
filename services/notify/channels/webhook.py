"""Webhooks: one CloudEvent per POST, structured JSON mode, signed for the receiver."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from services.notify import webhook_targets
from services.notify.channels import DeliveryResult, OutgoingMessage, http_refusal
from services.notify.signing import DELIVERY_HEADER, signed_headers
from shared.clock import Clock

CLOUDEVENTS_JSON = "application/cloudevents+json"


class WebhookChannel:
    """POSTs the event (the message text) to the subscription's URL, signed with its secret."""

    name = "webhook"

    def __init__(
        self,
        *,
        clock: Clock,
        timeout_s: float,
        client: httpx.AsyncClient | None = None,
        allowed_targets: Sequence[str] = (),
    ) -> None:
        self._clock = clock
        self.allowed_targets = tuple(allowed_targets)  # internal hosts the operator allows
        self._timeout = httpx.Timeout(timeout_s)
        self._client = client

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        """2xx accepted; 4xx (but 408/409/425/429) refused for good; outages retried."""
        if not message.secret:
            return DeliveryResult.refused("subscription has no secret", permanent=True)
        body = message.text.encode()
        # The signature covers the time of this attempt, so a retry is signed afresh.
        timestamp = int(self._clock.now().timestamp())
        headers = {
            "content-type": CLOUDEVENTS_JSON,
            DELIVERY_HEADER: message.delivery_id,
            **signed_headers(message.secret, timestamp, body),
        }
        try:  # resolved and checked now, and connected to that very address (Security #7)
            target = await webhook_targets.pin(message.to, self.allowed_targets)
        except webhook_targets.Unresolvable as exc:
            return DeliveryResult.refused(str(exc))  # retried: DNS may answer later
        except webhook_targets.TargetRefused as exc:
            return DeliveryResult.refused(str(exc), permanent=True)
        headers["host"] = target.host
        extensions = {"sni_hostname": target.host.rsplit(":", 1)[0].strip("[]")}
        try:
            if self._client is not None:
                response = await self._client.post(
                    target.url,
                    content=body,
                    headers=headers,
                    timeout=self._timeout,
                    extensions=extensions,
                )
            else:
                async with httpx.AsyncClient(
                    timeout=self._timeout, follow_redirects=False
                ) as client:
                    response = await client.post(
                        target.url, content=body, headers=headers, extensions=extensions
                    )
        except httpx.HTTPError as exc:
            return DeliveryResult.refused(f"{type(exc).__name__}: {exc}")
        answer = response.text[:200]
        if response.is_success:
            return DeliveryResult.accepted(f"HTTP {response.status_code}")
        return http_refusal(response.status_code, answer)
