"""Notify's HTTP API: deliveries of a concern, templates, subscriptions, surveys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from services.notify import surveys, webhook_targets
from services.notify.audience import sample_values
from services.notify.context import NotifyContext
from services.notify.domain import (
    ChannelName,
    DeliveryStatus,
    Kind,
    mask_address,
    provider_summary,
)
from services.notify.repository import SURVEYS, Delivery, StoredTemplate, Subscription
from services.notify.schemas import (
    AttemptRead,
    DeliveryRead,
    SubscriptionCreate,
    SubscriptionRead,
    SurveyAnswer,
    SurveyAnswerRead,
    SurveyRead,
    TemplatePreview,
    TemplatePreviewRead,
    TemplateRead,
    TemplateUpdate,
)
from services.notify.templates import (
    TEMPLATED_CHANNELS,
    TEMPLATED_KINDS,
    MessageTemplate,
    render,
    validate,
)
from shared.authz import Access, Permission
from shared.events import SurveyAnswered, envelopes
from shared.http import Problem, authorize, out_of_scope, service_context

router = APIRouter(prefix="/v1")
Ctx = Annotated[NotifyContext, Depends(service_context)]
Reader = Annotated[Access, Depends(authorize(Permission.CONCERN_READ))]
ConfigReader = Annotated[Access, Depends(authorize(Permission.CONFIG_READ))]
ConfigWriter = Annotated[Access, Depends(authorize(Permission.CONFIG_WRITE))]


# --- deliveries ---------------------------------------------------------------------------


def _read(delivery: Delivery) -> DeliveryRead:
    return DeliveryRead(
        id=delivery.id,
        kind=delivery.kind,
        channel=delivery.channel,
        recipient=delivery.recipient,
        status=delivery.status,
        attempts=delivery.attempts,
        address=mask_address(delivery.address) if delivery.address else None,
        language=delivery.language,
        created_at=delivery.created_at,
        updated_at=delivery.updated_at,
        next_attempt_at=delivery.next_attempt_at
        if delivery.status is DeliveryStatus.QUEUED
        else None,
        sent_at=delivery.sent_at,
        failed_at=delivery.failed_at,
        # the provider's words stay in the store: they quote addresses (Security #4)
        last_error=provider_summary(delivery.last_error, ok=False) if delivery.last_error else None,
        history=[
            AttemptRead(
                attempt=h.number, at=h.at, ok=h.ok, answer=provider_summary(h.answer, ok=h.ok)
            )
            for h in delivery.history
        ],
    )


@router.get(
    "/concerns/{concern_id}/deliveries", response_model=list[DeliveryRead], tags=["deliveries"]
)
async def list_deliveries(concern_id: str, ctx: Ctx, who: Reader) -> list[DeliveryRead]:
    """Every notification of a concern, oldest first (empty until notify has heard of it).
    A principal, assistant superintendent or team member sees those of its schools or teams
    (known once triage has routed the concern), and its assignee those of the concerns
    assigned to them (a backup from another team)."""
    deliveries = await ctx.repo.for_concern(concern_id)
    if deliveries and not who.everything:
        facts = await ctx.concerns.get(concern_id)
        if facts is None or not who.covers_concern(
            school_id=facts.school_id, team_id=facts.team_id, assignee_id=facts.assignee_id
        ):
            raise out_of_scope()
    return [_read(d) for d in deliveries]


# --- templates ----------------------------------------------------------------------------

Language = Annotated[str, Path(pattern=r"^[a-z]{2,3}$", description="e.g. `en`, `es`, `vi`")]


def _template_read(stored: StoredTemplate) -> TemplateRead:
    t = stored.template
    return TemplateRead(
        kind=t.kind,
        channel=t.channel,
        language=t.language,
        subject=t.subject,
        body=t.body,
        updated_at=stored.updated_at,
        origin="admin" if stored.origin == "admin" else "seed",
    )


@router.get("/templates", response_model=list[TemplateRead], tags=["templates"])
async def list_templates(ctx: Ctx, who: ConfigReader) -> list[TemplateRead]:
    """Every stored template."""
    return [_template_read(t) for t in await ctx.templates.all()]


@router.get(
    "/templates/{kind}/{channel}/{language}", response_model=TemplateRead, tags=["templates"]
)
async def get_template(
    kind: Kind, channel: ChannelName, language: Language, ctx: Ctx, who: ConfigReader
) -> TemplateRead:
    """One template; 404 when the language has none (messages then fall back to English)."""
    stored = await ctx.templates.get(kind, channel, language)
    if stored is None:
        raise Problem(
            404,
            "Template not found",
            f"No {kind.value} template for {channel.value} in {language}; English is used then.",
        )
    return _template_read(stored)


def _renderable(
    kind: Kind,
    channel: ChannelName,
    language: str,
    subject: str | None,
    body: str,
    ctx: NotifyContext,
) -> MessageTemplate:
    """The template these texts make; a 422 problem naming each field that fails to render."""
    if kind not in TEMPLATED_KINDS or channel not in TEMPLATED_CHANNELS:
        field = "kind" if kind not in TEMPLATED_KINDS else "channel"
        raise Problem(
            422,
            "No templates here",
            f"{kind.value} messages by {channel.value} are not written from templates",
            errors=[{"field": field, "message": "has no templates"}],
        )
    template = MessageTemplate(
        kind=kind, channel=channel, language=language, subject=subject, body=body
    )
    problems = validate(template, sms_max_segments=ctx.config.sms_max_segments)
    if problems:
        raise Problem(
            422,
            "Template does not render",
            "; ".join(str(p) for p in problems),
            errors=[{"field": p.field, "message": p.message} for p in problems],
        )
    return template


@router.put(
    "/templates/{kind}/{channel}/{language}", response_model=TemplateRead, tags=["templates"]
)
async def put_template(
    kind: Kind,
    channel: ChannelName,
    language: Language,
    body: TemplateUpdate,
    ctx: Ctx,
    who: ConfigWriter,
) -> TemplateRead:
    """Store a template after rendering it with sample values; 422 names what fails."""
    template = _renderable(kind, channel, language, body.subject, body.body, ctx)
    return _template_read(await ctx.templates.put(template, ctx.clock.now()))


@router.post("/templates/preview", response_model=TemplatePreviewRead, tags=["templates"])
async def preview_template(
    body: TemplatePreview, ctx: Ctx, who: ConfigWriter
) -> TemplatePreviewRead:
    """A template's text as a message in its language with sample values (dates, roles and
    targets in that language's words); nothing is stored. 422 names what fails, as saving
    would."""
    template = _renderable(body.kind, body.channel, body.language, body.subject, body.body, ctx)
    rendered = render(template, sample_values(body.language, ctx.district))
    return TemplatePreviewRead(
        language=rendered.language,
        subject=rendered.subject if body.channel is ChannelName.EMAIL else None,
        text=rendered.text,
    )


# --- subscriptions ------------------------------------------------------------------------


def _subscription_read(s: Subscription) -> SubscriptionRead:
    return SubscriptionRead(
        id=s.id,
        url=webhook_targets.shown(s.url),
        event_types=list(s.event_types),
        created_at=s.created_at,
    )


@router.post(
    "/subscriptions", response_model=SubscriptionRead, status_code=201, tags=["subscriptions"]
)
async def create_subscription(
    body: SubscriptionCreate, ctx: Ctx, who: ConfigWriter
) -> SubscriptionRead:
    """Register a district system for signed CloudEvents webhooks of public events; an
    internal address (loopback, private, link-local) is refused unless the operator allows
    it (WEBHOOK_ALLOWED_TARGETS)."""
    channel = ctx.channels.get(ChannelName.WEBHOOK)
    try:
        await webhook_targets.resolve(body.url, getattr(channel, "allowed_targets", ()))
    except webhook_targets.Unresolvable:
        pass  # not resolvable from here now: checked again at each delivery
    except webhook_targets.TargetRefused as exc:
        raise Problem(
            422, "Invalid request", str(exc), errors=[{"field": "url", "message": str(exc)}]
        ) from None
    created = await ctx.subscriptions.create(
        url=body.url, event_types=body.event_types, secret=body.secret, now=ctx.clock.now()
    )
    return _subscription_read(created)


@router.get("/subscriptions", response_model=list[SubscriptionRead], tags=["subscriptions"])
async def list_subscriptions(ctx: Ctx, who: ConfigReader) -> list[SubscriptionRead]:
    """Every subscription (secrets are never shown)."""
    return [_subscription_read(s) for s in await ctx.subscriptions.all()]


@router.get(
    "/subscriptions/{subscription_id}", response_model=SubscriptionRead, tags=["subscriptions"]
)
async def get_subscription(subscription_id: str, ctx: Ctx, who: ConfigReader) -> SubscriptionRead:
    """One subscription."""
    found = await ctx.subscriptions.get(subscription_id)
    if found is None:
        raise Problem(404, "Subscription not found")
    return _subscription_read(found)


@router.delete("/subscriptions/{subscription_id}", status_code=204, tags=["subscriptions"])
async def delete_subscription(subscription_id: str, ctx: Ctx, who: ConfigWriter) -> Response:
    """Stop sending to a subscription; its pending webhooks fail as `subscription was deleted`."""
    if not await ctx.subscriptions.delete(subscription_id):
        raise Problem(404, "Subscription not found")
    return Response(status_code=204)


# --- survey -------------------------------------------------------------------------------

Token = Annotated[str, Path(min_length=20, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


async def _survey_or_problem(token: str, ctx: NotifyContext) -> surveys.SurveyState:
    found = await ctx.surveys.by_token_hash(surveys.token_hash(token))
    if found is None:
        raise Problem(404, "Survey not found", "This survey link is not valid.")
    return surveys.state(
        answered=found.answered_at is not None, expires=found.expires_at, now=ctx.clock.now()
    )


@router.get("/surveys/{token}", response_model=SurveyRead, tags=["surveys"])
async def get_survey(token: Token, ctx: Ctx) -> SurveyRead:
    """The question of a survey link, in the requester's language; 410 once it expired."""
    found = await ctx.surveys.by_token_hash(surveys.token_hash(token))
    if found is None:
        raise Problem(404, "Survey not found", "This survey link is not valid.")
    state = surveys.state(
        answered=found.answered_at is not None, expires=found.expires_at, now=ctx.clock.now()
    )
    if state is surveys.SurveyState.EXPIRED:
        raise Problem(410, "Survey expired", "Surveys can be answered for 30 days.")
    question, scale = surveys.question(found.language)
    return SurveyRead(
        question=question,
        scale=scale,
        language=found.language,
        status=state,
        expires_at=found.expires_at,
    )


