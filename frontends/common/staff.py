"""A typed async client of the staff side of the four services, as the staff console calls it.

Every call carries the signed-in staff member's own bearer token (passed per call), so the
services decide what this person may see and do; the console only hides what they may not.

- intake: work queue, the case (with its version for `If-Match`), the case actions, a concern
  taken on the phone or at the front desk;
- triage: teams, members, re-triage (with the decision's version for `If-Match`), routing
  rules and safety words;
- escalation: the SLA clock of a case, the Ombudsperson's view;
- notify: the message templates, the webhook subscriptions of district systems.

Errors are those of `frontends.common.intake` (problem details as `IntakeError` subclasses;
a stale `If-Match` is `StaleCase`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from frontends.common.intake import IntakeError, IntakeNotFound, parse, send
from frontends.common.settings import FrontendSettings
from services.escalation.policies import Policy
from services.escalation.schemas import ClockRead, OmbudspersonCaseRead
from services.intake.attachment_schemas import AttachmentRead
from services.intake.contact_schemas import ContactAccessRead, ContactRevealRead
from services.intake.schemas import (
    ConcernCounts,
    ConcernPage,
    ConcernRead,
    ConcernReceipt,
    DisclosureRecord,
    StudentRevealRead,
)
from services.notify.schemas import (
    PUBLIC_EVENTS,
    DeliveryRead,
    SubscriptionRead,
    TemplatePreviewRead,
    TemplateRead,
)
from services.triage.schemas import (
    DecisionRead,
    DryRunRead,
    HandoverRead,
    MemberRead,
    RuleRead,
    SafetyWordsRead,
    TeamRead,
)

__all__ = [
    "ACTIONS",
    "PUBLIC_EVENTS",
    "AttachmentRead",
    "ClockRead",
    "ConcernCounts",
    "ConcernPage",
    "ConcernRead",
    "ConcernReceipt",
    "ContactAccessRead",
    "ContactRevealRead",
    "DecisionRead",
    "DeliveryRead",
    "DisclosureRecord",
    "DryRunRead",
    "HandoverRead",
    "MemberRead",
    "OmbudspersonCaseRead",
    "Policy",
    "RuleRead",
    "SafetyWordsRead",
    "StaffClient",
    "StaleCase",
    "StudentRevealRead",
    "SubscriptionRead",
    "TeamRead",
    "TemplatePreviewRead",
    "TemplateRead",
]

# The case actions of intake, by the path segment under /v1/concerns/{id}/.
ACTIONS = frozenset(
    {
        "acknowledge",
        "request-information",
        "resume",
        "replies",
        "notes",
        "callbacks",
        "resolve",
        "reopen",
        "close",
        "merge",
    }
)
# Making or calling off one callback: its id is a uuid intake gave it.
CALLBACK_ACTION = re.compile(r"callbacks/[0-9a-f-]{1,64}/(complete|cancel)")
M = TypeVar("M", bound=BaseModel)


class StaleCase(IntakeError):
    """412: someone changed the case since this page read it."""


class StaffClient:
    """The services' staff APIs for one frontend process (pooled connections per service)."""

    def __init__(
        self,
        urls: Mapping[str, str],
        *,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = {
            name: httpx.AsyncClient(
                base_url=url.rstrip("/"), timeout=timeout_s, transport=transport
            )
            for name, url in urls.items()
        }

    @classmethod
    def from_settings(
        cls, settings: FrontendSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> StaffClient:
        urls = {
            "intake": settings.intake_url,
            "triage": settings.triage_url,
            "escalation": settings.escalation_url,
            "notify": settings.notify_url,
        }
        return cls(urls, timeout_s=settings.io_timeout_s, transport=transport)

    async def aclose(self) -> None:
        for client in self._http.values():
            await client.aclose()

    async def _call(
        self,
        service: str,
        method: str,
        path: str,
        token: str,
        *,
        json: Any = None,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        sent = {"Authorization": f"Bearer {token}", **(headers or {})}
        try:
            return await send(
                self._http[service],
                method,
                path,
                service=service,
                json=json,
                params=params,
                headers=sent,
            )
        except IntakeError as error:
            if error.status == 412:
                raise StaleCase(412, error.title, error.detail) from None
            raise

    @staticmethod
    def _parse(model: type[M] | TypeAdapter[Any], response: httpx.Response) -> Any:
        return parse(model, response, service="A service")

    # --- intake ---------------------------------------------------------------------------

    async def concerns(self, token: str, filters: Mapping[str, Any]) -> ConcernPage:
        """A page of the work queue (intake's filters; most urgent first by default)."""
        params = {k: v for k, v in filters.items() if v not in (None, "", [])}
        page: ConcernPage = self._parse(
            ConcernPage, await self._call("intake", "GET", "/v1/concerns", token, params=params)
        )
        return page

    async def counts(self, token: str, filters: Mapping[str, Any]) -> ConcernCounts:
        """How many concerns within reach match (intake's counts' filters), by status, and
        how many are overdue."""
        params = {k: v for k, v in filters.items() if v not in (None, "", [])}
        response = await self._call("intake", "GET", "/v1/concerns/counts", token, params=params)
        counts: ConcernCounts = self._parse(ConcernCounts, response)
        return counts

    async def concern(self, token: str, concern_id: str) -> ConcernRead:
        """The case; its `version` goes back in `If-Match` with the next action."""
        response = await self._call("intake", "GET", f"/v1/concerns/{_id(concern_id)}", token)
        case: ConcernRead = self._parse(ConcernRead, response)
        return case

    async def act(
        self,
        token: str,
        concern_id: str,
        action: str,
        body: Mapping[str, Any] | None,
        *,
        version: int,
    ) -> ConcernRead:
        """One case action (`ACTIONS`, or `callbacks/<id>/complete|cancel`), refused with
        `StaleCase` if the case moved on."""
        if action not in ACTIONS and not CALLBACK_ACTION.fullmatch(action):
            raise ValueError(f"unknown action {action!r}")
        response = await self._call(
            "intake",
            "POST",
            f"/v1/concerns/{_id(concern_id)}/{action}",
            token,
            json=dict(body) if body else None,
            headers={"If-Match": f'"{version}"'},
        )
        case: ConcernRead = self._parse(ConcernRead, response)
        return case

    async def take_concern(
        self, token: str, body: Mapping[str, Any], *, idempotency_key: str
    ) -> ConcernReceipt:
        """A concern an agent takes on the phone or at the front desk, in their own name."""
        response = await self._call(
            "intake",
            "POST",
            "/v1/concerns",
            token,
            json=dict(body),
            headers={"Idempotency-Key": idempotency_key},
        )
        receipt: ConcernReceipt = self._parse(ConcernReceipt, response)
        return receipt

    async def requester_search(
        self,
        token: str,
        reason: str,
        *,
        requester: str | None = None,
        concern_id: str | None = None,
    ) -> ConcernPage:
        """A family's concerns within this person's reach, by their email or phone (posted,
        never in a URL), or the other concerns of one concern's requester; intake records the
        search on each concern found."""
        body = {"requester": requester} if requester else {"concern_id": _id(concern_id or "")}
        response = await self._call(
            "intake",
            "POST",
            "/v1/concerns/requester-search",
            token,
            json={**body, "reason": reason},
        )
        page: ConcernPage = self._parse(ConcernPage, response)
        return page

    async def reveal_student(self, token: str, concern_id: str, reason: str) -> StudentRevealRead:
        """The student's information in full; intake records who, when and why."""
        revealed: StudentRevealRead = await self._reveal(
            token, concern_id, "student", reason, StudentRevealRead
        )
        return revealed

    async def reveal_contact(self, token: str, concern_id: str, reason: str) -> ContactRevealRead:
        """The requester's name, email and phone, to call them back; intake records who, when
        and why before it answers."""
        contact: ContactRevealRead = await self._reveal(
            token, concern_id, "requester", reason, ContactRevealRead
        )
        return contact

    async def _reveal(
        self, token: str, concern_id: str, what: str, reason: str, model: type[M]
    ) -> M:
        """What intake keeps apart on a concern (`student`, `requester`), shown with a reason
        it records first."""
        response = await self._call(
            "intake",
            "POST",
            f"/v1/concerns/{_id(concern_id)}/{what}/reveal",
            token,
            json={"reason": reason},
        )
        revealed: M = self._parse(model, response)
        return revealed

    async def contact_accesses(self, token: str, concern_id: str) -> list[ContactAccessRead]:
        """Every look at the family's contact and every search that found the case by it,
        oldest first (who, when, why), for auditors and the Ombudsperson."""
        response = await self._call(
            "intake", "GET", f"/v1/concerns/{_id(concern_id)}/requester/accesses", token
        )
        accesses: list[ContactAccessRead] = self._parse(
            TypeAdapter(list[ContactAccessRead]), response
        )
        return accesses

    async def attachments(self, token: str, concern_id: str) -> list[AttachmentRead]:
        """The files the family sent with the concern, oldest first."""
        response = await self._call(
            "intake", "GET", f"/v1/concerns/{_id(concern_id)}/attachments", token
        )
        found: list[AttachmentRead] = self._parse(TypeAdapter(list[AttachmentRead]), response)
        return found

    async def attachment(
        self, token: str, concern_id: str, attachment_id: str
    ) -> tuple[bytes, str, str]:
        """One attached file as intake serves it: its bytes, content type and
        Content-Disposition (a download, under its stored name)."""
        response = await self._call(
            "intake",
            "GET",
            f"/v1/concerns/{_id(concern_id)}/attachments/{_id(attachment_id)}",
            token,
        )
        return (
            response.content,
            response.headers.get("content-type", "application/octet-stream"),
            response.headers.get("content-disposition", "attachment"),
        )

    async def student_record(self, token: str, student_id: str) -> DisclosureRecord:
        """A student's record of access and disclosures, oldest first (for auditors)."""
        response = await self._call(
            "intake", "GET", f"/v1/students/{quote(student_id, safe='')}/disclosures", token
        )
        record: DisclosureRecord = self._parse(DisclosureRecord, response)
        return record

    # --- triage ---------------------------------------------------------------------------

    async def decision(self, token: str, concern_id: str) -> DecisionRead:
        response = await self._call(
            "triage", "GET", f"/v1/concerns/{_id(concern_id)}/triage", token
        )
        decision: DecisionRead = self._parse(DecisionRead, response)
        return decision

    async def retriage(
        self, token: str, concern_id: str, body: Mapping[str, Any], *, version: int | None
    ) -> DecisionRead:
        """Change category, team, priority or assignee, with a reason; with the decision's
        `version` as read, refused with `StaleCase` if someone changed it since (None: change
        whatever is current, when the page had no decision to read)."""
        response = await self._call(
            "triage",
            "PATCH",
            f"/v1/concerns/{_id(concern_id)}/triage",
            token,
            json=dict(body),
            headers={"If-Match": f'"{version}"'} if version is not None else None,
        )
        decision: DecisionRead = self._parse(DecisionRead, response)
        return decision

    async def teams(self, token: str) -> list[TeamRead]:
        teams: list[TeamRead] = self._parse(
            TypeAdapter(list[TeamRead]), await self._call("triage", "GET", "/v1/teams", token)
        )
        return teams

    async def members(self, token: str) -> list[MemberRead]:
        members: list[MemberRead] = self._parse(
            TypeAdapter(list[MemberRead]), await self._call("triage", "GET", "/v1/members", token)
        )
        return members

    async def set_away(
        self,
        token: str,
        member_id: str,
        *,
        away: bool,
        backup_id: str | None,
        until: str | None,
    ) -> MemberRead:
        """Mark a member away (new concerns go to the backup) or back."""
        body = {"away": away, "backup_id": backup_id, "until": until}
        response = await self._call(
            "triage", "PUT", f"/v1/members/{_id(member_id)}/away", token, json=body
        )
        member: MemberRead = self._parse(MemberRead, response)
        return member

    async def handover(
        self, token: str, member_id: str, *, to: str | None, reason: str | None
    ) -> HandoverRead:
        """Move a member's open concerns to another member (default: their backup)."""
        response = await self._call(
            "triage",
            "POST",
            f"/v1/members/{_id(member_id)}/handover",
            token,
            json={"to": to, "reason": reason},
        )
        handed: HandoverRead = self._parse(HandoverRead, response)
        return handed

    async def rules(self, token: str) -> list[RuleRead]:
        """The routing rules, in the order they are tried."""
        rules: list[RuleRead] = self._parse(
            TypeAdapter(list[RuleRead]), await self._call("triage", "GET", "/v1/rules", token)
        )
        return rules

    async def reorder_rules(self, token: str, order: list[str]) -> None:
        """The routing rules in this order (every rule once)."""
        await self._call("triage", "POST", "/v1/rules/reorder", token, json={"rule_ids": order})

    async def delete_rule(self, token: str, rule_id: str) -> None:
        """Remove one routing rule."""
        await self._call("triage", "DELETE", f"/v1/rules/{quote(rule_id, safe='')}", token)

    async def save_rule(
        self, token: str, rule_id: str, body: Mapping[str, Any], *, new: bool
    ) -> RuleRead:
        """Add a rule (tried last) or replace one's conditions and actions (its place stays)."""
        if new:
            response = await self._call(
                "triage", "POST", "/v1/rules", token, json={"id": rule_id, **body}
            )
        else:
            response = await self._call(
                "triage", "PUT", f"/v1/rules/{_id(rule_id)}", token, json=dict(body)
            )
        rule: RuleRead = self._parse(RuleRead, response)
        return rule

    async def dry_run(self, token: str, body: Mapping[str, Any]) -> DryRunRead:
        """Which rule would route such a concern, and why; changes nothing."""
        response = await self._call("triage", "POST", "/v1/rules/dry-run", token, json=dict(body))
        result: DryRunRead = self._parse(DryRunRead, response)
        return result

    async def safety_words(self, token: str) -> SafetyWordsRead:
        """The words that make a concern critical, and whether an administrator set them."""
        response = await self._call("triage", "GET", "/v1/safety-words", token)
        found: SafetyWordsRead = self._parse(SafetyWordsRead, response)
        return found

    async def save_safety_words(self, token: str, words: list[str]) -> SafetyWordsRead:
        """Replace the safety words (422, `IntakeInvalid`, names a word that cannot match)."""
        response = await self._call(
            "triage", "PUT", "/v1/safety-words", token, json={"words": words}
        )
        saved: SafetyWordsRead = self._parse(SafetyWordsRead, response)
        return saved

    # --- escalation -----------------------------------------------------------------------

    async def clock(self, token: str, concern_id: str) -> ClockRead:
        response = await self._call("escalation", "GET", f"/v1/clocks/{_id(concern_id)}", token)
        clock: ClockRead = self._parse(ClockRead, response)
        return clock

    async def ombudsperson(self, token: str, *, limit: int = 100) -> list[OmbudspersonCaseRead]:
        """Concerns at the last level of the ladder or long overdue, oldest first."""
        response = await self._call(
            "escalation", "GET", "/v1/ombudsperson/concerns", token, params={"limit": limit}
        )
        cases: list[OmbudspersonCaseRead] = self._parse(
            TypeAdapter(list[OmbudspersonCaseRead]), response
        )
        return cases

    async def policies(self, token: str) -> list[Policy]:
        """The SLA policies, the first matching one applies."""
        response = await self._call("escalation", "GET", "/v1/policies", token)
        policies: list[Policy] = self._parse(TypeAdapter(list[Policy]), response)
        return policies

    async def save_policy(self, token: str, policy: Policy) -> Policy:
        """Replace an SLA policy (running clocks keep theirs until re-triaged or reopened)."""
        body = policy.model_dump(mode="json", exclude={"id"})
        response = await self._call(
            "escalation", "PUT", f"/v1/policies/{_id(policy.id)}", token, json=body
        )
        saved: Policy = self._parse(Policy, response)
        return saved

    async def add_policy(self, token: str, policy: Policy) -> Policy:
        """Add an SLA policy (409 if its id exists; 422 naming an unknown category or calendar)."""
        body = policy.model_dump(mode="json")
        response = await self._call("escalation", "POST", "/v1/policies", token, json=body)
        added: Policy = self._parse(Policy, response)
        return added

    async def delete_policy(self, token: str, policy_id: str) -> None:
        """Remove an SLA policy (409 if it is the last catch-all one)."""
        await self._call("escalation", "DELETE", f"/v1/policies/{_id(policy_id)}", token)

    # --- notify -------------------------------------------------------------------------

    async def templates(self, token: str) -> list[TemplateRead]:
        """Every message template (kind, channel, language)."""
        response = await self._call("notify", "GET", "/v1/templates", token)
        found: list[TemplateRead] = self._parse(TypeAdapter(list[TemplateRead]), response)
        return found

    async def save_template(
        self, token: str, key: tuple[str, str, str], *, subject: str | None, body: str
    ) -> TemplateRead:
        """Store a template (notify renders it with sample values first; 422 says why not)."""
        kind, channel, language = (_id(part) for part in key)
        response = await self._call(
            "notify",
            "PUT",
            f"/v1/templates/{kind}/{channel}/{language}",
            token,
            json={"subject": subject, "body": body},
        )
        saved: TemplateRead = self._parse(TemplateRead, response)
        return saved

    async def preview_template(
        self, token: str, key: tuple[str, str, str], *, subject: str | None, body: str
    ) -> TemplatePreviewRead:
        """A template's text as notify writes it in its language with sample values (nothing
        stored); 422 (`IntakeInvalid`) names what does not render."""
        kind, channel, language = key
        response = await self._call(
            "notify",
            "POST",
            "/v1/templates/preview",
            token,
            json={
                "kind": kind,
                "channel": channel,
                "language": language,
                "subject": subject,
                "body": body,
            },
        )
        rendered: TemplatePreviewRead = self._parse(TemplatePreviewRead, response)
        return rendered

    async def deliveries(self, token: str, concern_id: str) -> list[DeliveryRead]:
        """Every message notify sent (or is still trying to send) about the case, oldest
        first: to whom, how, whether it arrived and why not (addresses masked)."""
        response = await self._call(
            "notify", "GET", f"/v1/concerns/{_id(concern_id)}/deliveries", token
        )
        found: list[DeliveryRead] = self._parse(TypeAdapter(list[DeliveryRead]), response)
        return found

    async def subscriptions(self, token: str) -> list[SubscriptionRead]:
        """The webhook subscriptions of district systems (their secrets are never shown)."""
        response = await self._call("notify", "GET", "/v1/subscriptions", token)
        found: list[SubscriptionRead] = self._parse(TypeAdapter(list[SubscriptionRead]), response)
        return found

    async def add_subscription(self, token: str, body: Mapping[str, Any]) -> SubscriptionRead:
        """Send signed webhooks of these public events to a district system's URL."""
        response = await self._call("notify", "POST", "/v1/subscriptions", token, json=dict(body))
        created: SubscriptionRead = self._parse(SubscriptionRead, response)
        return created

    async def delete_subscription(self, token: str, subscription_id: str) -> None:
        """Stop sending to a subscription."""
        await self._call("notify", "DELETE", f"/v1/subscriptions/{_id(subscription_id)}", token)


def _id(concern_id: str) -> str:
    """A concern id as a path segment (ids are ours; anything odd is refused, not sent)."""
    if not concern_id or not all(c.isalnum() or c in "-_" for c in concern_id):
        raise IntakeNotFound(404, "Not found", "No such concern.")
    return concern_id
