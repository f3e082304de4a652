"""Refusals a service's rules decide, and how each is answered: one error path.

A domain module raises a `DomainError` subclass; the HTTP shell every service shares
(`shared.http.install_problem_handlers`, installed by `create_service_app`) answers every one
as RFC 9457 problem details, in that one place. No framework import here: pure domain code
raises these.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal answered as problem details: the class names the HTTP `status` and the
    `title`; an instance gives the `detail` and, for a bad value, the `field` at fault
    (answered as `errors`). Subclasses add members (`problem_extra`) or headers."""

    status: int = 400
    title: str = "Refused"
    type: str = "about:blank"

    def __init__(self, detail: str | None = None, *, field: str | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.field = field

    def problem_extra(self) -> dict[str, Any]:
        """Members of the answer besides type, title, status, detail and instance."""
        if self.field is None:
            return {}
        return {"errors": [{"field": self.field, "message": self.detail or self.title}]}

    def problem_headers(self) -> dict[str, str]:
        """Response headers of the answer (e.g. `Retry-After`)."""
        return {}


class TransientError(RuntimeError):
    """A failure that passes by itself (a peer not ready, contention): the consumer retries
    the event for as long as it lasts and never parks it (shared/messaging/transient.py)."""


class ChangedMeanwhile(DomainError, TransientError):
    """The record kept changing under this writer through every attempt of
    `shared.aggregates.load_decide_save`: contention passes by itself. A route answers 409
    (try again); a consumer retries the event as transient, never parks it."""

    status, title = 409, "Changed meanwhile"

    def __init__(self, record_id: str, detail: str | None = None) -> None:
        super().__init__(detail or "This record is changing too often right now; try again.")
        self.record_id = record_id


class Problem(DomainError):
    """A refusal of the HTTP layer itself (a missing token, a route's own check), its status
    and title given where it is raised; answered as every `DomainError` is."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        self.status = status
        self.title = title
        self.type = type_
        super().__init__(detail)
        self.headers = headers or {}
        self.extra = extra

    def problem_extra(self) -> dict[str, Any]:
        return self.extra

    def problem_headers(self) -> dict[str, str]:
        return self.headers