@router.post("/surveys/{token}", response_model=SurveyAnswerRead, status_code=201, tags=["surveys"])
async def answer_survey(token: Token, body: SurveyAnswer, ctx: Ctx) -> SurveyAnswerRead:
    """One answer per concern: 409 for a second one, 410 after 30 days."""
    now = ctx.clock.now()
    found = await ctx.surveys.by_token_hash(surveys.token_hash(token))
    if found is None:
        raise Problem(404, "Survey not found", "This survey link is not valid.")
    comment = (body.comment or "").strip() or None
    answered = SurveyAnswered(
        concern_id=found.concern_id,
        score=body.score,
        answered_at=now,
        has_comment=comment is not None,
    )
    saved = await ctx.surveys.answer(
        token_hash=surveys.token_hash(token),
        score=body.score,
        comment=comment,
        now=now,
        events=envelopes([answered], source=ctx.source, time=now),
    )
    if saved is None:
        state = await _survey_or_problem(token, ctx)
        if state is surveys.SurveyState.ANSWERED:
            raise Problem(409, "Survey already answered", "Each concern takes one answer.")
        raise Problem(410, "Survey expired", "Surveys can be answered for 30 days.")
    ctx.published(SURVEYS)
    return SurveyAnswerRead(status=surveys.SurveyState.ANSWERED, answered_at=now)
