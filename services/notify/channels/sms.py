"""SMS through an HTTP provider in Twilio's REST shape.

`POST {api}/2010-04-01/Accounts/{sid}/Messages.json`, form-encoded `To`, `From`, `Body`, HTTP
basic authentication with the account sid and auth token; 201 with the message `sid` on
success, a JSON error (`code`, `message`) otherwise.
"""

from __future__ import annotations

import httpx

from services.notify.channels import DeliveryResult, OutgoingMessage, http_refusal


class HttpSmsChannel:
    """Sends each message as one provider API call within a timeout."""

    name = "sms"

    def __init__(
        self,
        *,
        api_url: str,
        account_sid: str,
        auth_token: str,
        sender: str,
        timeout_s: float,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._url = f"{api_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._auth = httpx.BasicAuth(account_sid, auth_token)
        self._sender = sender
        self._timeout = httpx.Timeout(timeout_s)
        self._client = client

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        """One API call; 2xx accepted, 4xx refused for good (bad number...), else retried."""
        form = {"To": message.to, "From": self._sender, "Body": message.text}
        try:
            if self._client is not None:
                response = await self._client.post(
                    self._url, data=form, auth=self._auth, timeout=self._timeout
                )
            else:
                async with httpx.AsyncClient(timeout=self._timeout) as client:
                    response = await client.post(self._url, data=form, auth=self._auth)
        except httpx.HTTPError as exc:
            return DeliveryResult.refused(f"{type(exc).__name__}: {exc}")
        answer = _answer(response)
        if response.is_success:
            reference = None
            try:
                reference = response.json().get("sid")
            except ValueError:
                pass
            return DeliveryResult.accepted(
                f"HTTP {response.status_code}: {answer}", reference=reference
            )
        return http_refusal(response.status_code, answer)


def _answer(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        parts = [f"{k}={body[k]}" for k in ("status", "code", "message") if k in body]
        return " ".join(parts) or response.text[:200]
    return response.text[:200]
